#!/usr/bin/env bash
# Warm start on the CPU: every n-scale model started from one YOLOv8n checkpoint through yolo-freq's layer-aligned
# transfer, against itself from scratch and against YOLOv8n started from the same checkpoint, at equal budget.
# DeepPCB trainval split by board into three disjoint parts:
#   source  boards 00041 and 20085 (491 images): a YOLOv8n trained on them from scratch is the checkpoint
#   target  every 2nd image of boards 13000, 44000 and 50600 (149 images): what every arm trains on
#   val     boards 77000 and 92000 (211 images), as in the other CPU studies
# The source checkpoint is trained once (delete OUT/source to retrain it); completed arm runs are evaluated, not
# retrained.
# Usage: examples/bench_warmstart_cpu.sh [DEEPPCB_TRAINVAL_DIR] [OUT] [EPOCHS] [SEEDS...]
set -euo pipefail
SRC=${1:-../shared/data/DeepPCB-trainval}
OUT=${2:-runs/bench-warmstart}
EPOCHS=${3:-20}
shift $(( $# < 3 ? $# : 3 )) || true
SEEDS=${*:-0 1 2}
HERE=$(cd "$(dirname "$0")" && pwd)
for part in source target; do
  mkdir -p "$OUT/raw-$part/PCBData"
  for g in "$SRC"/PCBData/group*; do ln -sfn "$(cd "$g" && pwd)" "$OUT/raw-$part/PCBData/$(basename "$g")"; done
done
python - "$SRC/PCBData/trainval.txt" "$OUT" <<'PY'
import sys
from pathlib import Path

lines = [l for l in Path(sys.argv[1]).read_text().splitlines() if l.strip()]
out = Path(sys.argv[2])
val = [l for l in lines if l.startswith(("group77000/", "group92000/"))]
source = [l for l in lines if l.startswith(("group00041/", "group20085/"))]
target = [l for i, l in enumerate(l for l in lines if l.startswith(("group13000/", "group44000/", "group50600/"))) if i % 2 == 0]
for part, train in (("source", source), ("target", target)):
    (out / f"raw-{part}" / "PCBData" / "trainval.txt").write_text("\n".join(train) + "\n")
    (out / f"raw-{part}" / "PCBData" / "test.txt").write_text("\n".join(val) + "\n")
print(f"split by board: source {len(source)}, target {len(target)}, val {len(val)} images")
PY
yolo-freq convert "$OUT/raw-source" --format deeppcb --out "$OUT/source-data" --exist-ok
yolo-freq convert "$OUT/raw-target" --format deeppcb --out "$OUT/target-data" --exist-ok
if [ ! -f "$OUT/source/weights/last.pt" ]; then
  yolo train model=yolov8n.yaml data="$OUT/source-data/data.yaml" epochs=30 imgsz=320 batch=16 seed=0 deterministic=True \
    val=False device=cpu workers=0 plots=False project="$(cd "$OUT" && pwd)" name=source exist_ok=True
fi
CKPT="$(cd "$OUT" && pwd)/source/weights/last.pt"
MODELS=(yolov8n.yaml pcb-fs-n.yaml sd-gasnet-n.yaml yolov8-fdsa-n.yaml yolo-freq-n.yaml "$HERE/fdsa_form/yolov8-fdsa-paper-n.yaml")
TRAIN=(--train --data "$OUT/target-data/data.yaml" --epochs "$EPOCHS" --train-imgsz 320 --batch 16 --seeds $SEEDS --device cpu --no-val)
mkdir -p "$OUT/runs" "$OUT/warm-vs-scratch" "$OUT/warm" "$OUT/scratch"
for t in warm-vs-scratch warm scratch; do ln -sfn "$(cd "$OUT/runs" && pwd)" "$OUT/$t/runs"; done
# each model started from the checkpoint against itself from scratch
yolo-freq bench "${MODELS[@]}" --imgsz 320 --runs 10 --out "$OUT/warm-vs-scratch" --pretrained none "$CKPT" "${TRAIN[@]}"
# the same warm runs against YOLOv8n started from the checkpoint
yolo-freq bench "${MODELS[@]}" --imgsz 320 --runs 10 --out "$OUT/warm" --pretrained "$CKPT" "${TRAIN[@]}"
# the same scratch runs against YOLOv8n from scratch (and FDSA's residual form against the paper's)
yolo-freq bench "${MODELS[@]}" --imgsz 320 --runs 10 --out "$OUT/scratch" --pretrained none "${TRAIN[@]}"
