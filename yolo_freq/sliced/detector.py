"""Whole images predicted tile by tile: SAHI cuts the tiles and merges their boxes, Ultralytics' predictor predicts
each tile (letterbox, inference, NMS, exactly as ``yolo predict`` does for a whole image).

The channel-order trap. SAHI decodes image files to RGB itself, and its ``UltralyticsDetectionModel`` reverses the
channel axis of every tile before handing it to YOLO, to undo that decoding. Our images never pass through SAHI's
decoder: they are read as Ultralytics reads them (OpenCV's BGR order) or composed from such reads (a reference
composite: inspected, reference, |difference| in stored order), and handed to SAHI as arrays, which SAHI slices
without touching the channels. :class:`TileModel` therefore hands each tile to the predictor unchanged, and the
predictor makes the one BGR -> RGB flip it makes for whole images and that training made: every tile reaches the
model as the same crop of the array unsliced prediction would give it. Reversing once more, as SAHI's wrapper does,
would feed a grey3 composite's difference channel where the model learnt the inspected image.

Imports SAHI at module level: import it after :func:`yolo_freq.sliced.tiles.require_sahi`.
"""

from __future__ import annotations

import numpy as np
import torch
from sahi.models.ultralytics import UltralyticsDetectionModel
from sahi.predict import get_prediction, get_sliced_prediction
from sahi.slicing import get_slice_bboxes
from ultralytics.models.yolo.detect import DetectionPredictor

from .tiles import MERGE, SlicingError

# Outputs are written by the caller for the whole image; the predictor of tiles writes and logs nothing itself
QUIET = {"save": False, "save_txt": False, "save_crop": False, "show": False, "verbose": False, "visualize": False}


class CompositeTilePredictor(DetectionPredictor):
    """Ultralytics' detection predictor fed tiles of composites made beforehand (yolo_freq.predict composes them)."""

    composes_references = True  # read by the warning that plain prediction gives for reference-trained models


def load_predictor(model, composes: bool = False, **kwargs) -> tuple:
    """Ultralytics' detection predictor for ``model``, set up as ``YOLO.predict`` sets it up, writing nothing.

    Args:
        model (str | Path | YOLO): A detection checkpoint (``.pt``) or an export Ultralytics loads (``.onnx``, ...).
        composes (bool): The inputs are reference composites (no warning that the model expects them).
        **kwargs: Ultralytics predict arguments (``conf``, ``iou``, ``imgsz``, ``device``, ``batch``, ...), checked
            by Ultralytics; defaults as ``YOLO.predict`` (the checkpoint's training ``imgsz``, ``conf`` 0.25).

    Returns:
        (tuple[YOLO, DetectionPredictor]): The model and its predictor, the backend loaded.

    Raises:
        SlicingError: For a model of another task than detection.
    """
    from ultralytics import YOLO

    yolo = model if isinstance(model, YOLO) else YOLO(model, task="detect")
    if yolo.task != "detect":
        raise SlicingError(f"{model} is a {yolo.task} model; sliced inference takes detection models")
    args = {**yolo.overrides, "conf": 0.25, "batch": 1, "rect": True, **kwargs, "mode": "predict", **QUIET}
    predictor = (CompositeTilePredictor if composes else DetectionPredictor)(overrides=args)
    predictor.setup_model(model=yolo.model, verbose=False)
    return yolo, predictor


class TileModel(UltralyticsDetectionModel):
    """SAHI's Ultralytics model with our predictor behind it and the channel order left alone (module docstring).

    Args:
        yolo (YOLO): The model (SAHI reads its task from it).
        predictor (DetectionPredictor): Its predictor from :func:`load_predictor`; its arguments rule inference.
    """

    def __init__(self, yolo, predictor):
        self.predictor = predictor
        names = predictor.model.names
        super().__init__(
            model=yolo,
            confidence_threshold=predictor.args.conf,
            category_mapping={str(k): v for k, v in names.items()},  # from the backend: exports carry them too
            device="cpu",  # SAHI's own device setting goes unused: the predictor runs on its `device` argument
        )

    def perform_batch_inference(self, images: list[np.ndarray]) -> None:
        """Predict tiles as they are: in the channel order of the array SAHI sliced (module docstring)."""
        results = self.predictor(source=[np.ascontiguousarray(im) for im in images])
        self._original_predictions = [r.boxes.data for r in results]
        self._original_shapes = [im.shape for im in images]


class TiledDetector:
    """Boxes of whole images predicted tile by tile, merged by ``MERGE``; or, for comparison, predicted whole.

    Args:
        yolo (YOLO): The model.
        predictor (DetectionPredictor): Its predictor from :func:`load_predictor`.
        tile (int): Tile side in pixels, checked by :func:`yolo_freq.sliced.tiles.check_tiling`.
        overlap (float): Fraction of a tile shared with each neighbour.
    """

    def __init__(self, yolo, predictor, tile: int, overlap: float):
        self.predictor, self.tile, self.overlap = predictor, tile, overlap
        self.model = TileModel(yolo, predictor)

    def tiles(self, height: int, width: int) -> list[list[int]]:
        """The tiles of an image of this size, [x1, y1, x2, y2] each, as SAHI cuts them (an image smaller than a
        tile is one tile of its own size; the last row and column are moved back inside the image)."""
        return get_slice_bboxes(height, width, self.tile, self.tile, False, self.overlap, self.overlap)

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        """Boxes of ``image`` predicted tile by tile.

        Args:
            image (np.ndarray): (H, W, C) in the channel order the model's predictor takes (module docstring).

        Returns:
            (torch.Tensor): (N, 6) x1, y1, x2, y2, confidence, class in image pixels, by descending confidence, at
                most ``max_det``. An image within one tile has no borders to merge across: its boxes are the
                predictor's own.
        """
        h, w = image.shape[:2]
        if len(self.tiles(h, w)) == 1:
            found = get_prediction(image, self.model, postprocess=None).object_prediction_list
        else:
            found = get_sliced_prediction(
                image,
                self.model,
                slice_height=self.tile,
                slice_width=self.tile,
                overlap_height_ratio=self.overlap,
                overlap_width_ratio=self.overlap,
                perform_standard_pred=False,  # a whole-board pass sees defects far smaller than the model learnt them
                postprocess_class_agnostic=bool(self.predictor.args.agnostic_nms),
                verbose=0,
                batch_size=self.predictor.args.batch,
                force_postprocess_type=True,  # keep MERGE at low confidence too (SAHI would switch to IoU)
                **MERGE,
            ).object_prediction_list
        rows = [[*p.bbox.to_xyxy(), p.score.value, p.category.id] for p in found]
        boxes = torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)
        order = torch.argsort(boxes[:, 4], descending=True, stable=True)
        return boxes[order][: self.predictor.args.max_det]

    def whole(self, image: np.ndarray) -> torch.Tensor:
        """Boxes of ``image`` predicted whole by the same predictor, (N, 6) as :meth:`__call__` returns."""
        return self.predictor(source=[np.ascontiguousarray(image)])[0].boxes.data.cpu()


__all__ = ("CompositeTilePredictor", "TileModel", "TiledDetector", "load_predictor")
