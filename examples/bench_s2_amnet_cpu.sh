#!/usr/bin/env bash
# S2-AMNet on the CPU: s2-amnet-n and YOLOv8n against YOLO11n (its counterpart: same neck and head), from scratch,
# on the split of the other CPU studies (split_deeppcb_by_board.sh: val = boards 77000 and 92000, 211 images; train =
# every 4th image of the other five boards, 198 images), the inspected images alone. Shares OUT with
# bench_reference_cpu.sh: its YOLOv8n runs on the same data and recipe (named yolov8n-plain-seed<N> there, as that
# study has several datasets) are linked under this study's run names and evaluated, not retrained; `yolo-freq
# bench` checks a linked run's saved settings and architecture before it reuses it.
# Usage: examples/bench_s2_amnet_cpu.sh [DEEPPCB_TRAINVAL_DIR] [OUT] [EPOCHS] [SEEDS...]
set -euo pipefail
SRC=${1:-../shared/data/DeepPCB-trainval}
OUT=${2:-runs/bench-reference}
EPOCHS=${3:-30}
shift $(( $# < 3 ? $# : 3 )) || true
SEEDS=${*:-0 1 2}
"$(dirname "$0")/split_deeppcb_by_board.sh" "$SRC" "$OUT/raw"
yolo-freq convert "$OUT/raw" --format deeppcb --out "$OUT/plain" --exist-ok
mkdir -p "$OUT/runs" "$OUT/s2-amnet"
for s in $SEEDS; do
  if [ -d "$OUT/runs/yolov8n-plain-seed$s" ]; then ln -sfn "yolov8n-plain-seed$s" "$OUT/runs/yolov8n-seed$s"; fi
done
ln -sfn "$(cd "$OUT/runs" && pwd)" "$OUT/s2-amnet/runs"
yolo-freq bench yolo11n.yaml s2-amnet-n.yaml yolov8n.yaml --imgsz 320 --runs 10 --out "$OUT/s2-amnet" \
  --data "$OUT/plain/data.yaml" --train --epochs "$EPOCHS" --train-imgsz 320 --batch 16 --seeds $SEEDS --device cpu --no-val
# Cost beside YOLO11 at 640 px (the target: at most 2x YOLO11 of the same scale on this CPU), with HaarDown's dense
# form in place of the paper's grouped one as a third row (the same YAML, the form argument removed).
sed 's/, "grouped"\]/]/' "$(dirname "$0")/../cfg/models/s2-amnet.yaml" > "$OUT/s2-amnet-dense.yaml"
for scale in n s; do
  yolo-freq bench "yolo11$scale.yaml" "s2-amnet-$scale.yaml" "$OUT/s2-amnet-dense-$scale.yaml" --imgsz 640 --runs 20 \
    --threads 2 --out "$OUT/s2-amnet-cost-$scale"
done
