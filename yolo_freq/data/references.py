"""Pairing each image of a conversion with its golden reference, and the checks ``yolo-freq convert`` reports.

Where the references come from (``--reference``):

* ``paired``: the source format's own pairs; DeepPCB's ``X_temp.jpg`` beside each ``X_test.jpg``.
* an image file: one golden image for every image (a production line inspecting one board design).
* a folder: a golden image per image, matched by file name, else by file stem (``a.jpg`` <- ``a.png``).
* a mapping file (``.csv`` with ``image,reference`` rows, or ``.json`` ``{"image": "reference"}``): image paths
  relative to the source folder (or bare file names), reference paths relative to the mapping file.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from ultralytics.utils import TQDM

from yolo_freq.reference import CompositeSpec, Golden, ReferenceError, compose, read_image

from .images import IMAGE_SUFFIXES, index_by_name, list_images, shown
from .records import Record
from .report import ConversionReport
from .split import Item

PAIRED = "paired"
MAPPING_SUFFIXES = {".csv", ".json"}

Finder = Callable[[Path], tuple[Path | None, str]]  # image -> (its reference, or None and why not)


def _read_mapping(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() == ".json":
            pairs = json.loads(text)
            if not isinstance(pairs, dict) or not all(isinstance(v, str) for v in pairs.values()):
                raise ValueError('expected one object {"image": "reference", ...}')
            return {str(k): v for k, v in pairs.items()}
        rows = [row for row in csv.reader(text.splitlines()) if any(c.strip() for c in row)]
    except (OSError, ValueError) as e:
        raise ReferenceError(f"reference mapping {path}: cannot be read: {e}") from None
    if rows and [c.strip().lower() for c in rows[0]] == ["image", "reference"]:
        rows = rows[1:]  # header
    bad = [i for i, row in enumerate(rows, 1) if len(row) != 2]
    if bad:
        raise ReferenceError(f"reference mapping {path}: rows {bad[:5]} do not have the two columns image,reference")
    return {image.strip(): reference.strip() for image, reference in rows}


def reference_finder(reference: str | Path, source_root: Path) -> Finder:
    """The rule that finds an image's reference: one image, a folder or a mapping file (module docstring).

    Used by ``yolo-freq convert`` and ``yolo-freq predict`` alike. ``paired`` is the converter's alone (the source
    format's own pairs, which the reader puts in ``Record.reference``).

    Args:
        reference (str | Path): The golden image, folder or mapping file.
        source_root (Path): The folder inspected images are named relative to in a mapping file.

    Raises:
        ReferenceError: For a reference path that does not exist or is neither an image, a folder nor a mapping.
    """
    path = Path(reference).expanduser().resolve()
    if not path.exists():
        raise ReferenceError(f"reference {reference}: no such file or folder")
    if path.is_dir():
        index = index_by_name(list_images(path))

        def by_name(image: Path) -> tuple[Path | None, str]:
            for key in (f"name:{image.name.lower()}", f"stem:{image.stem.lower()}"):
                found = index.get(key, [])
                if len(found) == 1:
                    return found[0], ""
                if found:
                    return None, f"several references fit in {path}: {', '.join(p.name for p in found)}"
            return None, f"no image named {image.stem}.* in {path}"

        return by_name
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return lambda image: (path, "")
    if suffix in MAPPING_SUFFIXES:
        mapping = _read_mapping(path)

        def mapped(image: Path) -> tuple[Path | None, str]:
            keys = [str(image), shown(image, source_root), image.name]
            ref = next((mapping[k] for k in keys if k in mapping), None)
            if ref is None:
                return None, f"{path.name} has no row for {shown(image, source_root)}"
            return (path.parent / ref).resolve(), ""

        return mapped
    raise ReferenceError(
        f"reference {reference}: expected an image, a folder of images or a mapping file "
        f"({', '.join(sorted(MAPPING_SUFFIXES))}), not a '{path.suffix}' file"
    )


@lru_cache(maxsize=8)  # one golden image for a whole dataset is read and transformed once
def _golden(path: Path) -> Golden:
    return Golden.read(path)


def pair_references(
    items: list[Item], finder: Finder | None, spec: CompositeSpec, root: Path, report: ConversionReport
) -> list[Item]:
    """Find, read, size-check and align every item's reference; report each one that cannot be used.

    ``finder`` None takes the references the source pairs with its images (``paired``).

    An image whose reference is missing, unreadable or of another size is skipped (reported); one whose alignment
    response is below ``spec.min_response`` is kept, composed with its reference unshifted, and reported. Every
    alignment goes into the report's ``alignments`` (``report.json``) with a summary note.

    Returns:
        (list[Item]): The items that have a usable reference, each record's ``reference`` set to it.
    """
    kept = []
    _golden.cache_clear()
    for item in TQDM(items, desc="Pairing images with references", unit="images"):
        r = item[0]
        where = shown(r.image, root)
        path, why = finder(r.image) if finder else (r.reference, "the source pairs no reference with it")
        if path is None or not path.is_file():
            report.add("reference_missing", where, why or f"{path} does not exist")
            continue
        try:
            golden = _golden(path)
        except ReferenceError as e:
            report.add("reference_unreadable", where, str(e))
            continue
        try:
            image = read_image(r.image, spec.channels)
        except ReferenceError as e:
            report.add("unreadable_image", where, str(e))
            continue
        try:
            _, alignment = compose(image, golden, spec)
        except ReferenceError as e:  # the one thing compose refuses: another size
            report.add("reference_size", where, str(e))
            continue
        r.reference = path
        if alignment is not None:
            report.alignments.append(
                {"image": where, "reference": shown(path, root), "dx": round(alignment.dx, 3),
                 "dy": round(alignment.dy, 3), "response": round(alignment.response, 4), "applied": alignment.applied}
            )  # fmt: skip
            if not alignment.applied:
                report.add("alignment_weak", where, f"{alignment.describe()} against {shown(path, root)}")
        kept.append(item)
    _alignment_note(report, spec)
    return kept


def composite_of(record: Record, spec: CompositeSpec):
    """The composite of a paired record (:func:`pair_references` has checked that it can be made)."""
    return compose(read_image(record.image, spec.channels), _golden(record.reference), spec)[0]


def _alignment_note(report: ConversionReport, spec: CompositeSpec) -> None:
    done = report.alignments
    if not spec.align:
        report.notes.append(f"references composed as {spec.form} without alignment (--no-align)")
        return
    if not done:
        return
    shifts = [max(abs(a["dx"]), abs(a["dy"])) for a in done if a["applied"]]
    responses = [a["response"] for a in done]
    report.notes.append(
        f"references composed as {spec.form}; aligned by phase correlation: {len(shifts)} of {len(done)} shifts "
        f"applied (largest axis shift median {statistics.median(shifts) if shifts else 0:.2f} px, max "
        f"{max(shifts, default=0):.2f} px), response median {statistics.median(responses):.2f}, "
        f"{len(done) - len(shifts)} below {spec.min_response} or beyond the shift limit; per image in report.json"
    )
