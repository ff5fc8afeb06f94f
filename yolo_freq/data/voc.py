"""Reader for Pascal VOC XML annotations, as LabelImg writes them (one ``<annotation>`` file per image)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from .images import files, index_by_name, list_images, pick_closest, shown, split_word
from .records import Box, Record
from .report import ConversionReport

IMAGESETS = {"train": "train", "val": "val", "trainval": "train", "test": "test"}


def _text(node: ET.Element | None, tag: str) -> str:
    child = node.find(tag) if node is not None else None
    return (child.text or "").strip() if child is not None else ""


def read_imagesets(root: Path, report: ConversionReport) -> dict[str, str]:
    """Image ids -> split from VOC's ``ImageSets/Main/{train,val,trainval,test}.txt``, where the source has them.

    ``trainval.txt`` counts only where neither ``train.txt`` nor ``val.txt`` exists (VOC ships all three, with
    trainval = train + val).
    """
    lists = {}
    for f in sorted(root.rglob("ImageSets/Main/*.txt")):
        if f.stem in IMAGESETS:
            lists.setdefault(f.stem, f)
    if "train" in lists or "val" in lists:
        lists.pop("trainval", None)
    split_of = {}
    for stem, f in lists.items():
        ids = [line.split()[0] for line in f.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        for i in ids:
            split_of.setdefault(i, IMAGESETS[stem])
        report.notes.append(f"official split list {f.relative_to(root)}: {len(ids)} images -> {IMAGESETS[stem]}")
    return split_of


def read_voc(source: Path, report: ConversionReport) -> tuple[list[Record], list[str]]:
    """Read every VOC XML file under ``source`` (or the one file ``source``) and find the images they describe.

    The image is looked up by ``<filename>`` anywhere under the source folder (the one nearest to the XML file
    wins: beside it, then in a sibling folder such as ``JPEGImages``), then by the XML file's own stem. ``<path>`` is
    ignored: it is the absolute path on the labelling machine. The split comes from ``ImageSets/Main`` lists or,
    failing those, from folder names such as ``train/`` and ``val/``.

    Args:
        source (Path): Folder of XML files and images (searched recursively), or one XML file.
        report (ConversionReport): Receives malformed files, annotations without images and images without
            annotations.

    Returns:
        (tuple[list[Record], list[str]]): The records, and the class names found, sorted (VOC has no class order).
    """
    root = source if source.is_dir() else source.parent
    xml_files = files(root, "*.xml") if source.is_dir() else [source]
    images = list_images(root)
    index = index_by_name(images)
    split_of = read_imagesets(root, report) if source.is_dir() else {}
    records, claimed, labels = [], set(), set()

    def nearest(key: str, xml: Path) -> tuple[Path | None, str]:
        return pick_closest(index.get(key, []), xml)

    for xml in xml_files:
        rel = shown(xml, root)
        try:
            ann = ET.parse(xml).getroot()
        except ET.ParseError as e:
            claimed.add(nearest(f"stem:{xml.stem.lower()}", xml)[0])  # its image is reported with this file, not twice
            report.add("malformed_annotation", rel, f"not well-formed XML ({e})")
            continue
        if ann.tag != "annotation":
            claimed.add(nearest(f"stem:{xml.stem.lower()}", xml)[0])
            report.add("malformed_annotation", rel, f"root element is <{ann.tag}>, not Pascal VOC's <annotation>")
            continue
        boxes, problem = [], ""
        for k, obj in enumerate(ann.findall("object"), 1):
            name, bb = _text(obj, "name"), obj.find("bndbox")
            if not name:
                problem = f"object {k} has no <name>"
                break
            try:
                coords = [float(_text(bb, t)) for t in ("xmin", "ymin", "xmax", "ymax")]
            except ValueError:
                given = {t: _text(bb, t) for t in ("xmin", "ymin", "xmax", "ymax")} if bb is not None else "no <bndbox>"
                problem = f"object {k} '{name}': <bndbox> needs numeric xmin, ymin, xmax, ymax, got {given}"
                break
            if not all(math.isfinite(c) for c in coords):
                problem = f"object {k} '{name}': non-finite coordinates {coords}"
                break
            boxes.append(Box(name, *coords, where=f"{rel} object {k}"))
        filename = _text(ann, "filename")
        image, why = None, "not found"
        if filename:  # LabelImg writes the bare file name; the image is beside the XML or in an image folder
            image, why = nearest(f"name:{Path(filename).name.lower()}", xml)
        if image is None and why == "not found":
            image, why = nearest(f"stem:{(Path(filename).stem if filename else xml.stem).lower()}", xml)
        if image is None and why == "not found" and filename:
            image, why = nearest(f"stem:{xml.stem.lower()}", xml)
        claimed.add(image)
        if problem:
            report.add("malformed_annotation", rel, problem)
            continue
        if image is None:
            report.add("label_without_image", rel, f"image '{filename or xml.stem}' {why}")
            continue
        try:
            size = (int(float(_text(ann.find("size"), "width"))), int(float(_text(ann.find("size"), "height"))))
        except ValueError:
            size = None
        if split_of:
            split = split_of.get(image.stem, split_of.get(xml.stem))
        else:  # folder names: annotations/train/a.xml, or images/train/a.jpg beside a flat annotations folder
            split = split_word(xml.relative_to(root).parts[:-1]) or split_word(image.relative_to(root).parts[:-1])
        records.append(
            Record(rel, image.stem, image, filename or xml.stem, boxes, split, size if size and all(size) else None)
        )
        labels.update(b.label for b in boxes)
    for p in images if source.is_dir() else []:  # one XML file describes one image, not its folder
        if p not in claimed:
            report.add("image_without_labels", shown(p, root), "no XML annotation names it")
    return records, sorted(labels)
