"""Checks every record against its image and the class map, and turns its boxes into YOLO label rows."""

from __future__ import annotations

from pathlib import Path

from ultralytics.utils import TQDM

from .images import check_image, file_digest, shown
from .records import Record
from .report import ConversionReport

EDGE_TOLERANCE = 1e-3  # pixels: float noise at the image border (640.0000001) is clipped without a report line


def check_records(
    records: list[Record], names: list[str], root: Path, report: ConversionReport, outside: str = "clip"
) -> list[tuple[Record, list[str]]]:
    """Validate records and build their label rows; every skipped or changed item goes into the report.

    Per record: the image must open (unreadable images are skipped) and must not be an image already used by an
    earlier record, by path or by content (duplicates would leak between train and val). A declared size that
    differs from the file is reported and the real size used. Per box: unknown classes, crowd regions, zero-area or
    inverted boxes and exact duplicates are skipped; boxes partly outside the image are clipped or, with
    ``outside="reject"``, skipped; boxes entirely outside are always skipped.

    Args:
        records (list[Record]): Reader output; checked in order of ``source`` so the result does not depend on
            file-system order.
        names (list[str]): Class map; a box's label must be one of these.
        root (Path): Source folder, for report paths.
        report (ConversionReport): Receives every issue.
        outside (str): ``"clip"`` or ``"reject"`` for boxes partly outside the image.

    Returns:
        (list[tuple[Record, list[str]]]): Kept records with their YOLO rows ``"cls cx cy w h"`` (normalised).
    """
    ids = {n: i for i, n in enumerate(names)}
    by_path, by_digest, kept, emptied = {}, {}, [], []
    for r in TQDM(sorted(records, key=lambda r: r.source), desc="Checking images and boxes", unit="images"):
        where = shown(r.image, root)
        try:
            w, h = check_image(r.image)
        except (ValueError, OSError) as e:
            report.add("unreadable_image", where, f"{e} (annotation {r.source})")
            continue
        key = r.image.resolve()
        if key in by_path:
            report.add("duplicate_image", r.source, f"image {where} is already used by {by_path[key]}")
            continue
        digest = file_digest(r.image)
        if digest in by_digest:
            report.add(
                "duplicate_image", r.source, f"image {where} has the same content as the image of {by_digest[digest]}"
            )
            continue
        by_path[key], by_digest[digest] = r.source, r.source
        if r.declared_size and tuple(r.declared_size) != (w, h):
            dw, dh = r.declared_size
            report.add("size_mismatch", r.source, f"annotation says {dw}x{dh}, {where} is {w}x{h}")

        rows = []
        for b in r.boxes:
            if b.label not in ids:
                report.add("unknown_class", b.where, f"{b.describe()}: '{b.label}' is not in the class map {names}")
                continue
            if b.crowd:
                report.add("crowd_box", b.where, f"{b.describe()}: YOLO has no crowd regions")
                continue
            if not (b.x2 > b.x1 and b.y2 > b.y1):
                report.add("zero_area_box", b.where, f"{b.describe()}: width {b.x2 - b.x1:g}, height {b.y2 - b.y1:g}")
                continue
            x1, y1, x2, y2 = max(b.x1, 0.0), max(b.y1, 0.0), min(b.x2, float(w)), min(b.y2, float(h))
            t = EDGE_TOLERANCE
            if b.x1 < -t or b.y1 < -t or b.x2 > w + t or b.y2 > h + t:
                if x2 <= x1 or y2 <= y1:
                    report.add(
                        "box_outside_rejected", b.where, f"{b.describe()} lies entirely outside the {w}x{h} image"
                    )
                    continue
                if outside == "reject":
                    report.add("box_outside_rejected", b.where, f"{b.describe()} extends outside the {w}x{h} image")
                    continue
                clipped = f"({x1:g}, {y1:g}, {x2:g}, {y2:g})"
                report.add("box_outside_clipped", b.where, f"{b.describe()} in the {w}x{h} image -> {clipped}")
            cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
            row = f"{ids[b.label]} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}"
            if row in rows:
                report.add("duplicate_box", b.where, f"{b.describe()} repeats an earlier box of the same image")
                continue
            rows.append(row)
        if not r.boxes:
            report.add("background", r.source, "no objects annotated")
        elif not rows:
            emptied.append(r.source)
        kept.append((r, rows))
    if emptied:
        report.notes.append(
            f"{len(emptied)} image{'s' * (len(emptied) != 1)} lost every box to the checks above, kept as background "
            f"(e.g. {', '.join(emptied[:3])})"
        )
    return kept
