"""The model input of golden-template inspection: an inspected image composed with its aligned reference.

One function, :func:`compose`, makes that input wherever one is made: ``yolo-freq convert`` when it writes a dataset,
``yolo-freq predict`` for every image it inspects, and :func:`onnx_input` for exported models. Training and
prediction therefore see bitwise the same pixels for the same pair of files.

Composite forms (``COMPOSITES``), channel order as stored (OpenCV's BGR order, so an image viewer shows the inspected
image blue, the reference green and the difference red):

* ``grey3``: (image, reference, |image - reference|) in grey. Three channels: COCO-pretrained weights and every stock
  Ultralytics path (JPEG-free PNG files, ``yolo val``, export) work unchanged. For grey or binarised scans, and for
  colour cameras where colour carries no defect information.
* ``colour6``: the image's B, G, R then the reference's B, G, R. For colour cameras where a defect shows in colour
  (discoloured solder mask, oxidation); six channels, so the dataset YAML says ``channels: 6`` and the first
  convolution is trained from scratch. Stored as 6-page TIFF, which Ultralytics reads as channels.

Pixels that the shifted reference does not cover take the inspected image's values, so they show no difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from .align import MIN_RESPONSE, Alignment, PhaseCorrelator

COMPOSITES = {"grey3": 3, "colour6": 6}  # form -> channels
SUFFIX = {"grey3": ".png", "colour6": ".tif"}  # lossless: JPEG's YCbCr coding would mix the channels


class ReferenceError(ValueError):
    """A reference image cannot be used: missing, unreadable, of another size, or the spec is invalid."""


@dataclass(frozen=True)
class CompositeSpec:
    """How images are composed with their reference; saved in the dataset YAML and in trained checkpoints.

    Attributes:
        form (str): A key of ``COMPOSITES``.
        align (bool): Register each image to its reference by phase correlation before composing.
        min_response (float): Alignment response below which a shift is not applied and the pair is reported.
    """

    form: str = "grey3"
    align: bool = True
    min_response: float = MIN_RESPONSE

    def __post_init__(self):
        if self.form not in COMPOSITES:
            raise ReferenceError(f"unknown composite form {self.form!r}; choose one of {', '.join(COMPOSITES)}")
        if not isinstance(self.align, bool):
            raise ReferenceError(f"align must be true or false, not {self.align!r}")
        if not (isinstance(self.min_response, (int, float)) and 0 <= self.min_response <= 1):
            raise ReferenceError(f"min_response must be a number in [0, 1], not {self.min_response!r}")

    @property
    def channels(self) -> int:
        return COMPOSITES[self.form]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CompositeSpec:
        """The spec a dataset YAML's or a checkpoint's ``reference:`` entry describes; unknown keys are an error."""
        if not isinstance(d, dict):
            raise ReferenceError(f"a reference entry must be a mapping such as {cls().to_dict()}, not {d!r}")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ReferenceError(f"unknown keys {sorted(unknown)} in reference entry {d}; known: {cls().to_dict()}")
        return cls(**d)


def read_flag(channels: int) -> int:
    """The OpenCV read flag Ultralytics' loaders use for a model of ``channels`` input channels (also used here)."""
    return {1: cv2.IMREAD_GRAYSCALE, 3: cv2.IMREAD_COLOR}.get(channels, cv2.IMREAD_UNCHANGED)


def read_image(path: str | Path, channels: int) -> np.ndarray:
    """Read an image file the way Ultralytics reads it for a model of ``channels`` channels; clear error if not."""
    from ultralytics.utils.patches import imread

    im = imread(str(path), read_flag(channels))
    if im is None:
        raise ReferenceError(f"{path}: cannot be read as an image")
    return im


def as_bgr(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 1|3|4) uint8 -> (H, W, 3) BGR: grey replicated, alpha dropped."""
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.dtype != np.uint8:
        raise ReferenceError(f"expected an 8-bit grey, BGR or BGRA image, got shape {image.shape} {image.dtype}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[..., :3]


def as_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 1|3|4) uint8 -> (H, W) grey (OpenCV's BGR weights; a replicated grey image is unchanged)."""
    image = as_bgr(image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


class Golden:
    """A defect-free reference image, prepared once for aligning and composing any number of images against it.

    Args:
        image (np.ndarray): The reference, (H, W) grey or (H, W, 1|3|4) uint8.
        name (str): Where it came from, for messages.
    """

    def __init__(self, image: np.ndarray, name: str = "reference"):
        self.bgr, self.name = as_bgr(image), name
        self.grey = cv2.cvtColor(self.bgr, cv2.COLOR_BGR2GRAY)
        self._correlator = None  # built on the first alignment (its spectrum is the costly part)

    @classmethod
    def read(cls, path: str | Path) -> Golden:
        return cls(read_image(path, 3), str(path))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.bgr.shape[1], self.bgr.shape[0]

    def align(self, grey: np.ndarray, min_response: float = MIN_RESPONSE) -> Alignment:
        """Where this reference lies relative to the grey image ``grey`` (same size); see :class:`Alignment`."""
        if self._correlator is None:
            self._correlator = PhaseCorrelator(self.grey)
        return self._correlator.align(grey, min_response)


def _shifted(reference: np.ndarray, alignment: Alignment | None, fill: np.ndarray) -> np.ndarray:
    """``reference`` moved by the alignment (bilinear), pixels it leaves uncovered taken from ``fill``."""
    if alignment is None or not alignment.applied or (alignment.dx == 0 and alignment.dy == 0):
        return reference
    out = fill.copy()
    h, w = reference.shape[:2]
    shift = np.float32([[1, 0, alignment.dx], [0, 1, alignment.dy]])
    cv2.warpAffine(reference, shift, (w, h), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    return out


def compose(image: np.ndarray, golden: Golden, spec: CompositeSpec) -> tuple[np.ndarray, Alignment | None]:
    """The model input for one inspected image: it and its aligned reference in the spec's composite form.

    Args:
        image (np.ndarray): The inspected image as Ultralytics reads it, (H, W) or (H, W, 1|3|4) uint8.
        golden (Golden): Its reference, of the same height and width.
        spec (CompositeSpec): Form and alignment settings.

    Returns:
        (tuple[np.ndarray, Alignment | None]): The composite, (H, W, spec.channels) uint8 in the channel order of
            the module docstring, and the alignment (None when ``spec.align`` is off).

    Raises:
        ReferenceError: When the image and the reference differ in size.
    """
    h, w = image.shape[:2]
    if golden.size != (w, h):
        raise ReferenceError(
            f"the image is {w}x{h} but its reference {golden.name} is {golden.size[0]}x{golden.size[1]}: "
            "a reference must show the same field of view at the same resolution"
        )
    grey = as_grey(image)
    alignment = golden.align(grey, spec.min_response) if spec.align else None
    if spec.form == "grey3":
        reference = _shifted(golden.grey, alignment, fill=grey)
        return cv2.merge([grey, reference, cv2.absdiff(grey, reference)]), alignment
    bgr = as_bgr(image)
    return np.concatenate([bgr, _shifted(golden.bgr, alignment, fill=bgr)], axis=2), alignment


def write_composite(path: Path, composite: np.ndarray) -> Path:
    """Save a composite losslessly (PNG for 3 channels, one TIFF page per channel otherwise); return the path."""
    if composite.shape[2] == 3:
        path = path.with_suffix(".png")
        ok = cv2.imwrite(str(path), composite)
    else:
        path = path.with_suffix(".tif")
        ok = cv2.imwritemulti(str(path), [composite[..., c] for c in range(composite.shape[2])])
    if not ok:
        raise OSError(f"could not write {path}")
    return path
