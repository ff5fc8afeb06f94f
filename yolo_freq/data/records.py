"""What every reader produces: images with pixel-corner boxes, before any checking or class mapping."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class ConversionError(ValueError):
    """The conversion cannot go on; the message says what is wrong and what to do about it."""


class ProblemsFound(ConversionError):
    """A strict conversion found problems; only the report was written (``report`` holds it)."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


@dataclass
class Box:
    """One annotated object in pixel corner coordinates, as the source file gave it.

    Attributes:
        label (str): Class name as written in the source (a DeepPCB type id is already mapped to its name).
        x1 (float): Left edge in pixels.
        y1 (float): Top edge in pixels.
        x2 (float): Right edge in pixels.
        y2 (float): Bottom edge in pixels.
        where (str): Location in the source for the report, e.g. ``"a.xml object 2"``.
        crowd (bool): COCO ``iscrowd`` region rather than one object.
    """

    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    where: str = ""
    crowd: bool = False

    def describe(self) -> str:
        """Short text naming the box's class and corners, for report lines."""
        return f"'{self.label}' ({self.x1:g}, {self.y1:g}, {self.x2:g}, {self.y2:g})"


@dataclass
class Record:
    """One annotated image of the source.

    Attributes:
        source (str): The annotation that describes the image (file, and entry where a file holds many).
        name (str): Output file stem, made unique by the writer.
        image (Path | None): The image file, or None when the annotation names an image that was not found.
        image_ref (str): The image as the annotation names it, for messages.
        boxes (list[Box]): Annotated objects; an empty list is an annotated background image.
        split (str | None): ``"train"``, ``"val"`` or ``"test"`` where the source's own split assigns one.
        declared_size (tuple[int, int] | None): (width, height) the annotation states, compared with the real size.
        reference (Path | None): Its defect-free reference image, where the source pairs one with it (DeepPCB's
            template) or once the conversion has found it.
    """

    source: str
    name: str
    image: Path | None
    image_ref: str = ""
    boxes: list[Box] = field(default_factory=list)
    split: str | None = None
    declared_size: tuple[int, int] | None = None
    reference: Path | None = None
