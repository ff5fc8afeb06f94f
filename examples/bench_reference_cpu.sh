#!/usr/bin/env bash
# Golden-template inspection on the CPU: the same images with and without their defect-free reference, at equal budget.
# Split by board as in the other CPU studies (split_deeppcb_by_board.sh: val = boards 77000 and 92000, 211 images; train
# = every 4th image of the other five boards, 198 images), converted four times from DeepPCB's raw layout:
#   plain            the inspected images alone
#   grey3            (image, aligned template, |difference|), the default composite
#   grey3-unaligned  the same without phase-correlation alignment (the templates as DeepPCB ships them)
#   colour6          image B,G,R + aligned template B,G,R, the colour-camera form (6 channels)
# Then: YOLOv8n, PCB-FS-n and yolo-freq-n on plain and grey3 (the +10-point target), YOLOv8n on the composite forms,
# and the composing cost beside YOLOv8n and YOLOv8s at 640 px. Completed runs under OUT are evaluated, not retrained.
# Usage: examples/bench_reference_cpu.sh [DEEPPCB_TRAINVAL_DIR] [OUT] [EPOCHS] [SEEDS...]
set -euo pipefail
SRC=${1:-../shared/data/DeepPCB-trainval}
OUT=${2:-runs/bench-reference}
EPOCHS=${3:-30}
shift $(( $# < 3 ? $# : 3 )) || true
SEEDS=${*:-0 1 2}
"$(dirname "$0")/split_deeppcb_by_board.sh" "$SRC" "$OUT/raw"
yolo-freq convert "$OUT/raw" --format deeppcb --out "$OUT/plain" --exist-ok
yolo-freq convert "$OUT/raw" --format deeppcb --out "$OUT/grey3" --exist-ok --reference paired
yolo-freq convert "$OUT/raw" --format deeppcb --out "$OUT/grey3-unaligned" --exist-ok --reference paired --no-align
yolo-freq convert "$OUT/raw" --format deeppcb --out "$OUT/colour6" --exist-ok --reference paired --composite colour6
TRAIN=(--train --epochs "$EPOCHS" --train-imgsz 320 --batch 16 --seeds $SEEDS --device cpu --no-val)
mkdir -p "$OUT/runs" "$OUT/target" "$OUT/forms"
ln -sfn "$(cd "$OUT/runs" && pwd)" "$OUT/target/runs"
ln -sfn "$(cd "$OUT/runs" && pwd)" "$OUT/forms/runs"
yolo-freq bench yolov8n.yaml pcb-fs-n.yaml yolo-freq-n.yaml --imgsz 320 --runs 10 --out "$OUT/target" \
  --data "$OUT/plain/data.yaml" "$OUT/grey3/data.yaml" "${TRAIN[@]}"
yolo-freq bench yolov8n.yaml --imgsz 320 --runs 10 --out "$OUT/forms" \
  --data "$OUT/grey3/data.yaml" "$OUT/grey3-unaligned/data.yaml" "$OUT/colour6/data.yaml" "${TRAIN[@]}"
# What composing adds per image: one val pair at its 640x640, interleaved with YOLOv8n and YOLOv8s at 640 px.
PAIR="$OUT/raw/PCBData/group77000/77000/77000001"
yolo-freq bench yolov8n.yaml yolov8s.yaml --imgsz 640 --runs 20 --threads 2 --no-onnx --out "$OUT/compose" \
  --reference-pair "${PAIR}_test.jpg" "${PAIR}_temp.jpg"
