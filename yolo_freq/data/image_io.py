"""Reading and writing images with their channels and bit depth as stored, for tools that cut or assemble images.

Ultralytics' own ``imread`` reduces 16-bit images to 8 bits; these functions keep every value, so a crop written back
to a lossless format equals the source region bitwise. A multi-page TIFF whose pages have one size is read as one
array with the pages as channels, in page order (as Ultralytics reads the 6-channel composites of ``yolo-freq
convert --composite colour6``), and written back as pages. EXIF orientation is applied on reading (except in TIFFs),
as OpenCV's colour decoding does when Ultralytics loads a training image: labels refer to the upright image.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112
TIFF_SUFFIXES = (".tif", ".tiff")


def orientation(path: Path) -> int:
    """The EXIF orientation (1..8, 1: as stored) OpenCV's colour decoding applies to an image file; TIFFs are read
    page by page, without it."""
    if path.suffix.lower() in TIFF_SUFFIXES:
        return 1
    if path.suffix.lower() == ".png" and b"eXIf" not in path.read_bytes():
        return 1  # PIL would decode the whole PNG to look for an eXIf chunk after the pixels
    with Image.open(path) as im:
        return int(im.getexif().get(EXIF_ORIENTATION, 1))


def _upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The image as displayed: EXIF orientation 2-8 undone (PIL's ``exif_transpose`` in NumPy)."""
    turn = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }.get(orientation)
    return np.ascontiguousarray(turn(image)) if turn else image


def read_unchanged(path: Path) -> tuple[np.ndarray | None, bool]:
    """An image with its channels and depth as stored, upright.

    Args:
        path (Path): The image file.

    Returns:
        (tuple[np.ndarray | None, bool]): The (H, W) or (H, W, C) array (None if it cannot be decoded) and whether
            it is stored as a multi-page TIFF whose pages are its channels.
    """
    data = np.fromfile(str(path), np.uint8)
    if not data.size:
        return None, False
    if path.suffix.lower() in TIFF_SUFFIXES:
        ok, pages = cv2.imdecodemulti(data, cv2.IMREAD_UNCHANGED)
        if not ok or not pages:
            return None, False
        if len(pages) > 1 and pages[0].ndim == 2 and all(p.shape == pages[0].shape for p in pages):
            return np.stack(pages, axis=2), True
        return pages[0], False  # one page, or pages of mixed sizes: the first page, as Ultralytics reads it
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return (None if image is None else _upright(image, orientation(path))), False


def write_unchanged(path: Path, image: np.ndarray, pages: bool) -> None:
    """Write an image as :func:`read_unchanged` read it, in the format of ``path``'s suffix.

    Args:
        path (Path): The file to write.
        image (np.ndarray): (H, W) or (H, W, C) array of any depth the format stores.
        pages (bool): Write each channel as a TIFF page (how multi-page TIFFs were read).

    Raises:
        OSError: When OpenCV cannot encode or write it.
    """
    if pages:
        ok = cv2.imwritemulti(str(path), [image[..., c] for c in range(image.shape[2])])
    else:
        ok, encoded = cv2.imencode(path.suffix, image)
        if ok:
            encoded.tofile(str(path))
    if not ok:
        raise OSError(f"could not write {path}")
