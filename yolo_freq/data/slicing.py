"""``slice_dataset``: a YOLO detection dataset of large images (whole boards, panels) to a YOLO dataset of tiles.

A model trained at 640 px sees a 2560 px board at a quarter of its resolution, and a defect a few pixels wide
vanishes; cut into 640 px tiles it is seen at full resolution (what ``yolo-freq slice`` is for).

* **Windows** come from SAHI's ``sahi.slicing.get_slice_bboxes`` (the ``slice`` extra): rows and columns of
  ``tile`` x ``tile`` windows stepping by ``tile - int(overlap * tile)``, the last row and column moved back to end
  at the image's edge, so every pixel lies in a tile and every tile is full size. An image smaller than the tile on
  a side gets tiles cut to the image there (one tile, the whole image, when it is smaller on both).
* **Boxes** are clipped to each tile. A box is kept in a tile when at least ``min_visibility`` of its area lies
  inside it (``SliceReport.rule``); a box partly inside with less is left out of that tile and listed in the
  report with the tile, the box and its visible fraction. With the default overlap (0.2 of 640 = 128 px), every
  box up to 128 px wide and high lies whole in some tile.
* **Background tiles** (showing no part of any box) are drawn per split with ``random.Random(seed)``, up to
  ``empty_ratio`` per tile with boxes; default 0.1, the 0-10 % of background images Ultralytics' training tips
  recommend to curb false positives, since most tiles of a board show no defect. A tile showing only parts of
  boxes below the threshold is never written: it would label a visible defect as background.
* **Pixels** keep their channels and bit depth (:mod:`yolo_freq.data.image_io`; a 6-channel TIFF composite stays
  six pages in order) and tiles keep the source's format, so tiles of lossless formats (PNG, TIFF, BMP) equal the
  source crop bitwise; JPEG and WebP tiles are re-encoded at OpenCV's default quality.
"""

from __future__ import annotations

import glob
import math
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import yaml
from ultralytics.data.utils import IMG_FORMATS, img2label_paths
from ultralytics.utils import TQDM

from .image_io import orientation, read_unchanged, write_unchanged
from .images import check_image, class_names, shown
from .records import ConversionError, Record
from .slice_report import SliceReport, SplitCounts
from .validate import EDGE_TOLERANCE

# a tile dataset is written, replaced and recognised as a converted dataset is, by its own header
from .writer import FAILED_REPORT, OUTPUTS, replace_outputs, unique_names, written_by

HEADER = "# Written by `yolo-freq slice`"  # first words of every data.yaml it writes: how an earlier one is known
STAGE_PREFIX = ".slice-"  # the hidden folder a run writes into before moving its outputs into place
SPLITS = ("train", "val", "test")
MIN_TILE = 32  # the largest stride of Ultralytics' P5 detectors: a smaller tile holds no cell of their coarsest map
EPS = 1e-9  # float noise in visible fractions: a box exactly at the threshold is kept

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1 and y1 exclusive
PixelBox = tuple[int, float, float, float, float]  # class id, x1, y1, x2, y2 in pixels


def require_sahi():
    """SAHI's ``get_slice_bboxes`` function.

    Raises:
        ConversionError: Where SAHI is not installed, saying how to install the ``slice`` extra.
    """
    try:
        from sahi.slicing import get_slice_bboxes
    except ImportError:
        raise ConversionError('slicing needs SAHI, which is not installed: pip install "yolo-freq[slice]"') from None
    return get_slice_bboxes


def tile_windows(width: int, height: int, tile: int, overlap: float) -> list[Window]:
    """The tile windows of an image, by SAHI's ``get_slice_bboxes`` (module docstring), row by row.

    Args:
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        tile (int): Tile side in pixels.
        overlap (float): Overlap of neighbouring tiles as a fraction of the tile, in [0, 1).

    Returns:
        (list[Window]): Distinct ``(x0, y0, x1, y1)`` windows.
    """
    get_slice_bboxes = require_sahi()
    windows = get_slice_bboxes(
        image_height=height,
        image_width=width,
        slice_height=tile,
        slice_width=tile,
        overlap_height_ratio=overlap,
        overlap_width_ratio=overlap,
    )
    return list(dict.fromkeys(tuple(int(v) for v in w) for w in windows))


def visible_part(box: PixelBox, window: Window) -> tuple[tuple[float, float, float, float] | None, float]:
    """The part of a box inside a window and the fraction of the box's area that it is.

    Args:
        box (PixelBox): ``(class, x1, y1, x2, y2)`` with positive area.
        window (Window): ``(x0, y0, x1, y1)``.

    Returns:
        (tuple): The clipped corners ``(x1, y1, x2, y2)`` in image pixels (None when nothing is inside, or only a
            sliver under ``EDGE_TOLERANCE`` pixels) and the visible fraction in [0, 1].
    """
    _, bx1, by1, bx2, by2 = box
    x1, y1 = max(bx1, window[0]), max(by1, window[1])
    x2, y2 = min(bx2, window[2]), min(by2, window[3])
    if x2 - x1 <= EDGE_TOLERANCE or y2 - y1 <= EDGE_TOLERANCE:  # a box ending on the tile's edge, up to float noise
        return None, 0.0
    return (x1, y1, x2, y2), (x2 - x1) * (y2 - y1) / ((bx2 - bx1) * (by2 - by1))


def read_labels(path: Path, width: int, height: int, nc: int) -> tuple[list[PixelBox], int]:
    """A YOLO detection label file as pixel boxes, clipped to the image.

    Rows are ``class cx cy w h`` (normalised); a segment row (``class x1 y1 x2 y2 ...``) becomes its bounding box,
    as Ultralytics' detection loader makes it.

    Args:
        path (Path): The label file.
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        nc (int): Number of classes; class ids must be below it.

    Returns:
        (tuple[list[PixelBox], int]): The boxes (zero-area ones included, for the caller to report) and the number
            of segment rows among them.

    Raises:
        ValueError: Naming the line, for a row Ultralytics would reject (not numbers, a class outside the map,
            coordinates outside [0, 1] beyond its 1 % tolerance).
    """
    boxes, segments = [], 0
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise ValueError(f"line {n}: not numbers: {line.strip()!r}") from None
        cls, coords = values[0], values[1:]
        if len(coords) == 4:
            cx, cy, w, h = coords
            xs, ys = [cx - w / 2, cx + w / 2], [cy - h / 2, cy + h / 2]
        elif len(coords) >= 6 and len(coords) % 2 == 0:
            xs, ys = coords[0::2], coords[1::2]
            segments += 1
        else:
            raise ValueError(f"line {n}: expected 'class cx cy w h' or a segment, got {line.strip()!r}")
        if not (cls.is_integer() and 0 <= cls < nc):
            raise ValueError(f"line {n}: class {fields[0]} is not one of the {nc} classes")
        if not all(math.isfinite(v) and -0.01 <= v <= 1.01 for v in xs + ys) or min(coords[2:4]) < 0:
            raise ValueError(f"line {n}: coordinates outside [0, 1]: {line.strip()!r}")
        boxes.append(
            (
                int(cls),
                max(min(xs), 0.0) * width,
                max(min(ys), 0.0) * height,
                min(max(xs), 1.0) * width,
                min(max(ys), 1.0) * height,
            )
        )
    return boxes, segments


def split_images(source) -> list[Path]:
    """The image files of one split as Ultralytics' dataset loader resolves them, without repeats.

    Args:
        source (str | list[str]): What ``check_det_dataset`` gives for the split: a folder (searched recursively),
            a text file listing images (``./`` relative to the file), or a list of those.

    Returns:
        (list[Path]): Image files, sorted.

    Raises:
        ConversionError: When a folder or list does not exist.
    """
    found = []
    for p in source if isinstance(source, list) else [source]:
        p = Path(p)
        if p.is_dir():
            found += glob.glob(str(Path(glob.escape(str(p))) / "**" / "*.*"), recursive=True)
        elif p.is_file():
            parent = str(p.parent) + os.sep
            lines = p.read_text(encoding="utf-8-sig").strip().splitlines()
            found += [x.replace("./", parent, 1) if x.startswith("./") else x for x in lines]
        else:
            raise ConversionError(f"the data YAML names {p}, which does not exist")
    return sorted({Path(x) for x in found if x.rpartition(".")[-1].lower() in IMG_FORMATS})


@dataclass
class _Plan:
    """One image's tiles, decided before any pixel is read: the windows, their label rows and which are written."""

    image: Path
    stem: str
    size: tuple[int, int]
    suffix: str
    boxes: int = 0
    windows: list[Window] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # per window: "boxes", "partial" or "empty"


def _plan_image(
    image: Path,
    stem: str,
    names: list[str],
    tile: int,
    overlap: float,
    min_visibility: float,
    report: SliceReport,
    where: str,
) -> tuple[_Plan | None, int]:
    """Check one image and its labels, and decide its tiles' label rows; None (reported) when it cannot be used."""
    try:
        w, h = check_image(image)
        if orientation(image) in (5, 7):  # transposed like 6 and 8, which Ultralytics' exif_size alone swaps
            w, h = h, w
    except (ValueError, OSError) as e:
        report.add("unreadable_image", where, str(e))
        return None, 0
    label = Path(img2label_paths([str(image)])[0])
    boxes, segments = [], 0
    if label.is_file():
        try:
            boxes, segments = read_labels(label, w, h, len(names))
        except (ValueError, OSError) as e:
            report.add("malformed_labels", where, f"{label.name}: {e}")
            return None, 0
    else:
        report.add("no_label_file", where, f"{label} does not exist")
    suffix = image.suffix
    if not cv2.haveImageWriter(f"x{suffix}"):
        report.add("format_changed", where, f"OpenCV cannot write {suffix} files")
        suffix = ".png"
    if w < tile or h < tile:
        cut = "kept whole as one tile" if w <= tile and h <= tile else "its tiles are cut to it on that side"
        report.add("small_image", where, f"{w}x{h} image, {tile} px tile: {cut}")
    kept_boxes = []
    for b in boxes:
        if b[3] <= b[1] or b[4] <= b[2]:
            report.add("zero_area_box", where, f"{_describe(b, names)} has no area inside the {w}x{h} image")
        else:
            kept_boxes.append(b)
    plan = _Plan(image, stem, (w, h), suffix, len(boxes), tile_windows(w, h, tile, overlap))
    kept_anywhere = [False] * len(kept_boxes)
    for window in plan.windows:
        rows, touched = [], False
        tw, th = window[2] - window[0], window[3] - window[1]
        for i, b in enumerate(kept_boxes):
            part, fraction = visible_part(b, window)
            if part is None:
                continue
            touched = True
            if fraction >= min_visibility - EPS:
                x1, y1, x2, y2 = part
                cx, cy = ((x1 + x2) / 2 - window[0]) / tw, ((y1 + y2) / 2 - window[1]) / th
                rows.append(f"{b[0]} {cx:.6f} {cy:.6f} {(x2 - x1) / tw:.6f} {(y2 - y1) / th:.6f}")
                kept_anywhere[i] = True
            else:
                report.add(
                    "box_below_visibility",
                    where,
                    f"tile {window}: {_describe(b, names)} {fraction:.1%} visible",
                    data={"tile": list(window), "box": [round(v, 3) for v in b[1:]], "class": names[b[0]],
                          "visible": round(fraction, 6)},
                )  # fmt: skip
        plan.rows.append(rows)
        plan.kinds.append("boxes" if rows else "partial" if touched else "empty")
    for b, kept in zip(kept_boxes, kept_anywhere):
        if not kept:
            report.add("box_in_no_tile", where, f"{_describe(b, names)}: under {min_visibility:g} of it in every tile")
    return plan, segments


def _describe(box: PixelBox, names: list[str]) -> str:
    return f"'{names[box[0]]}' ({', '.join(f'{v:g}' for v in (round(c, 2) for c in box[1:]))})"


def _check_out(out: Path, images: list[Path], exist_ok: bool) -> None:
    """Refuse an output folder that would mix with the source or with other data (``yolo-freq convert``'s rules)."""
    replaced = (out / "images", out / "labels")
    if any(out.is_relative_to(d) or any(d.is_relative_to(r) for r in replaced) for d in {p.parent for p in images}):
        raise ConversionError(
            f"--out {out} overlaps the source images (a folder holding them, or one that a re-run would replace); "
            "choose a folder outside the source"
        )
    if out.exists() and not out.is_dir():
        raise ConversionError(f"--out {out} is a file")
    if not out.exists() or not any(p for p in out.iterdir() if not p.name.startswith(STAGE_PREFIX)):
        return
    earlier = any((out / name).exists() for name in ("images", "labels", "data.yaml"))
    if earlier and not written_by(out, HEADER):
        raise ConversionError(
            f"--out {out} holds images/, labels/ or a data.yaml that `yolo-freq slice` did not write (its data.yaml "
            f"starts with a '{HEADER}' line); they are never replaced: choose another folder"
        )
    if not exist_ok:
        raise ConversionError(f"--out {out} is not empty; choose an empty or new folder, or pass --exist-ok")


def _read_data(data: str | Path) -> dict:
    """The data YAML as Ultralytics resolves it, or a one-line ConversionError."""
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.utils.checks import check_file

    if not check_file(str(data), hard=False):  # neither a file nor a name Ultralytics resolves (a bundled YAML)
        raise ConversionError(f"data YAML {data} does not exist")
    try:
        return check_det_dataset(str(data))
    except (FileNotFoundError, SyntaxError, TypeError, ValueError, yaml.YAMLError) as e:
        raise ConversionError(f"data YAML {data}: {str(e).strip().splitlines()[0]}") from None


def slice_dataset(
    data: str | Path,
    out: str | Path,
    tile: int = 640,
    overlap: float = 0.2,
    min_visibility: float = 0.5,
    empty_ratio: float = 0.1,
    seed: int = 0,
    exist_ok: bool = False,
) -> SliceReport:
    """Cut every image of a YOLO detection dataset into tiles with their labels; a YOLO dataset and a report out.

    Writes ``out/images/<split>/<stem>_x<x0>_y<y0>.<ext>``, ``out/labels/<split>/...txt`` for every split the data
    YAML names (train, val, test), ``out/data.yaml`` (absolute ``path:``; ``names``, and ``channels`` and a
    composite's ``reference:`` where the source has them) and ``out/report.txt`` / ``out/report.json``. The source
    is never modified. Rules in the module docstring.

    Args:
        data (str | Path): The source data YAML (a path, or a name Ultralytics resolves, e.g. a bundled one).
        out (str | Path): Output folder, new or empty (or an earlier slicing's, with ``exist_ok``). Written into a
            hidden staging folder inside it and moved into place once complete.
        tile (int): Tile side in pixels, at least 32.
        overlap (float): Overlap of neighbouring tiles as a fraction of the tile, in [0, 1).
        min_visibility (float): Share of a box's area that must lie in a tile for it to be kept there, in (0, 1].
        empty_ratio (float): Background tiles kept per tile with boxes, per split (>= 0).
        seed (int): Seed of the background-tile draw; the same inputs and seed give the same tiles.
        exist_ok (bool): Replace an earlier slicing in ``out`` (one whose ``data.yaml`` this function wrote; other
            datasets are never replaced) and allow other files beside it (they are kept).

    Returns:
        (SliceReport): What was written and every box or image left out.

    Raises:
        ConversionError: For SAHI missing, a setting out of range, a data YAML that does not exist or does not
            load, an unusable output folder, no tile written, or a failed write (an earlier slicing is then kept,
            and the failed run's report written beside it as ``report-failed.txt``).
    """
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < MIN_TILE:
        raise ConversionError(f"--tile must be a whole number of pixels, at least {MIN_TILE}, not {tile!r}")
    if not 0 <= overlap < 1:
        raise ConversionError(f"--overlap must be a fraction in [0, 1), not {overlap}")
    if not 0 < min_visibility <= 1:
        raise ConversionError(f"--min-visibility must be a fraction in (0, 1], not {min_visibility}")
    if not (empty_ratio >= 0 and math.isfinite(empty_ratio)):
        raise ConversionError(f"--empty-ratio must be a number >= 0, not {empty_ratio}")
    require_sahi()
    out = Path(out).expanduser().resolve()
    d = _read_data(data)
    names = class_names(d["names"])
    root = Path(d["path"])
    images = {s: split_images(d[s]) for s in SPLITS if d.get(s)}
    _check_out(out, [p for found in images.values() for p in found], exist_ok)
    earlier = written_by(out, HEADER)

    report = SliceReport(str(data), str(out), tile, overlap, min_visibility, empty_ratio, seed, names)
    plans, same_as = {}, {}
    for split, found in images.items():
        same = next((s for s in plans if images[s] == found), None)
        if same:
            same_as[split] = same
            report.notes.append(f"{split} names the same images as {same}: its data.yaml entry points at {same}")
            continue
        report.splits[split] = SplitCounts(images=len(found))
        items = [(Record(str(p), p.stem, p), []) for p in found]
        plans[split], segments = [], 0
        for p, stem in zip(found, unique_names(items, root)):
            plan, n = _plan_image(p, stem, names, tile, overlap, min_visibility, report, shown(p, root))
            if plan is not None:
                plans[split].append(plan)
                segments += n
        if segments:
            report.notes.append(f"{split}: {segments} segment rows sliced as their bounding boxes")
        boxed = sum(k == "boxes" for pl in plans[split] for k in pl.kinds)
        empty = [(i, j) for i, pl in enumerate(plans[split]) for j, k in enumerate(pl.kinds) if k == "empty"]
        drawn = random.Random(seed).sample(empty, min(len(empty), math.floor(empty_ratio * boxed + EPS)))
        for i, j in drawn:
            plans[split][i].kinds[j] = "background"

    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(f"{STAGE_PREFIX}*"):  # left by a run killed before its clean-up: partial output of ours
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=out))
    except OSError as e:
        raise ConversionError(f"cannot write to --out {out}: {e}") from e
    # a failed run leaves an earlier slicing and its report as they were, and reports beside them
    failed_stem, kept = (FAILED_REPORT, f"; the earlier slicing in {out} is unchanged") if earlier else ("report", "")
    try:
        try:
            _write_tiles(plans, stage, names, report, root)
        except OSError as e:
            raise ConversionError(
                f"writing the tiles failed: {e} (report: {report.save(out, failed_stem)}{kept})"
            ) from e
        if not any(c.tiles_with_boxes + c.empty_written for c in report.splits.values()):
            txt = report.save(out, failed_stem)
            raise ConversionError(f"no tile written: no usable image in {data} (report: {txt}{kept})")
        _write_data_yaml(stage / "data.yaml", out, d, names, images, same_as, data)
        replace_outputs(stage, out, OUTPUTS)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    report.save(out)
    return report


def _write_tiles(plans: dict[str, list[_Plan]], out: Path, names, report: SliceReport, root: Path) -> None:
    """Read every planned image once and write its tiles; an image that fails to decode is reported and skipped."""
    bar = TQDM(total=sum(len(p) for p in plans.values()), desc="Slicing", unit="images")
    for split, split_plans in plans.items():
        counts = report.splits[split]
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
        background = []  # written background tiles, to trim if images that fail to decode leave too many
        for plan in split_plans:
            bar.update()
            image, pages = read_unchanged(plan.image)
            if image is None or image.shape[1::-1] != plan.size:
                why = "cannot be decoded" if image is None else f"decodes as {image.shape[1]}x{image.shape[0]}"
                report.add("unreadable_image", shown(plan.image, root), f"{why} (its header says {plan.size})")
                continue
            counts.images_sliced += 1
            counts.boxes_read += plan.boxes
            counts.tiles += len(plan.windows)
            counts.empty_tiles += sum(k in ("empty", "background") for k in plan.kinds)
            counts.partial_only_tiles += plan.kinds.count("partial")
            for (x0, y0, x1, y1), rows, kind in zip(plan.windows, plan.rows, plan.kinds):
                if kind not in ("boxes", "background"):
                    continue
                name = f"{plan.stem}_x{x0}_y{y0}"
                write_unchanged(out / "images" / split / f"{name}{plan.suffix}", image[y0:y1, x0:x1], pages)
                (out / "labels" / split / f"{name}.txt").write_text("".join(f"{r}\n" for r in rows), encoding="utf-8")
                if kind == "boxes":
                    counts.tiles_with_boxes += 1
                    counts.boxes_written.update(names[int(r.split()[0])] for r in rows)
                else:
                    background.append(name)
        allowed = math.floor(report.empty_ratio * counts.tiles_with_boxes + EPS)
        for name in background[allowed:]:
            for f in (out / "images" / split).glob(f"{glob.escape(name)}.*"):
                f.unlink()
            (out / "labels" / split / f"{name}.txt").unlink()
        counts.empty_written = min(len(background), allowed)
    bar.close()


def _write_data_yaml(path: Path, out: Path, source: dict, names, images, same_as, data) -> None:
    """``data.yaml`` of the tiles: every split of the source, its classes, and its channels and composite spec."""
    entry = {"path": str(out)}
    for split in images:
        entry[split] = f"images/{same_as.get(split, split)}"
    if "val" not in entry:
        entry["val"] = entry["train"]
    if source.get("channels", 3) != 3:
        entry["channels"] = source["channels"]
    entry["names"] = dict(enumerate(names))
    if source.get("reference") is not None:
        entry["reference"] = source["reference"]
    path.write_text(
        f"{HEADER} from {data}; see report.txt beside this file.\n"
        + yaml.safe_dump(entry, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
