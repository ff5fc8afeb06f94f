#!/usr/bin/env bash
# CPU accuracy benchmark on DeepPCB's trainval images, split by board so validation boards are unseen:
#   val   = boards 77000 and 92000 (all 211 images)
#   train = every 4th image of boards 00041, 13000, 20085, 44000, 50600 (about 200 images: a CPU budget)
# then YOLOv8n, every yolo-freq model at the n scale and two FDSA placement variants trained with identical settings
# per seed. Runs already completed under OUT with the same settings are evaluated again, not retrained.
# Usage: examples/bench_deeppcb_cpu.sh [DEEPPCB_TRAINVAL_DIR] [OUT] [EPOCHS] [SEEDS...]
set -euo pipefail
SRC=${1:-../shared/data/DeepPCB-trainval}
OUT=${2:-runs/bench-deeppcb}
EPOCHS=${3:-30}
shift $(( $# < 3 ? $# : 3 )) || true
SEEDS=${*:-0 1}
RAW="$OUT/raw/PCBData"
mkdir -p "$RAW"
for g in "$SRC"/PCBData/group*; do ln -sfn "$(cd "$g" && pwd)" "$RAW/$(basename "$g")"; done
python - "$SRC/PCBData/trainval.txt" "$RAW" <<'PY'
import sys
from pathlib import Path

lines = [l for l in Path(sys.argv[1]).read_text().splitlines() if l.strip()]
val_boards = ("group77000/", "group92000/")
val = [l for l in lines if l.startswith(val_boards)]
train = [l for i, l in enumerate(l for l in lines if not l.startswith(val_boards)) if i % 4 == 0]
Path(sys.argv[2], "trainval.txt").write_text("\n".join(train) + "\n")
Path(sys.argv[2], "test.txt").write_text("\n".join(val) + "\n")
print(f"split by board: {len(train)} train, {len(val)} val images")
PY
yolo-freq convert "$OUT/raw" --format deeppcb --out "$OUT/data" --exist-ok
yolo-freq bench yolov8n.yaml pcb-fs-n.yaml sd-gasnet-n.yaml yolov8-fdsa-n.yaml yolo-freq-n.yaml \
  "$(dirname "$0")/fdsa_placement/yolov8-fdsa-backbone-n.yaml" "$(dirname "$0")/fdsa_placement/yolov8-fdsa-head-n.yaml" \
  --imgsz 320 --runs 10 --out "$OUT" \
  --train --data "$OUT/data/data.yaml" --epochs "$EPOCHS" --train-imgsz 320 --batch 16 --seeds $SEEDS --device cpu
