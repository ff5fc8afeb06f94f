"""The tiling settings of sliced inference and the rule that merges the boxes of overlapping tiles.

Kept free of SAHI imports, so bad settings and a missing SAHI are reported before anything is loaded.
"""

from __future__ import annotations

from yolo_freq.data.slicing import MIN_TILE  # the training tiles' lower bound: the coarsest stride of a P5 detector

# How boxes of neighbouring tiles are merged (SAHI's postprocess): non-maximum suppression, per class, of boxes whose
# intersection covers at least half of the smaller one (IOS). A defect cut by a tile border is seen whole by the
# neighbouring tile (the overlap) and cut short by this one; the cut box lies inside the whole one, so its IOS is ~1
# while its IoU is only the fraction it shows, and under IoU a cut showing less than half would stay as a second box.
# Suppression, not SAHI's default greedy merging (GREEDYNMM), which replaces boxes by the union of what they touch: at
# the low confidence of a mAP evaluation (0.001) chains of weak boxes grow the strong ones. Screened once with
# sliced-val (2026-12-03, Intel Xeon, 2 cores; exploratory: the 2x2 boards came from a script that is not kept, so the
# figures cannot be rerun from this repository) on 52 boards of 1280 px (DeepPCB's held-out grey3 composites tiled
# 2x2), tile 640, overlap 0.2, 7 checkpoints:
# GREEDYNMM fell from 0.172 to 0.007 mAP50-95 (yolov8n); NMS by IoU 0.5 scored 0.0004-0.003 mAP50-95 above this rule
# on every checkpoint (it keeps a large box that holds a smaller, stronger one of its class, which IOS suppresses), a
# difference this rule's one box per cut defect is worth; NMS by IoU 0.7, i.e. no merging beyond Ultralytics' own,
# scored 0.012-0.015 below in mAP50 (2 checkpoints). Sliced validation measures what sliced prediction does: both use
# this one rule. Class-agnostic with agnostic_nms=True.
MERGE = {"postprocess_type": "NMS", "postprocess_match_metric": "IOS", "postprocess_match_threshold": 0.5}


class SlicingError(ValueError):
    """Sliced inference cannot run as asked: bad tile or overlap, an unusable source or model, or no SAHI."""


def check_tiling(tile, overlap) -> tuple[int, float]:
    """The tile size and overlap, checked.

    Args:
        tile: Tile side in pixels of the inspected image, an integer >= ``MIN_TILE``.
        overlap: Fraction of a tile shared with its neighbour, in [0, 1).

    Returns:
        (tuple[int, float]): ``tile`` and ``overlap``.

    Raises:
        SlicingError: With a one-line reason.
    """
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < MIN_TILE:
        raise SlicingError(f"tile={tile!r}: give the tile side in pixels, an integer of at least {MIN_TILE}")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0 <= overlap < 1:
        raise SlicingError(f"overlap={overlap!r}: give the fraction of a tile its neighbour shares, in [0, 1)")
    return tile, float(overlap)


def require_sahi() -> None:
    """Raise a one-line SlicingError when SAHI, the optional dependency sliced inference runs on, is missing."""
    try:
        import sahi  # noqa: F401
    except ImportError:
        raise SlicingError('sliced inference needs SAHI: pip install "yolo-freq[slice]"') from None


__all__ = ("MERGE", "MIN_TILE", "SlicingError", "check_tiling", "require_sahi")
