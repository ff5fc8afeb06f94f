"""Reader for COCO detection JSON (``images``, ``annotations``, ``categories``), one or several files."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from .images import files, index_by_name, list_images, pick_closest, shown, split_word
from .records import Box, ConversionError, Record
from .report import ConversionReport

COCO_KEYS = ("images", "annotations", "categories")


def looks_like_coco(path: Path) -> bool:
    """Whether a JSON file mentions COCO's three top-level keys (a cheap test, no parsing)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return all(f'"{k}"' in text for k in COCO_KEYS)


def _load(path: Path) -> dict:
    """Parse one COCO file; ConversionError names the file, line and column of bad JSON or the missing key."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ConversionError(f"{path}: not UTF-8 text ({e})") from None
    except json.JSONDecodeError as e:
        raise ConversionError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in COCO_KEYS):
        raise ConversionError(f"{path}: not a COCO detection file (needs the lists {', '.join(COCO_KEYS)})")
    return doc


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is an existing file under ``root`` (a file_name may be absolute or climb out with '..')."""
    return path.is_file() and path.resolve().is_relative_to(root.resolve())


def _box(ann: dict, label: str, where: str) -> Box:
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        raise ValueError(f"bbox must be four numbers [x, y, width, height], got {bbox!r}")
    if not all(math.isfinite(v) for v in bbox):
        raise ValueError(f"non-finite bbox {bbox}")
    x, y, w, h = (float(v) for v in bbox)
    return Box(label, x, y, x + w, y + h, where=where, crowd=bool(ann.get("iscrowd", 0)))


def read_coco(source: Path, report: ConversionReport) -> tuple[list[Record], list[str]]:
    """Read one COCO JSON file, or every COCO JSON file under a folder, and find the images they list.

    An image's ``file_name`` is tried relative to the JSON file's folder, its parent and the source folder, then
    looked up by name anywhere under the source folder (the nearest wins; ``train2017/`` beats ``val2017/`` for
    ``instances_train2017.json``). A file whose name denotes a split (``train.json``, ``instances_val2017.json``,
    ``valid/_annotations.coco.json``) is that split.

    Args:
        source (Path): A COCO JSON file, or a folder searched recursively for them (other JSON files are ignored,
            with a note).
        report (ConversionReport): Receives malformed entries, annotations without images and images without
            annotations (for a folder: any image under it; for a file: images in the folders its images are in).

    Returns:
        (tuple[list[Record], list[str]]): The records, and the class names in category-id order (the dataset's
            own order), files in name order.

    Raises:
        ConversionError: When ``source`` is one file that is not valid COCO JSON.
    """
    single = source.is_file()
    root = source.parent if single else source
    if single:
        json_files = [source]
    else:
        json_files = []
        for p in files(root, "*.json"):
            if looks_like_coco(p):
                json_files.append(p)
            else:
                report.notes.append(f"ignored {shown(p, root)}: not a COCO annotation file")
    images = list_images(root)
    index = index_by_name(images)
    records, names, claimed = [], [], set()
    for jf in json_files:
        rel = shown(jf, root)
        try:
            doc = _load(jf)
        except ConversionError as e:
            if single:
                raise
            report.add("malformed_annotation", rel, f"{e}; every image of this file skipped")
            continue
        split = split_word(jf.relative_to(root).with_suffix("").parts)
        category = {}
        for k, c in enumerate(doc["categories"]):
            if not (isinstance(c, dict) and "id" in c and isinstance(c.get("name"), str)):
                report.add("malformed_annotation", f"{rel} categories[{k}]", f"needs an id and a name, got {c!r}")
                continue
            category[c["id"]] = c["name"].strip()
        for _, name in sorted(
            category.items(), key=lambda kv: (0, kv[0], "") if isinstance(kv[0], int) else (1, 0, str(kv[0]))
        ):
            if name not in names:
                names.append(name)

        entries, bad = {}, {}
        for k, im in enumerate(doc["images"]):
            if not (isinstance(im, dict) and "id" in im and isinstance(im.get("file_name"), str) and im["file_name"]):
                report.add("malformed_annotation", f"{rel} images[{k}]", f"needs an id and a file_name, got {im!r}")
                continue
            if im["id"] in entries:
                report.add("duplicate_image", f"{rel} images[{k}]", f"image id {im['id']} is listed twice; first kept")
                continue
            entries[im["id"]] = im
        boxes = defaultdict(list)
        for k, ann in enumerate(doc["annotations"]):
            where = f"{rel} annotations[{k}]" + (f" (id {ann['id']})" if isinstance(ann, dict) and "id" in ann else "")
            if not isinstance(ann, dict) or "image_id" not in ann or "category_id" not in ann:
                report.add("malformed_annotation", where, f"needs image_id, category_id and bbox, got {ann!r}")
                continue
            if ann["image_id"] not in entries:
                report.add("label_without_image", where, f"image id {ann['image_id']} is not in the file's images list")
                continue
            cid = ann["category_id"]
            try:
                boxes[ann["image_id"]].append(_box(ann, category.get(cid, f"category id {cid}"), where))
            except ValueError as e:
                bad.setdefault(ann["image_id"], f"{where}: {e}")

        for image_id, im in entries.items():
            ref = im["file_name"]
            where = f"{rel} image '{ref}' (id {image_id})"
            direct = [(d / ref).resolve() for d in (jf.parent, jf.parent.parent, root) if _inside(d / ref, root)]
            image, why = (
                (direct[0], "") if direct else pick_closest(index.get(f"name:{Path(ref).name.lower()}", []), jf, split)
            )
            claimed.add(image)
            if image_id in bad:
                report.add("malformed_annotation", where, bad[image_id])
                continue
            if image is None:
                report.add("label_without_image", where, f"{why}{'' if why != 'not found' else ' under ' + str(root)}")
                continue
            w, h = im.get("width"), im.get("height")
            size = (int(w), int(h)) if isinstance(w, (int, float)) and isinstance(h, (int, float)) and w and h else None
            records.append(Record(where, Path(ref).stem, image, ref, boxes.get(image_id, []), split, size))

    scanned = images if not single else [p for p in images if p.parent in {r.image.parent for r in records}]
    for p in scanned:
        if p not in claimed:
            report.add("image_without_labels", shown(p, root), "no COCO file lists it")
    return records, names
