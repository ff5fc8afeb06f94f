#!/usr/bin/env bash
# The CPU studies' split of DeepPCB's trainval images by board, so that validation boards are never seen in training:
#   val   = boards 77000 and 92000 (all 211 images)
#   train = every 4th image of boards 00041, 13000, 20085, 44000, 50600 (198 images: a CPU budget)
# written as DeepPCB's own raw layout (board folders linked, trainval.txt and test.txt) for `yolo-freq convert`.
# Usage: examples/split_deeppcb_by_board.sh DEEPPCB_TRAINVAL_DIR OUT   (writes OUT/PCBData)
set -euo pipefail
SRC=$1
RAW="$2/PCBData"
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
