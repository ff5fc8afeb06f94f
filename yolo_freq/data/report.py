"""The validation report of a conversion: every record that was skipped or changed, and why."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Kind -> (heading in the report, what happened to the record). Every kind except BACKGROUND is a problem, which
# fails a --strict run. Order is the order of the report.
ISSUE_KINDS = {
    "malformed_annotation": ("malformed annotation", "image skipped"),
    "label_without_image": ("annotation without its image", "skipped"),
    "image_without_labels": ("image without annotation", "skipped"),
    "not_in_split": ("annotation outside the official split lists", "skipped"),
    "unreadable_image": ("unreadable image", "image skipped"),
    "duplicate_image": ("duplicate image", "later copy skipped"),
    "size_mismatch": ("declared image size differs from the file", "real size used"),
    "unknown_class": ("unknown class", "box skipped"),
    "crowd_box": ("crowd region (iscrowd=1)", "box skipped"),
    "zero_area_box": ("zero-area or inverted box", "box skipped"),
    "box_outside_clipped": ("box outside the image", "clipped to the image"),
    "box_outside_rejected": ("box outside the image", "box skipped"),
    "duplicate_box": ("duplicate box", "box skipped"),
    "reference_missing": ("image without a reference", "image skipped"),
    "reference_unreadable": ("unreadable reference", "image skipped"),
    "reference_size": ("reference of another size", "image skipped"),
    "alignment_weak": ("alignment response below the threshold", "composed without shift"),
    "background": ("annotated image without objects", "kept as background"),
}
NOT_PROBLEMS = {"background"}


@dataclass
class Issue:
    """One reported event: which kind, where in the source, and the detail."""

    kind: str
    where: str
    detail: str = ""

    def line(self) -> str:
        heading, action = ISSUE_KINDS[self.kind]
        return f"{heading} ({action}): {self.where}" + (f": {self.detail}" if self.detail else "")


@dataclass
class ConversionReport:
    """Everything a conversion found and did, in numbers and in lines.

    Attributes:
        source (str): The converted folder or file.
        fmt (str): The source format (voc, coco, deeppcb).
        out (str): The output dataset folder.
        issues (list[Issue]): Every skipped or changed record, in the order found.
        notes (list[str]): Facts about the conversion that are not about single records (split used, files ignored).
        names (list[str]): The class map, index = YOLO class id.
        images (dict[str, int]): Images written per split.
        boxes (dict[str, Counter]): Boxes written per split and class name.
        boxes_read (int): Boxes found in the source, before any checking.
        strict (bool): Whether problems fail the run.
        alignments (list[dict]): Per image composed with a reference: the shift found, its response and whether
            it was applied (``report.json`` only; ``report.txt`` has the summary note and the pairs not aligned).
    """

    source: str = ""
    fmt: str = ""
    out: str = ""
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)
    boxes: dict[str, Counter] = field(default_factory=dict)
    boxes_read: int = 0
    strict: bool = False
    alignments: list[dict] = field(default_factory=list)
    saved: str = ""  # where save() last wrote every line; named by summary() for the lines it leaves out

    def add(self, kind: str, where: str, detail: str = "") -> None:
        """Record one issue of a kind from ``ISSUE_KINDS``."""
        if kind not in ISSUE_KINDS:
            raise KeyError(f"unknown report issue kind {kind!r}")
        self.issues.append(Issue(kind, where, detail))

    def counts(self) -> Counter:
        """Number of issues per kind."""
        return Counter(i.kind for i in self.issues)

    @property
    def problems(self) -> int:
        """Number of issues that are problems (everything but annotated background images)."""
        return sum(1 for i in self.issues if i.kind not in NOT_PROBLEMS)

    def summary(self, max_lines: int = 5) -> str:
        """The report as text: totals, class table and up to ``max_lines`` example lines per issue kind.

        Args:
            max_lines (int): Lines shown per kind; a negative number shows all of them.

        Returns:
            (str): Multi-line text.
        """
        counts = self.counts()
        written = sum(self.images.values())
        boxes = sum(sum(c.values()) for c in self.boxes.values())
        splits = ", ".join(f"{s} {n}" for s, n in self.images.items())
        lines = [
            f"yolo-freq convert: {self.fmt} {self.source} -> {self.out}",
            f"  images written: {written}" + (f" ({splits})" if splits else ""),
            f"  boxes: {self.boxes_read} read, {boxes} written",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        if self.names:
            lines.append("  classes (id name: boxes per split):")
            for i, name in enumerate(self.names):
                per_split = ", ".join(f"{s} {self.boxes[s][name]}" for s in self.boxes)
                lines.append(f"    {i} {name}: {per_split}")
        problems = self.problems
        lines.append(
            f"  problems: {problems}" + (" (the run fails under --strict)" if problems and self.strict else "")
        )
        for kind, (heading, action) in ISSUE_KINDS.items():
            if counts[kind]:
                lines.append(f"    {heading}, {action}: {counts[kind]}")
        for kind in ISSUE_KINDS:
            shown = [i for i in self.issues if i.kind == kind]
            if not shown:
                continue
            more = len(shown) - max_lines if max_lines >= 0 else 0
            for issue in shown[: max_lines if max_lines >= 0 else None]:
                lines.append(f"  - {issue.line()}")
            if more > 0:
                where = self.saved or "the saved report"
                lines.append(f"  - ... and {more} more {ISSUE_KINDS[kind][0]} lines in {where}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as plain data, for ``report.json``."""
        return {
            "source": self.source,
            "format": self.fmt,
            "out": self.out,
            "names": self.names,
            "images_written": self.images,
            "boxes_read": self.boxes_read,
            "boxes_written": {s: dict(c) for s, c in self.boxes.items()},
            "problems": self.problems,
            "counts": dict(self.counts()),
            "notes": self.notes,
            "issues": [{"kind": i.kind, "where": i.where, "detail": i.detail} for i in self.issues],
            "alignments": self.alignments,
        }

    def save(self, folder: Path, stem: str = "report") -> Path:
        """Write ``<stem>.txt`` (every line) and ``<stem>.json`` into ``folder``; return the ``.txt`` path."""
        folder.mkdir(parents=True, exist_ok=True)
        txt = folder / f"{stem}.txt"
        txt.write_text(self.summary(max_lines=-1) + "\n", encoding="utf-8")
        self.saved = str(txt)
        (folder / f"{stem}.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return txt
