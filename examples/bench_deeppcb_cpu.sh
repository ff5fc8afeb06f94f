#!/usr/bin/env bash
# CPU accuracy benchmark on DeepPCB's trainval images, split by board so validation boards are unseen
# (split_deeppcb_by_board.sh: val = boards 77000 and 92000, 211 images; train = every 4th image of the other five
# boards, 198 images)
# then YOLOv8n, every yolo-freq model at the n scale and two FDSA placement variants trained with identical settings
# per seed. Runs already completed under OUT with the same settings are evaluated again, not retrained.
# Usage: examples/bench_deeppcb_cpu.sh [DEEPPCB_TRAINVAL_DIR] [OUT] [EPOCHS] [SEEDS...]
set -euo pipefail
SRC=${1:-../shared/data/DeepPCB-trainval}
OUT=${2:-runs/bench-deeppcb}
EPOCHS=${3:-30}
shift $(( $# < 3 ? $# : 3 )) || true
SEEDS=${*:-0 1}
"$(dirname "$0")/split_deeppcb_by_board.sh" "$SRC" "$OUT/raw"
yolo-freq convert "$OUT/raw" --format deeppcb --out "$OUT/data" --exist-ok
yolo-freq bench yolov8n.yaml pcb-fs-n.yaml sd-gasnet-n.yaml yolov8-fdsa-n.yaml yolo-freq-n.yaml \
  "$(dirname "$0")/fdsa_placement/yolov8-fdsa-backbone-n.yaml" "$(dirname "$0")/fdsa_placement/yolov8-fdsa-head-n.yaml" \
  --imgsz 320 --runs 10 --out "$OUT" \
  --train --data "$OUT/data/data.yaml" --epochs "$EPOCHS" --train-imgsz 320 --batch 16 --seeds $SEEDS --device cpu
