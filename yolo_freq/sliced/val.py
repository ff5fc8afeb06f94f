"""Sliced validation: ``yolo-freq sliced-val`` and :func:`sliced_val`, the gain of predicting whole boards tile by
tile over predicting them whole, measured on one dataset in one run.

Every image of the split is predicted twice by the same Ultralytics predictor with the same arguments: whole (one
letterboxed pass, as ``yolo predict`` does) and tile by tile as ``yolo-freq predict tile=`` does (:mod:`.detector`).
Both are scored by Ultralytics' own metric code: predictions are matched to labels by ``box_iou`` and
``DetectionValidator.match_predictions`` at IoU 0.50:0.95, and ``DetMetrics`` (``ap_per_class``) gives P, R, mAP50
and mAP50-95, as ``yolo val`` computes them. (``yolo val`` itself letterboxes batches of similar shape together, so
its whole-image figures can differ slightly from this one's, which predicts each image alone as ``predict`` does.)

By object size, with COCO's area bounds (small under 32^2 px, medium under 96^2, large above, of the labelled box
in image pixels) and COCO's rule of what a size range counts: labels outside the range are ignored, and so are
predictions that match one of them (same class, IoU at the threshold) and unmatched predictions outside the range.
mAP50-95 and R of a range are then ``ap_per_class`` over what is left, one IoU threshold at a time, since what is
ignored depends on the threshold.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from yolo_freq.reference import ReferenceError, read_image
from yolo_freq.reference.patches import reference_spec

from .tiles import MERGE, SlicingError, check_tiling, require_sahi

SIZES = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}  # COCO's area ranges
COLUMNS = ("images/s", "P", "R", "mAP50", "mAP50-95", *(f"mAP50-95({s[0].upper()})" for s in SIZES),
           *(f"R({s[0].upper()})" for s in SIZES))  # fmt: skip


@dataclass
class ImageStats:
    """One image's predictions and labels, in image pixels; predictions by descending confidence."""

    boxes: torch.Tensor  # (N, 6) x1, y1, x2, y2, confidence, class
    labels: torch.Tensor  # (M, 4) x1, y1, x2, y2
    label_cls: torch.Tensor  # (M,)


def box_area(xyxy: torch.Tensor) -> torch.Tensor:
    return (xyxy[:, 2] - xyxy[:, 0]).clamp(min=0) * (xyxy[:, 3] - xyxy[:, 1]).clamp(min=0)


def size_metrics(images: list[ImageStats], validator) -> dict[str, dict[str, float | None]]:
    """mAP50-95 and R per COCO size range, with COCO's ignore rule (module docstring).

    Args:
        images (list[ImageStats]): Every image of the split.
        validator (DetectionValidator): Ultralytics' validator, for its IoU thresholds and ``match_predictions``.

    Returns:
        (dict[str, dict[str, float | None]]): Per range name, ``mAP50-95``, ``R`` (as Ultralytics' R: mean over
            classes at the confidence of best mean F1, at IoU 0.5) and ``instances``; None where it has no labels.
    """
    from ultralytics.utils import metrics

    thresholds = validator.iouv.numpy()
    out = {}
    for name, (low, high) in SIZES.items():
        tp, keep, conf, cls, targets = [], [], [], [], []
        for im in images:
            boxes, pred_cls = im.boxes[:, :4], im.boxes[:, 5]
            label_area, pred_area = box_area(im.labels), box_area(boxes)
            inside = (label_area >= low) & (label_area < high)
            targets.append(im.label_cls[inside].numpy())
            n = len(boxes)
            if n == 0:
                continue
            hit_in = np.zeros((n, len(thresholds)), bool)
            if inside.any():
                iou = metrics.box_iou(im.labels[inside], boxes)
                hit_in = validator.match_predictions(pred_cls, im.label_cls[inside], iou).numpy()
            hit_out = np.zeros((n, len(thresholds)), bool)
            if (~inside).any():
                iou = metrics.box_iou(im.labels[~inside], boxes)
                iou = iou * (im.label_cls[~inside, None] == pred_cls[None])
                hit_out = (iou.numpy()[..., None] >= thresholds).any(0)
            pred_inside = ((pred_area >= low) & (pred_area < high)).numpy()[:, None]
            tp.append(hit_in)
            keep.append(hit_in | (~hit_out & pred_inside))
            conf.append(im.boxes[:, 4].numpy())
            cls.append(pred_cls.numpy())
        target_cls = np.concatenate(targets)
        if len(target_cls) == 0:
            out[name] = {"mAP50-95": None, "R": None, "instances": 0}
            continue
        tp, keep = np.concatenate(tp or [np.zeros((0, 10), bool)]), np.concatenate(keep or [np.zeros((0, 10), bool)])
        conf, cls = np.concatenate(conf or [np.zeros(0)]), np.concatenate(cls or [np.zeros(0)])
        aps, recall = [], 0.0
        for j in range(len(thresholds)):
            k = keep[:, j]
            result = metrics.ap_per_class(tp[k, j : j + 1], conf[k], cls[k], target_cls)
            aps.append(float(result[5].mean()))  # ap: (classes with labels, 1)
            if j == 0:
                recall = float(result[3].mean())
        out[name] = {"mAP50-95": float(np.mean(aps)), "R": recall, "instances": len(target_cls)}
    return out


def overall_metrics(images: list[ImageStats], validator, names: dict) -> dict[str, float]:
    """P, R, mAP50 and mAP50-95 by Ultralytics' ``DetMetrics``, fed as ``DetectionValidator`` feeds it."""
    from ultralytics.utils.metrics import DetMetrics, box_iou

    det = DetMetrics(names)
    for i, im in enumerate(images):
        pred_cls, n = im.boxes[:, 5], len(im.boxes)
        tp = np.zeros((n, validator.niou), bool)
        if n and len(im.labels):
            tp = validator.match_predictions(pred_cls, im.label_cls, box_iou(im.labels, im.boxes[:, :4])).numpy()
        target = im.label_cls.numpy()
        det.update_stats({"tp": tp, "conf": im.boxes[:, 4].numpy(), "pred_cls": pred_cls.numpy(),
                          "target_cls": target, "target_img": np.unique(target), "im_name": str(i)})  # fmt: skip
    det.process()
    p, r, map50, map50_95 = det.mean_results()
    return {"P": float(p), "R": float(r), "mAP50": float(map50), "mAP50-95": float(map50_95)}


@dataclass
class SlicedValidation:
    """Whole-image and sliced inference scored side by side.

    Attributes:
        rows (list[dict]): One per inference mode, ``whole`` then ``sliced``: ``inference``, ``tile``, ``overlap``,
            ``imgsz`` and the metrics of ``COLUMNS`` (None for a size range without labels).
        images (int): Images scored.
        instances (dict[str, int]): Labelled boxes, ``all`` and per size range.
        save_dir (Path): Where ``sliced_val.csv`` and ``sliced_val.json`` were written.
    """

    rows: list[dict]
    images: int
    instances: dict[str, int]
    save_dir: Path
    title: str = field(default="")

    def table(self) -> str:
        """The rows as Ultralytics prints validation metrics (fixed-width columns)."""
        head = f"{'inference':>24}" + "".join(f"{c:>12}" for c in ("images", "instances", *COLUMNS))
        lines = [self.title, head] if self.title else [head]
        for row in self.rows:
            label = row["inference"] + (
                f" {row['imgsz']}" if row["tile"] is None else f" {row['tile']}/{row['overlap']:g}"
            )
            cells = "".join(f"{'-' if row[c] is None else format(row[c], '.3g'):>12}" for c in COLUMNS)
            lines.append(f"{label:>24}{self.images:>12}{self.instances['all']:>12}{cells}")
        sizes = ", ".join(f"{n} {self.instances[n]}" for n in SIZES)
        lines.append(f"instances by size (COCO areas, px^2: small < 32^2 <= medium < 96^2 <= large): {sizes}")
        return "\n".join(lines)


def sliced_val(model, data, tile: int, overlap: float = 0.2, split: str = "val", **kwargs) -> SlicedValidation:
    """Score a detection model on a dataset's split by whole-image and by sliced inference, side by side.

    Args:
        model (str | Path | YOLO): A detection checkpoint (``.pt``) or an export Ultralytics loads (``.onnx``, ...).
        data (str | Path): An Ultralytics dataset YAML (composites from ``yolo-freq convert --reference`` too).
        tile (int): Tile side in pixels of the image (>= 32).
        overlap (float): Fraction of a tile shared with each neighbour, in [0, 1).
        split (str): ``val``, ``test`` or ``train``.
        **kwargs: Ultralytics arguments: ``imgsz`` (of the whole image and of each tile), ``conf`` (default 0.001
            as ``yolo val``), ``iou`` (0.7), ``max_det``, ``device``, ``half``, ``batch`` (tiles per forward pass),
            ``agnostic_nms``, ``project``, ``name`` (default ``sliced-val``), ``exist_ok``, ``verbose``.

    Returns:
        (SlicedValidation): The two rows, also printed (with ``verbose``, the default) and written to the run folder
            (``runs/detect/sliced-val*``) as ``sliced_val.csv`` and ``sliced_val.json``.

    Raises:
        SlicingError: For a bad tile or overlap, a split the dataset lacks, a model whose classes are not the
            dataset's, or SAHI missing.
    """
    from ultralytics.cfg import get_cfg, get_save_dir
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils import DEFAULT_CFG, LOGGER, ops

    from .detector import TiledDetector, load_predictor

    tile, overlap = check_tiling(tile, overlap)
    require_sahi()
    info = check_det_dataset(str(data))
    if not info.get(split):
        raise SlicingError(f"{data} has no {split!r} split")
    output_keys = {"project", "name", "exist_ok"}
    predict_args = {"conf": 0.001, "iou": 0.7, **{k: v for k, v in kwargs.items() if k not in output_keys}}
    yolo, predictor = load_predictor(model, composes=reference_spec(info) is not None, **predict_args)
    names = predictor.model.names
    if len(names) != info["nc"]:
        raise SlicingError(f"the model has {len(names)} classes, {data} has {info['nc']}: validate on its own dataset")
    args = get_cfg(DEFAULT_CFG, {"task": "detect", "mode": "val", "name": "sliced-val", **kwargs})
    save_dir = get_save_dir(args)
    validator = DetectionValidator(save_dir=save_dir, args={"task": "detect", "mode": "val"})
    detector = TiledDetector(yolo, predictor, tile, overlap)
    dataset = build_yolo_dataset(args, info[split], 1, info, mode="val")
    channels = info.get("channels", 3)

    modes = {"whole": detector.whole, "sliced": detector}
    stats, seconds = {m: [] for m in modes}, dict.fromkeys(modes, 0.0)
    for label in dataset.labels:
        try:
            image = read_image(label["im_file"], channels)
        except ReferenceError as e:  # read_image's "cannot be read as an image"; the dataset check passed it
            LOGGER.warning(f"{e}; not scored")
            continue
        h, w = image.shape[:2]
        labels = ops.xywhn2xyxy(torch.as_tensor(label["bboxes"], dtype=torch.float32).reshape(-1, 4), w=w, h=h)
        label_cls = torch.as_tensor(label["cls"], dtype=torch.float32).reshape(-1)
        for mode, predict in modes.items():  # alternated per image, so load on the machine falls on both alike
            start = time.perf_counter()
            boxes = predict(image).float().cpu()
            seconds[mode] += time.perf_counter() - start
            boxes = boxes[torch.argsort(boxes[:, 4], descending=True, stable=True)]  # match_predictions' order
            stats[mode].append(ImageStats(boxes, labels, label_cls))

    images = len(stats["whole"])
    if not images:
        raise SlicingError(f"no image of {data} {split} could be read")
    rows = []
    for mode in modes:
        by_size = size_metrics(stats[mode], validator)
        row = {"inference": mode, "tile": tile if mode == "sliced" else None,
               "overlap": overlap if mode == "sliced" else None, "imgsz": predictor.args.imgsz,
               "images/s": images / seconds[mode], **overall_metrics(stats[mode], validator, names)}  # fmt: skip
        for metric in ("mAP50-95", "R"):  # in the order of COLUMNS
            row |= {f"{metric}({size[0].upper()})": m[metric] for size, m in by_size.items()}
        rows.append(row)
    instances = {"all": sum(len(s.labels) for s in stats["whole"]), **{n: m["instances"] for n, m in by_size.items()}}
    title = f"{Path(str(model)).name} on {Path(str(data)).name} {split}: whole images vs tiles of {tile} px, overlap {overlap:g}"
    result = SlicedValidation(rows, images, instances, save_dir, title)

    with open(save_dir / "sliced_val.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (save_dir / "sliced_val.json").write_text(json.dumps(
        {"model": str(model), "data": str(data), "split": split, "images": images, "instances": instances,
         "merge": MERGE, "rows": rows}, indent=1))  # fmt: skip
    if args.verbose:
        LOGGER.info(f"{result.table()}\nResults saved to {save_dir}")
    return result


__all__ = ("SIZES", "SlicedValidation", "size_metrics", "sliced_val")
