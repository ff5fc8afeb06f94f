#!/usr/bin/env bash
# Whole boards on the CPU: what sliced inference changes against whole-image inference on DeepPCB crops assembled
# into 2560x2560 boards (4x4 crops of one board group, boxes shifted; val = groups 77000 and 92000, the groups the
# other CPU studies hold out). One trained checkpoint per input form: plain images, and grey3 composites (each board
# aligned to and composed with its assembled golden board by `yolo-freq convert --reference paired`).
# Each `yolo-freq sliced-val` prints whole-image and sliced rows from the same predictor; at imgsz=320 the tiles
# (640 px) are seen at the checkpoints' training scale, at imgsz=1280 the whole board is.
# Usage: examples/bench_whole_boards_cpu.sh [DEEPPCB_TRAINVAL_DIR] [OUT] PLAIN_CKPT [GREY3_CKPT]
set -euo pipefail
SRC=${1:-../shared/data/DeepPCB-trainval}
OUT=${2:-runs/bench-boards}
PLAIN=$3
GREY3=${4:-}
yolo-freq assemble-boards "$SRC/PCBData" --out "$OUT/boards" --grid 4 --seed 0 --exist-ok
for imgsz in 320 1280; do
  yolo-freq sliced-val model="$PLAIN" data="$OUT/boards/yolo/data.yaml" tile=640 overlap=0.2 imgsz=$imgsz \
    project="$OUT" name="plain-$imgsz" exist_ok=True
done
if [ -n "$GREY3" ]; then
  yolo-freq convert "$OUT/boards/PCBData" --format deeppcb --reference paired --out "$OUT/boards-grey3" --exist-ok
  for imgsz in 320 1280; do
    yolo-freq sliced-val model="$GREY3" data="$OUT/boards-grey3/data.yaml" tile=640 overlap=0.2 imgsz=$imgsz \
      project="$OUT" name="grey3-$imgsz" exist_ok=True
  done
fi
