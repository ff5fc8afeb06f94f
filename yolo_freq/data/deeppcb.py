"""Reader for DeepPCB's raw layout (tangsanli5201/DeepPCB, folder ``PCBData``).

Layout and quirks the reader handles::

    PCBData/trainval.txt, PCBData/test.txt      official split: "groupG/N/X.jpg groupG/N_not/X.txt" per line
    PCBData/groupG/N/X_test.jpg                 the defective image (the list names it X.jpg)
    PCBData/groupG/N/X_temp.jpg                 its defect-free template: a record's reference, never a detection image
    PCBData/groupG/N_not/X.txt                  one defect per line, "x1 y1 x2 y2 type" in pixels

The annotation files separate fields with spaces although the dataset README says commas; both are accepted, in
the list files too. Types 1..6 are open, short, mousebite, spur, copper (spurious copper), pin-hole; 0 is
background and unused.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from .images import list_images, shown
from .records import Box, ConversionError, Record
from .report import ConversionReport

DEEPPCB_NAMES = ("open", "short", "mousebite", "spur", "copper", "pin-hole")  # type 1..6
SPLIT_LISTS = {"trainval.txt": "train", "test.txt": "test"}
_FIELDS = re.compile(r"[,\s]+")
_PAIR = re.compile(r"^\s*\S+\.(jpg|jpeg|png|bmp)[,\s]+\S+\.txt\s*$", re.IGNORECASE)


def find_split_lists(source: Path) -> list[Path]:
    """DeepPCB split lists (``trainval.txt``, ``test.txt`` whose first line is an image/annotation pair)."""
    found = []
    for name in SPLIT_LISTS:
        for f in sorted(source.rglob(name)):
            with open(f, encoding="utf-8", errors="replace") as fh:
                first = next((line for line in fh if line.strip()), "")
            if _PAIR.match(first):
                found.append(f)
    return found


def is_deeppcb(source: Path) -> bool:
    """Whether a folder holds DeepPCB's split lists or its ``*_not`` annotation folders."""
    return bool(find_split_lists(source)) or any(p.is_dir() for p in source.rglob("*_not"))


def parse_annotation(path: Path, where: str) -> list[Box]:
    """Read one DeepPCB annotation file.

    Args:
        path (Path): ``X.txt`` with ``x1 y1 x2 y2 type`` per line (spaces or commas).
        where (str): The file as the report names it.

    Returns:
        (list[Box]): Boxes labelled with the type's name (``'type 7'`` for a type outside 1..6).

    Raises:
        ValueError: Naming the line, for a line that is not five numbers.
    """
    boxes = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = _FIELDS.split(line.strip())
        try:
            if len(fields) != 5:
                raise ValueError
            x1, y1, x2, y2 = (float(v) for v in fields[:4])
            kind = float(fields[4])
            if not (all(math.isfinite(v) for v in (x1, y1, x2, y2)) and kind.is_integer()):
                raise ValueError
        except ValueError:
            raise ValueError(f"line {n}: expected 'x1 y1 x2 y2 type' (five numbers), got {line.strip()!r}") from None
        kind = int(kind)
        label = DEEPPCB_NAMES[kind - 1] if 1 <= kind <= len(DEEPPCB_NAMES) else f"type {kind}"
        boxes.append(Box(label, x1, y1, x2, y2, where=f"{where} line {n}"))
    return boxes


def _defect_image(listed: Path) -> Path:
    """The file on disk for an image the list names: ``X.jpg`` is stored as ``X_test.jpg``."""
    test = listed.with_name(f"{listed.stem}_test{listed.suffix}")
    return test if test.is_file() or not listed.is_file() else listed


def read_deeppcb(source: Path, report: ConversionReport) -> tuple[list[Record], list[str]]:
    """Read DeepPCB's raw layout: the split lists where present, else every ``*_not/X.txt`` with its image.

    Args:
        source (Path): ``PCBData``, the repository root above it, or any folder holding them.
        report (ConversionReport): Receives malformed list lines and annotations, missing files, annotations the
            split lists leave out and defect images without annotations.

    Returns:
        (tuple[list[Record], list[str]]): The records (split ``train`` for trainval.txt, ``test`` for test.txt,
            None for annotations outside the lists) and the six class names in type order.

    Raises:
        ConversionError: When the split lists lie in different folders (two copies of the dataset).
    """
    lists = find_split_lists(source)
    bases = {f.parent for f in lists}
    if len(bases) > 1:
        raise ConversionError(
            f"DeepPCB split lists in several folders ({', '.join(str(b) for b in sorted(bases))}); "
            "convert one PCBData folder at a time"
        )
    base = bases.pop() if bases else source

    entries = []  # (split, image, annotation, where)
    for f in lists:
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            fields = _FIELDS.split(line.strip())
            if len(fields) != 2:
                report.add(
                    "malformed_annotation",
                    f"{shown(f, source)} line {n}",
                    f"expected 'image annotation', got {line.strip()!r}",
                )
                continue
            entries.append(
                (SPLIT_LISTS[f.name], _defect_image(base / fields[0]), base / fields[1], f"{shown(f, source)} line {n}")
            )
    if lists:
        counts = ", ".join(
            f"{shown(f, source)} {sum(1 for e in entries if e[3].startswith(shown(f, source) + ' '))}" for f in lists
        )
        report.notes.append(f"official split lists: {counts} pairs")
    listed = {e[2].resolve() for e in entries}
    for ann in sorted(base.rglob("*_not/*.txt")):  # annotations the lists leave out, or all of them without lists
        if ann.resolve() not in listed:
            image = ann.parent.with_name(ann.parent.name[: -len("_not")]) / f"{ann.stem}_test.jpg"
            entries.append((None, image, ann, shown(ann, source)))

    records, claimed = [], set()
    for split, image, ann, where in entries:
        ann_rel = shown(ann, source)
        claimed.add(image.resolve())
        if not ann.is_file():
            if image.is_file():
                report.add(
                    "image_without_labels", shown(image, source), f"{where} names {ann_rel}, which does not exist"
                )
            else:
                report.add("label_without_image", where, f"neither {ann_rel} nor its image {image.name} exists")
            continue
        if not image.is_file():
            report.add("label_without_image", ann_rel, f"image {shown(image, source)} not found")
            continue
        try:
            boxes = parse_annotation(ann, ann_rel)
        except (ValueError, OSError) as e:
            report.add("malformed_annotation", ann_rel, str(e))
            continue
        template = image.with_name(f"{ann.stem}_temp{image.suffix}")
        records.append(Record(ann_rel, ann.stem, image, image.name, boxes, split, reference=template))

    templates = 0
    for p in list_images(base):
        if p.stem.endswith("_temp"):
            templates += 1
        elif p.resolve() not in claimed:
            report.add("image_without_labels", shown(p, source), "no annotation file for it")
    if templates:
        report.notes.append(
            f"{templates} defect-free template images (*_temp.jpg) are not detection images; they are used only as "
            "references (--reference paired)"
        )
    return records, list(DEEPPCB_NAMES)
