"""Sliced inference of whole boards: predict them tile by tile and measure what that gains.

Tiny defects on a large board vanish when the whole board is letterboxed to the model's input size; cut into tiles
of about the size the model was trained on, each defect keeps its pixels. SAHI cuts the tiles and merges the boxes
of overlapping tiles, Ultralytics' predictor predicts each tile, and with golden references each board is composed
with its aligned reference as a whole first.

* :mod:`.tiles`: tile and overlap settings, the merge rule, the SAHI check (no SAHI import).
* :mod:`.detector`: SAHI around Ultralytics' predictor, with the channel order kept as Ultralytics reads images.
* :mod:`.predict`: ``yolo-freq predict ... tile=``, :func:`sliced_predict`, Ultralytics-style outputs.
* :mod:`.val`: ``yolo-freq sliced-val``, :func:`sliced_val`, whole-image and sliced mAP side by side.

SAHI is the ``slice`` extra (``pip install "yolo-freq[slice]"``); it is imported only when a run starts.
"""

from .predict import SlicedPredictor, sliced_predict
from .tiles import MERGE, MIN_TILE, SlicingError
from .val import SlicedValidation, sliced_val

__all__ = ("MERGE", "MIN_TILE", "SlicedPredictor", "SlicedValidation", "SlicingError", "sliced_predict", "sliced_val")
