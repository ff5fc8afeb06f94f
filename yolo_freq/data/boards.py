"""``assemble_boards``: whole-board images with golden boards, built from DeepPCB without downloading anything.

DeepPCB's images are 640x640 crops of line-scan boards of about 16k x 16k pixels, grouped by board design
(``groupNNNNN``); where on its board each crop lies is not published. A whole board is therefore assembled: the
``grid x grid`` crops of one group, drawn at random (``seed``), side by side (4 x 4 crops: 2560 x 2560 pixels),
each crop's boxes shifted by its offset, and the crops' defect-free templates in the same positions as the board's
golden board. The boards show real PCB texture and real defects at DeepPCB's density, at whole-board size: test
data for slicing and for whole-board inspection, not a real board's layout. Each template keeps the small offset
DeepPCB gave it against its crop (median 0.5 px, at most 9.4 px), so one golden board is not aligned equally well
everywhere, unlike a real golden image.

Output, and why in this form:

* ``DIR/PCBData``: the boards in DeepPCB's own raw layout (``groupG/G/<board>_test.png`` and ``_temp.png``,
  ``groupG/G_not/<board>.txt``, ``trainval.txt`` and ``test.txt``), so that everything that reads DeepPCB reads
  them: ``yolo-freq convert`` plain, and with ``--reference paired`` for composites of each board with its golden
  board, with the same tested reader, checks and report. Boards are lossless PNGs: their pixels are the crops'
  pixels, and JPEG would mix the channels of a later composite.
* ``DIR/yolo``: that layout converted by :func:`yolo_freq.data.convert` (hard links, no copies): a YOLO dataset
  to slice or train on. Its split is by board group, as ``examples/split_deeppcb_by_board.sh`` splits DeepPCB:
  groups 77000 and 92000 (``test.txt``, converted to val) are never seen in training.
* ``DIR/references.csv``: every board's golden board (``image,reference`` rows), the mapping file
  ``yolo-freq predict ... reference=`` takes.
* ``DIR/report.txt`` and ``report.json``: boards per split and group, crops left over, every crop or box left out,
  and in ``report.json`` the source crop at every position of every board.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ultralytics.utils import TQDM

from .convert import convert
from .deeppcb import DEEPPCB_NAMES, is_deeppcb, read_deeppcb
from .image_io import read_unchanged, write_unchanged
from .images import check_image, shown
from .records import Box, ConversionError, Record
from .report import ConversionReport
from .writer import remove_outputs

VAL_GROUPS = ("77000", "92000")  # held-out boards, as examples/split_deeppcb_by_board.sh
OUTPUTS = ("PCBData", "yolo", "references.csv", "report.txt", "report.json")
TOOL = "yolo-freq assemble-boards"  # report.json's "tool": how an earlier assembly in --out is known


@dataclass
class BoardsReport:
    """What an assembly read, built and left out.

    Attributes:
        source (str): The DeepPCB folder.
        out (str): The output folder.
        grid (int): Crops per board side.
        cell (tuple[int, int]): Crop (width, height) in pixels.
        seed (int): Seed of the draw of crops into boards.
        boards (list[dict]): Per board: name, split, group and the source crop (annotation stem) at each position,
            row by row.
        boxes (dict[str, int]): Boxes on the boards per split.
        lines (list[str]): Every crop or box left out, and why.
        notes (list[str]): Groups too small for a board and crops left over.
        dataset (ConversionReport | None): The report of converting the boards to ``DIR/yolo``.
    """

    source: str = ""
    out: str = ""
    grid: int = 4
    cell: tuple[int, int] = (0, 0)
    seed: int = 0
    boards: list[dict] = field(default_factory=list)
    boxes: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dataset: ConversionReport | None = None

    def summary(self, max_lines: int = 10) -> str:
        """The report as text, with up to ``max_lines`` of the lines (all when negative)."""
        w, h = self.cell
        per_split = Counter(b["split"] for b in self.boards)
        groups = defaultdict(Counter)
        for b in self.boards:
            groups[b["split"]][b["group"]] += 1
        lines = [
            f"{TOOL}: {self.source} -> {self.out}",
            f"  {self.grid}x{self.grid} crops of {w}x{h} per board: boards of {w * self.grid}x{h * self.grid} px, "
            f"crops drawn with seed {self.seed}",
        ]
        for split in ("train", "val"):
            listed = ", ".join(f"{g} {n}" for g, n in sorted(groups[split].items()))
            lines.append(
                f"  {split}: {per_split[split]} boards, {self.boxes.get(split, 0)} boxes"
                + (f" ({listed})" * bool(listed))
            )
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  crops or boxes left out: {len(self.lines)}")
        shown_lines = self.lines if max_lines < 0 else self.lines[:max_lines]
        lines += [f"  - {line}" for line in shown_lines]
        if len(shown_lines) < len(self.lines):
            lines.append(f"  - ... and {len(self.lines) - len(shown_lines)} more in {Path(self.out) / 'report.txt'}")
        if self.dataset is not None:
            images = ", ".join(f"{s} {n}" for s, n in self.dataset.images.items())
            lines.append(
                f"  converted to {self.dataset.out}: {images} images, {self.dataset.problems} problems "
                f"(its report: {Path(self.dataset.out) / 'report.txt'})"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "tool": TOOL,
            "source": self.source,
            "out": self.out,
            "grid": self.grid,
            "cell": list(self.cell),
            "seed": self.seed,
            "boxes": self.boxes,
            "notes": self.notes,
            "left_out": self.lines,
            "boards": self.boards,
        }

    def save(self, folder: Path) -> Path:
        """Write ``report.txt`` (every line) and ``report.json`` into ``folder``; return the ``.txt`` path."""
        txt = folder / "report.txt"
        txt.write_text(self.summary(max_lines=-1) + "\n", encoding="utf-8")
        (folder / "report.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return txt


def _type_id(label: str) -> int:
    """DeepPCB's type number of a reader label: 1..6 by name, or the number of a ``'type N'`` label."""
    return DEEPPCB_NAMES.index(label) + 1 if label in DEEPPCB_NAMES else int(label.split()[-1])


def _check_out(out: Path, source: Path, exist_ok: bool) -> None:
    """Refuse an output folder that overlaps the source or holds other data (``yolo-freq convert``'s rules)."""
    if out == source or out.is_relative_to(source) or source.is_relative_to(out):
        raise ConversionError(f"--out {out} and the source {source} overlap; choose a folder outside the source")
    if out.exists() and not out.is_dir():
        raise ConversionError(f"--out {out} is a file")
    if not out.exists() or not any(out.iterdir()):
        return
    try:
        ours = json.loads((out / "report.json").read_text(encoding="utf-8")).get("tool") == TOOL
    except (OSError, ValueError, AttributeError):
        ours = False
    if any((out / name).exists() for name in OUTPUTS) and not ours:
        raise ConversionError(
            f"--out {out} holds {', '.join(n for n in OUTPUTS if (out / n).exists())} that `{TOOL}` did not write "
            "(its report.json names it); they are never replaced: choose another folder"
        )
    if not exist_ok:
        raise ConversionError(f"--out {out} is not empty; choose an empty or new folder, or pass --exist-ok")


def _usable_crops(records: list[Record], source: Path, report: BoardsReport) -> list[tuple[Record, list[Box]]]:
    """The records whose crop and template open at one common size, with their boxes clipped to the crop."""
    usable = []
    for r in TQDM(sorted(records, key=lambda r: r.name), desc="Checking crops", unit="images"):
        where = shown(r.image, source)
        try:
            size = check_image(r.image)
        except (ValueError, OSError) as e:
            report.lines.append(f"unreadable image (crop left out): {where}: {e}")
            continue
        if not r.reference.is_file():
            report.lines.append(f"crop without its template (left out): {where}: {r.reference.name} not found")
            continue
        try:
            template_size = check_image(r.reference)
        except (ValueError, OSError) as e:
            report.lines.append(f"unreadable template (crop left out): {shown(r.reference, source)}: {e}")
            continue
        report.cell = report.cell if any(report.cell) else size
        if size != report.cell or template_size != report.cell:
            report.lines.append(
                f"crop of another size (left out): {where}: {size[0]}x{size[1]}, template "
                f"{template_size[0]}x{template_size[1]}; the boards' crops are {report.cell[0]}x{report.cell[1]}"
            )
            continue
        w, h = size
        boxes = []
        for b in r.boxes:
            x1, y1, x2, y2 = max(b.x1, 0.0), max(b.y1, 0.0), min(b.x2, float(w)), min(b.y2, float(h))
            if x2 <= x1 or y2 <= y1:
                report.lines.append(f"box without area in its crop (left out): {b.where}: {b.describe()}")
                continue
            if (x1, y1, x2, y2) != (b.x1, b.y1, b.x2, b.y2):  # it would reach into the neighbouring crop
                report.lines.append(f"box outside its crop (clipped to it): {b.where}: {b.describe()}")
            boxes.append(Box(b.label, x1, y1, x2, y2, b.where))
        usable.append((r, boxes))
    return usable


def _assemble(paths: list[Path], grid: int, cell: tuple[int, int]) -> np.ndarray:
    """The crops at ``paths`` side by side, row by row; grey crops are repeated to three channels where any crop is
    in colour (exactly: a grey value becomes B = G = R)."""
    crops = []
    for p in paths:
        image, _ = read_unchanged(p)
        if image is None:
            raise ConversionError(f"{p} passed the image check but cannot be decoded")
        crops.append(image if image.ndim == 3 else image[..., None])
    channels = max(c.shape[2] for c in crops)
    w, h = cell
    board = np.zeros((grid * h, grid * w, channels), crops[0].dtype)
    for i, crop in enumerate(crops):
        r, c = divmod(i, grid)
        board[r * h : (r + 1) * h, c * w : (c + 1) * w] = crop if crop.shape[2] == channels else crop[..., :1]
    return board[..., 0] if channels == 1 else board


def assemble_boards(
    source: str | Path,
    out: str | Path,
    grid: int = 4,
    seed: int = 0,
    boards: int | None = None,
    exist_ok: bool = False,
) -> BoardsReport:
    """Assemble DeepPCB crops into whole boards with golden boards, and convert them to a YOLO dataset.

    Writes ``out/PCBData`` (DeepPCB's raw layout), ``out/yolo`` (the YOLO dataset), ``out/references.csv`` and
    ``out/report.txt`` / ``report.json``; the module docstring says why in this form. The source is never modified.

    Args:
        source (str | Path): DeepPCB's raw layout (``PCBData`` or a folder above it), read by
            :func:`yolo_freq.data.deeppcb.read_deeppcb`; both split lists are pooled, as boards are split by group.
        out (str | Path): Output folder, new or empty (or an earlier assembly's, with ``exist_ok``).
        grid (int): Crops per board side (4: 16 crops per board).
        seed (int): Seed of the draw of each group's crops into boards.
        boards (int | None): At most this many boards per group; None: as many as the group's crops fill.
        exist_ok (bool): Replace an earlier assembly in ``out`` (other files there are kept).

    Returns:
        (BoardsReport): The boards, their crops and every crop or box left out; ``dataset`` holds the conversion's
            report.

    Raises:
        ConversionError: For a source that is not DeepPCB's raw layout, a grid or board count below 1, an unusable
            output folder, or no group with enough crops for one board.
    """
    source = Path(source).expanduser().resolve()
    out = Path(out).expanduser().resolve()
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise ConversionError(f"--grid must be a whole number of crops per side, at least 1, not {grid!r}")
    if boards is not None and (isinstance(boards, bool) or not isinstance(boards, int) or boards < 1):
        raise ConversionError(f"--boards must be a whole number, at least 1, not {boards!r}")
    if not source.is_dir():
        raise ConversionError(f"source {source} is not a folder")
    if not is_deeppcb(source):
        raise ConversionError(f"{source} is not DeepPCB's raw layout (no trainval.txt/test.txt, no *_not folders)")
    _check_out(out, source, exist_ok)

    report = BoardsReport(str(source), str(out), grid, seed=seed)
    reader = ConversionReport(source=str(source), fmt="deeppcb")
    records, _ = read_deeppcb(source, reader)
    report.lines += [i.line() for i in reader.issues]
    by_group = defaultdict(list)
    for r, boxes in _usable_crops(records, source, report):
        by_group[r.image.parent.name].append((r, boxes))

    n, rng, planned = grid * grid, random.Random(seed), []
    for group in sorted(by_group):
        crops = by_group[group]
        rng.shuffle(crops)
        count = min(len(crops) // n, boards or math.inf)
        if count == 0:
            report.notes.append(f"group {group}: {len(crops)} usable crops, fewer than the {n} of one board")
            continue
        split = "val" if group in VAL_GROUPS else "train"
        for k in range(count):
            planned.append((f"{group}_board{k:02d}", group, split, crops[k * n : (k + 1) * n]))
        if len(crops) > count * n:
            report.notes.append(f"group {group}: {len(crops) - count * n} of {len(crops)} crops left over")
    if not any(split == "train" for *_, split, _ in planned):
        raise ConversionError(
            f"no training board: no group of {source} outside the val groups {', '.join(VAL_GROUPS)} has {n} usable "
            f"crops (lower --grid)\n{report.summary()}"
        )

    if out.exists():
        remove_outputs(out, OUTPUTS)
    raw = out / "PCBData"
    lists, references = {"train": [], "val": []}, []
    w, h = report.cell
    for name, group, split, crops in TQDM(planned, desc="Assembling boards", unit="boards"):
        images, notes = raw / f"group{group}" / group, raw / f"group{group}" / f"{group}_not"
        images.mkdir(parents=True, exist_ok=True)
        notes.mkdir(parents=True, exist_ok=True)
        write_unchanged(images / f"{name}_test.png", _assemble([r.image for r, _ in crops], grid, report.cell), False)
        write_unchanged(
            images / f"{name}_temp.png", _assemble([r.reference for r, _ in crops], grid, report.cell), False
        )
        rows = []
        for i, (_, boxes) in enumerate(crops):
            dy, dx = divmod(i, grid)
            rows += [
                f"{b.x1 + dx * w:.10g} {b.y1 + dy * h:.10g} {b.x2 + dx * w:.10g} {b.y2 + dy * h:.10g} "
                f"{_type_id(b.label)}\n"
                for b in boxes
            ]
        (notes / f"{name}.txt").write_text("".join(rows), encoding="utf-8")
        lists[split].append(f"group{group}/{group}/{name}.png group{group}/{group}_not/{name}.txt\n")
        references.append((f"{name}_test.png", f"PCBData/group{group}/{group}/{name}_temp.png"))
        report.boxes[split] = report.boxes.get(split, 0) + len(rows)
        report.boards.append({"name": name, "split": split, "group": group, "crops": [r.name for r, _ in crops]})
    (raw / "trainval.txt").write_text("".join(lists["train"]), encoding="utf-8")
    if lists["val"]:
        (raw / "test.txt").write_text("".join(lists["val"]), encoding="utf-8")
    with open(out / "references.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("image", "reference"), *references])
    report.save(out)  # before converting: a failed conversion leaves the boards and their report
    report.dataset = convert(raw, out / "yolo", fmt="deeppcb", link=True)
    report.save(out)
    return report
