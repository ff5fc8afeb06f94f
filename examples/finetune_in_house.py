"""Fine-tune a trained yolo-freq checkpoint on your own boards, labelled with LabelImg (Pascal VOC XML).

Two steps:

1. ``convert`` turns the LabelImg folder into a YOLO dataset (``<out>/data.yaml``) and prints its validation report
   (boxes outside the image, unknown classes, images without labels, ...; see ``<out>/report.txt``).
2. Training starts from the checkpoint (``pretrained=``) with the new dataset's classes: every tensor whose name and
   shape match is copied, only the class-specific output layers start fresh. The number of transferred tensors is
   printed before training; Ultralytics logs "Transferred X/Y items from pretrained weights", the same count
   unless the two datasets share class names (it then also counts the class-output rows it re-maps by name).

The same with stock commands::

    yolo-freq convert my_boards/ --format voc --out datasets/my_boards
    yolo train model=pcb-fs-n.yaml data=datasets/my_boards/data.yaml pretrained=runs/detect/train/weights/best.pt

Usage::

    python examples/finetune_in_house.py my_boards/ runs/detect/train/weights/best.pt --out datasets/my_boards \\
        --model pcb-fs-n.yaml --epochs 100 --imgsz 640
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("voc", help="LabelImg folder: images and their Pascal VOC XML files")
    parser.add_argument("weights", help="trained yolo-freq checkpoint, e.g. runs/detect/train/weights/best.pt")
    parser.add_argument("--out", required=True, help="folder for the converted dataset")
    parser.add_argument("--classes", help="class names in id order, comma separated (default: sorted names in the XML)")
    parser.add_argument(
        "--model", default="", help="model YAML to fine-tune (default: the checkpoint's own architecture)"
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--device", default="", help="'' picks a GPU if there is one, else 'cpu'")
    parser.add_argument("--project", default="runs/finetune", help="folder of training runs")
    parser.add_argument("--name", default="in_house", help="run name")
    parser.add_argument("--plots", type=lambda s: s.lower() in {"1", "true", "yes"}, default=True)
    args = parser.parse_args(argv)

    from ultralytics import YOLO

    from yolo_freq.data import ConversionError, convert, transferred_tensors

    # 1. LabelImg folder -> YOLO dataset; bad records are reported and skipped, the source folder is not modified.
    # exist_ok lets a re-run replace this script's own earlier conversion (convert never replaces another dataset).
    try:
        report = convert(
            args.voc, args.out, fmt="voc", classes=args.classes.split(",") if args.classes else None, exist_ok=True
        )
    except ConversionError as e:
        print(f"conversion failed: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    data = Path(report.out) / "data.yaml"

    # 2. Fine-tune from the checkpoint. The model YAML must describe the checkpoint's architecture (scale included)
    # for its tensors to fit; the count below shows at once whether they do.
    model = args.model or args.weights
    done, total = transferred_tensors(args.weights, model, data)
    print(f"Transferred {done}/{total} tensors from {args.weights} to {model} with {len(report.names)} classes")
    YOLO(model).train(
        data=str(data),
        pretrained=str(args.weights),
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        workers=args.workers,
        device=args.device or None,
        project=args.project,
        name=args.name,
        plots=args.plots,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
