"""The report of slicing a dataset into tiles: what was written per split, and every box or image left out, and why."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Kind -> (heading in the report, what happened). Order is the order of the report.
SLICE_ISSUE_KINDS = {
    "unreadable_image": ("unreadable image", "image skipped"),
    "malformed_labels": ("malformed label file", "image skipped"),
    "small_image": ("image smaller than the tile on a side", "tiles cut to the image there"),
    "format_changed": ("image format OpenCV cannot write", "tiles written as PNG"),
    "zero_area_box": ("zero-area box", "box skipped"),
    "box_below_visibility": ("box partly in a tile, below the visibility threshold", "left out of that tile"),
    "box_in_no_tile": ("box kept in no tile", "box lost"),
    "no_label_file": ("image without a label file", "its tiles are background"),
}


@dataclass
class SliceIssue:
    """One reported event: its kind, the image it concerns, the detail, and for dropped boxes the numbers."""

    kind: str
    where: str
    detail: str = ""
    data: dict | None = None

    def line(self) -> str:
        heading, action = SLICE_ISSUE_KINDS[self.kind]
        return f"{heading} ({action}): {self.where}" + (f": {self.detail}" if self.detail else "")


@dataclass
class SplitCounts:
    """What slicing one split found and wrote.

    Attributes:
        images (int): Images listed by the data YAML for this split.
        images_sliced (int): Images read and cut into tiles (the others are reported and skipped).
        boxes_read (int): Boxes in the label files of the images sliced.
        tiles (int): Tile windows over the images sliced.
        tiles_with_boxes (int): Tiles holding at least one kept box; all are written.
        partial_only_tiles (int): Tiles showing parts of boxes but keeping none; never written, so that no visible
            defect is labelled background.
        empty_tiles (int): Tiles showing no part of any box (background candidates).
        empty_written (int): Background tiles written, at most ``empty_ratio`` x ``tiles_with_boxes``.
        boxes_written (Counter): Box instances written per class name (a box in two overlapping tiles counts twice).
    """

    images: int = 0
    images_sliced: int = 0
    boxes_read: int = 0
    tiles: int = 0
    tiles_with_boxes: int = 0
    partial_only_tiles: int = 0
    empty_tiles: int = 0
    empty_written: int = 0
    boxes_written: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in self.__dict__.items()}


@dataclass
class SliceReport:
    """Everything a slicing run found and did, in numbers and in lines.

    Attributes:
        source (str): The source data YAML.
        out (str): The output dataset folder.
        tile (int): Tile side in pixels.
        overlap (float): Overlap between neighbouring tiles, as a fraction of the tile.
        min_visibility (float): Share of a box's area that must lie inside a tile for the box to be kept there.
        empty_ratio (float): Background tiles kept per tile with boxes, per split.
        seed (int): Seed of the background-tile draw.
        names (list[str]): The class map.
        splits (dict[str, SplitCounts]): Counts per split.
        issues (list[SliceIssue]): Every image or box left out or changed, in the order found.
        notes (list[str]): Facts about the run that are not about single images.
    """

    source: str = ""
    out: str = ""
    tile: int = 640
    overlap: float = 0.2
    min_visibility: float = 0.5
    empty_ratio: float = 0.1
    seed: int = 0
    names: list[str] = field(default_factory=list)
    splits: dict[str, SplitCounts] = field(default_factory=dict)
    issues: list[SliceIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    saved: str = ""  # where save() last wrote every line; named by summary() for the lines it leaves out

    def add(self, kind: str, where: str, detail: str = "", data: dict | None = None) -> None:
        """Record one issue of a kind from ``SLICE_ISSUE_KINDS``."""
        if kind not in SLICE_ISSUE_KINDS:
            raise KeyError(f"unknown slice report kind {kind!r}")
        self.issues.append(SliceIssue(kind, where, detail, data))

    def counts(self) -> Counter:
        """Number of issues per kind."""
        return Counter(i.kind for i in self.issues)

    @property
    def rule(self) -> str:
        """The box rule, as the report's header states it."""
        return (
            f"a box is kept in a tile, clipped to it, when at least {self.min_visibility:g} of its area "
            f"({self.min_visibility:.0%}) lies inside the tile; a box partly inside with less is left out of that "
            "tile (listed below), and a tile showing no part of any box is a background tile"
        )

    def summary(self, max_lines: int = 5) -> str:
        """The report as text: settings, the box rule, counts per split and up to ``max_lines`` lines per kind.

        Args:
            max_lines (int): Lines shown per kind; a negative number shows all of them.

        Returns:
            (str): Multi-line text.
        """
        lines = [
            f"yolo-freq slice: {self.source} -> {self.out}",
            f"  tiles: {self.tile}x{self.tile} px, overlap {self.overlap:g} (windows by sahi.slicing.get_slice_bboxes)",
            f"  rule: {self.rule}",
            f"  background tiles: up to {self.empty_ratio:g} per tile with boxes in each split, drawn with seed "
            f"{self.seed}",
        ]
        for split, c in self.splits.items():
            lines.append(
                f"  {split}: {c.images_sliced} of {c.images} images sliced into {c.tiles} tiles; written: "
                f"{c.tiles_with_boxes} with boxes + {c.empty_written} background (of {c.empty_tiles}); "
                f"{c.partial_only_tiles} tiles with only partly visible boxes not written; boxes: {c.boxes_read} "
                f"read, {sum(c.boxes_written.values())} written (a box in overlapping tiles counts in each)"
            )
        lines += [f"  note: {n}" for n in self.notes]
        if self.names and self.splits:
            lines.append("  classes (id name: boxes written per split):")
            for i, name in enumerate(self.names):
                per_split = ", ".join(f"{s} {c.boxes_written[name]}" for s, c in self.splits.items())
                lines.append(f"    {i} {name}: {per_split}")
        counts = self.counts()
        for kind, (heading, action) in SLICE_ISSUE_KINDS.items():
            if counts[kind]:
                lines.append(f"  {heading}, {action}: {counts[kind]}")
        for kind in SLICE_ISSUE_KINDS:
            shown = [i for i in self.issues if i.kind == kind]
            for issue in shown[: max_lines if max_lines >= 0 else None]:
                lines.append(f"  - {issue.line()}")
            more = len(shown) - max_lines if max_lines >= 0 else 0
            if more > 0:
                lines.append(
                    f"  - ... and {more} more {SLICE_ISSUE_KINDS[kind][0]} lines in {self.saved or 'report.txt'}"
                )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as plain data, for ``report.json``."""
        return {
            "source": self.source,
            "out": self.out,
            "tile": self.tile,
            "overlap": self.overlap,
            "min_visibility": self.min_visibility,
            "empty_ratio": self.empty_ratio,
            "seed": self.seed,
            "rule": self.rule,
            "names": self.names,
            "splits": {s: c.to_dict() for s, c in self.splits.items()},
            "counts": dict(self.counts()),
            "notes": self.notes,
            "issues": [
                {"kind": i.kind, "where": i.where, "detail": i.detail, **({"data": i.data} if i.data else {})}
                for i in self.issues
            ],
        }

    def save(self, folder: Path, stem: str = "report") -> Path:
        """Write ``<stem>.txt`` (every line) and ``<stem>.json`` into ``folder``; return the ``.txt`` path."""
        folder.mkdir(parents=True, exist_ok=True)
        txt = folder / f"{stem}.txt"
        self.saved = str(txt)
        txt.write_text(self.summary(max_lines=-1) + "\n", encoding="utf-8")
        (folder / f"{stem}.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return txt
