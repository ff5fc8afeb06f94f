#!/usr/bin/env bash
# DynaWave-Net on the CPU: dynawave-n (DGAE on P5) and its P4+P5 placement variant against YOLOv8n, from scratch, on
# the split of the other CPU studies (split_deeppcb_by_board.sh: val = boards 77000 and 92000, 211 images; train =
# every 4th image of the other five boards, 198 images), the inspected images alone. Shares OUT with
# bench_reference_cpu.sh: its YOLOv8n runs on the same data and recipe (named yolov8n-plain-seed<N> there, as that
# study has several datasets) are linked under this study's run names and evaluated, not retrained; `yolo-freq
# bench` checks a linked run's saved settings and architecture before it reuses it.
# Usage: examples/bench_dynawave_cpu.sh [DEEPPCB_TRAINVAL_DIR] [OUT] [EPOCHS] [SEEDS...]
set -euo pipefail
SRC=${1:-../shared/data/DeepPCB-trainval}
OUT=${2:-runs/bench-reference}
EPOCHS=${3:-30}
shift $(( $# < 3 ? $# : 3 )) || true
SEEDS=${*:-0 1}
HERE="$(cd "$(dirname "$0")" && pwd)"
"$HERE/split_deeppcb_by_board.sh" "$SRC" "$OUT/raw"
yolo-freq convert "$OUT/raw" --format deeppcb --out "$OUT/plain" --exist-ok
mkdir -p "$OUT/runs" "$OUT/dynawave"
for s in $SEEDS; do
  if [ -d "$OUT/runs/yolov8n-plain-seed$s" ]; then ln -sfn "yolov8n-plain-seed$s" "$OUT/runs/yolov8n-seed$s"; fi
done
ln -sfn "$(cd "$OUT/runs" && pwd)" "$OUT/dynawave/runs"
yolo-freq bench yolov8n.yaml dynawave-n.yaml "$HERE/dynawave_placement/dynawave-p4p5-n.yaml" --imgsz 320 --runs 10 \
  --out "$OUT/dynawave" --data "$OUT/plain/data.yaml" --train --epochs "$EPOCHS" --train-imgsz 320 --batch 16 \
  --seeds $SEEDS --device cpu --no-val
# Cost beside YOLOv8 at 640 px (the target: at most 1.3x YOLOv8 of the same scale on this CPU).
for scale in n s; do
  yolo-freq bench "yolov8$scale.yaml" "dynawave-$scale.yaml" "$HERE/dynawave_placement/dynawave-p4p5-$scale.yaml" \
    --imgsz 640 --runs 20 --threads 2 --out "$OUT/dynawave-cost-$scale"
done
