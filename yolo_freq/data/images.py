"""The converters' path policy and image checks: which files are skipped (hidden ones, ``__MACOSX``), how paths are
shown in reports, JPEGs cut short, class names from a YAML, finding the image files that annotations name, and
checking that Ultralytics can read them."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

from PIL import Image
from ultralytics.data.utils import IMG_FORMATS

# The image suffixes Ultralytics trains on: a file it would skip is reported, not converted.
IMAGE_SUFFIXES = {f".{s}" for s in IMG_FORMATS}
SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def skipped(name: str) -> bool:
    """A file or folder name no converter reads: hidden (``.name``) or macOS archive metadata (``__MACOSX``)."""
    return name.startswith(".") or name == "__MACOSX"


def visible(path: Path, root: Path) -> bool:
    """Whether ``path`` lies under ``root`` without passing through a skipped file or folder."""
    return not any(skipped(part) for part in path.relative_to(root).parts)


def files(root: Path, pattern: str) -> list[Path]:
    """The visible files under ``root`` matching ``pattern`` (e.g. ``"*.xml"``), sorted."""
    return sorted(p for p in root.rglob(pattern) if visible(p, root))


def shown(path: Path, root: Path) -> str:
    """A path as reports show it: relative to the folder the user gave, else as it is."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def lacks_jpeg_end(path: Path) -> bool:
    """Whether a file does not end with JPEG's end marker (FFD9); Ultralytics repairs a JPEG without it by rewriting
    the file."""
    with open(path, "rb") as f:
        f.seek(-2, os.SEEK_END)
        return f.read() != b"\xff\xd9"


def class_names(names) -> list[str]:
    """A data YAML's ``names`` (a list, or a dict of id -> name) as a list in id order."""
    return [str(names[k]) for k in sorted(names)] if isinstance(names, dict) else [str(n) for n in names or []]


def list_images(root: Path, exclude=lambda p: False) -> list[Path]:
    """All image files under ``root`` (recursively, sorted), skipped names and ``exclude(path)`` ones left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not skipped(d))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if p.suffix.lower() in IMAGE_SUFFIXES and not skipped(f) and not exclude(p):
                found.append(p)
    return found


def index_by_name(images: list[Path]) -> dict[str, list[Path]]:
    """Images grouped by lower-case file name and by lower-case stem (keys ``name:x.jpg`` and ``stem:x``)."""
    index = defaultdict(list)
    for p in images:
        index[f"name:{p.name.lower()}"].append(p)
        index[f"stem:{p.stem.lower()}"].append(p)
    return index


def split_word(path_parts) -> str | None:
    """The split (train/val/test) that folder or file names such as ``train2017`` or ``images/val`` denote."""
    for part in reversed(list(path_parts)):
        for word in "".join(c if c.isalpha() else " " for c in part.lower()).split():
            if word in SPLIT_WORDS:
                return SPLIT_WORDS[word]
    return None


def pick_closest(candidates: list[Path], anchor: Path, split: str | None = None) -> tuple[Path | None, str]:
    """Choose the candidate image nearest to the annotation file ``anchor``.

    Nearest means the longest common folder prefix, then a folder whose name denotes the annotation's own split
    (``train2017/`` for ``instances_train2017.json``), then the shallowest path.

    Args:
        candidates (list[Path]): Image files with the right name.
        anchor (Path): The annotation file.
        split (str | None): The annotation file's split, if any.

    Returns:
        (tuple[Path | None, str]): The chosen image, or None with the reason (none found, or a tie).
    """
    if not candidates:
        return None, "not found"

    def score(p: Path):
        common = len(Path(os.path.commonpath([p.parent, anchor.parent])).parts)
        same_split = split is not None and split_word(p.parent.parts[common:]) == split
        return common, same_split, -len(p.parts)

    ranked = sorted(candidates, key=score, reverse=True)
    if len(ranked) > 1 and score(ranked[0]) == score(ranked[1]):
        tied = ", ".join(str(p) for p in ranked if score(p) == score(ranked[0]))
        return None, f"ambiguous: several images fit equally well ({tied})"
    return ranked[0], ""


def check_image(path: Path) -> tuple[int, int]:
    """Open an image as Ultralytics' dataset check does and return its (width, height) after EXIF rotation.

    Args:
        path (Path): Image file.

    Returns:
        (tuple[int, int]): Width and height in pixels.

    Raises:
        ValueError: With the reason when the file is empty, not an image, of a format Ultralytics does not train on,
            under 10 pixels on a side, or a JPEG that is cut short and does not decode.
    """
    from ultralytics.data.utils import exif_size

    if path.stat().st_size == 0:
        raise ValueError("empty file")
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            fmt = (im.format or "").lower()
            w, h = exif_size(im)
            if fmt in {"jpeg", "mpo"} and lacks_jpeg_end(path):  # Ultralytics re-saves such JPEGs: do they decode?
                im.load()
    except Exception as e:  # noqa: BLE001  (PIL raises many types: UnidentifiedImageError, OSError, SyntaxError...)
        raise ValueError(f"{type(e).__name__}: {e}") from None
    if f".{fmt}" not in IMAGE_SUFFIXES | {".jpeg2000"}:
        raise ValueError(f"format {fmt or 'unknown'} is not one Ultralytics trains on")
    if w < 10 or h < 10:
        raise ValueError(f"{w}x{h} pixels; Ultralytics needs at least 10 on each side")
    return w, h


def file_digest(path: Path) -> str:
    """Content hash of a file, to find the same image under two names."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
