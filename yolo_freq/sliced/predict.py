"""Sliced prediction of whole boards: ``yolo-freq predict ... tile=640`` and :func:`sliced_predict`.

Each board is read as Ultralytics reads it and, with golden references, aligned to and composed with its reference
as a whole (:func:`yolo_freq.reference.compose`, the spec the model records, as ``yolo-freq predict`` composes), so
every tile holds the matching part of the aligned reference. The board, or its composite, is then predicted tile by
tile (:mod:`.detector`) and the boxes of all tiles merged (``tiles.MERGE``). Results are Ultralytics ``Results`` on
the inspected image, and are saved as ``yolo predict`` saves them: the annotated image, ``labels/<stem>.txt`` with
``save_txt``, crops with ``save_crop``, in ``runs/detect/predict*``; plus ``predictions.json``, every board's
detections (with ``save``, the command line's default, or ``save_json``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
from ultralytics.utils import LOGGER

from yolo_freq.predict import check_references, model_spec
from yolo_freq.reference import CompositeSpec, Golden, ReferenceError, compose, read_image

from .tiles import SlicingError, check_tiling, require_sahi


def board_sources(source) -> list[tuple[str, np.ndarray | None]]:
    """The boards of ``source``: (path, None) for image files, (name, array) for arrays.

    Args:
        source: An image file, a folder, a glob, a ``.txt``/``.csv`` list of files or a list of any of them (listed
            by Ultralytics' loader, so as ``yolo predict`` lists them), or an (H, W, C) array in OpenCV's BGR order
            or a list of such arrays (named ``image0.jpg``, ... as Ultralytics names them).

    Raises:
        FileNotFoundError: For a path that does not exist or a folder without images.
        SlicingError: For videos and streams: sliced prediction takes still images.
    """
    from ultralytics.data.loaders import LoadImagesAndVideos

    arrays = [source] if isinstance(source, np.ndarray) else source
    if isinstance(arrays, (list, tuple)) and arrays and all(isinstance(a, np.ndarray) for a in arrays):
        return [(f"image{i}.jpg", a) for i, a in enumerate(arrays)]
    if isinstance(source, str) and (source.isnumeric() or "://" in source):
        raise SlicingError(f"source={source}: sliced prediction takes image files, folders or arrays, not streams")
    listing = LoadImagesAndVideos(source)
    listing.close()
    videos = [f for f, video in zip(listing.files, listing.video_flag) if video]
    if videos:
        raise SlicingError(f"{videos[0]} is a video: sliced prediction takes still images")
    return [(f, None) for f in listing.files]


def readable(image: Path) -> bool:
    """Whether an image file's header can be read (an unreadable board is reported by the run, not refused)."""
    from yolo_freq.data.images import check_image

    try:
        check_image(image)
    except ValueError:
        return False
    return True


class SlicedPredictor:
    """Predicts whole boards tile by tile with a YOLO detection model, optionally against golden references.

    Args:
        model (str | Path | YOLO): A detection checkpoint (``.pt``) or an export Ultralytics loads (``.onnx``, ...).
        tile (int): Tile side in pixels of the board (>= 32); a board within one tile is predicted whole.
        overlap (float): Fraction of a tile shared with each neighbour, in [0, 1).
        reference (str | Path | None): Golden images, as for ``yolo-freq predict``: one image for every board, a
            folder of them matched by file name, or a mapping file (``.csv`` image,reference or ``.json``).
        composite (str | None): Composite form, for models that do not record it (see ``model_spec``).
        align (bool | None): Override the model's alignment setting.
        min_response (float | None): Override the model's alignment threshold.
        **kwargs: Ultralytics predict arguments: ``conf``, ``iou``, ``imgsz`` (of each tile), ``device``, ``half``,
            ``max_det`` (per board, after merging), ``classes``, ``agnostic_nms`` (also merges tiles across
            classes), ``batch`` (tiles per forward pass), ``save``, ``save_txt``, ``save_conf``, ``save_crop``,
            ``save_json``, ``project``, ``name``, ``exist_ok``, ``line_width``, ``show_labels``, ``show_conf``,
            ``show_boxes``, ``verbose``.

    Attributes:
        args (IterableSimpleNamespace): The Ultralytics arguments in use.
        save_dir (Path | None): Where outputs go, set when the first one is saved.
        failed (list[tuple[str, str]]): Boards that could not be read, with the reason, in the last run.

    Raises:
        SlicingError: For a bad tile or overlap, a model of another task, or SAHI missing.
        ReferenceError: When the model and the composite settings do not fit.
        SyntaxError: For an argument Ultralytics does not know (its own message).
    """

    def __init__(self, model, tile: int, overlap: float = 0.2, reference=None, composite=None, align=None,
                 min_response=None, **kwargs):  # fmt: skip
        from ultralytics.cfg import get_cfg
        from ultralytics.utils import DEFAULT_CFG

        from .detector import TiledDetector, load_predictor

        self.tile, self.overlap = check_tiling(tile, overlap)
        require_sahi()
        self.reference = reference
        yolo, predictor = load_predictor(model, composes=reference is not None, **kwargs)
        # YOLO.predict's defaults: nothing saved unless asked (the command line asks)
        self.args = get_cfg(DEFAULT_CFG, {**yolo.overrides, "conf": 0.25, "save": False, **kwargs, "mode": "predict"})
        self.detector = TiledDetector(yolo, predictor, self.tile, self.overlap)
        self.names = predictor.model.names
        self.channels = getattr(predictor.model, "channels", 3)
        self.spec: CompositeSpec | None = None
        if reference is not None:
            self.spec = model_spec(predictor.model, form=composite, align=align, min_response=min_response)
        self.save_dir, self.failed = None, []

    def __call__(self, source, stream: bool = False):
        """Predict every board of ``source`` (see :func:`board_sources`).

        Returns:
            (list[Results] | Iterator[Results]): One Ultralytics ``Results`` per board read, on the inspected image;
                with references each also has ``alignment`` (Alignment | None). A generator when ``stream``.

        Raises:
            ReferenceError: Before anything runs, when a board file has no usable reference.
        """
        from yolo_freq.data.references import reference_finder

        boards = board_sources(source)
        find = None
        if self.reference is not None:
            root = Path(source) if isinstance(source, (str, Path)) and Path(source).is_dir() else Path.cwd()
            find = reference_finder(self.reference, root)
            # a missing, unreadable or differently sized reference is a set-up error, found before anything runs
            check_references([Path(p) for p, a in boards if a is None and readable(Path(p))], find, source)
        results = self._stream(boards, find)
        return results if stream else list(results)

    def _stream(self, boards, find) -> Iterator:
        from ultralytics.engine.results import Results

        self.failed, summaries, stems = [], [], set()
        golden_of = lru_cache(maxsize=8)(Golden.read)  # one golden image usually serves every board
        try:
            for i, (path, array) in enumerate(boards, 1):
                try:
                    image = array if array is not None else read_image(path, self.channels)
                except ReferenceError as e:  # read_image's "cannot be read as an image"
                    LOGGER.warning(f"{e}; skipped, the other images are predicted")
                    self.failed.append((str(path), "cannot be read as an image"))
                    continue
                start = time.perf_counter()
                composite, alignment = image, None
                if self.spec is not None:
                    reference, why = find(Path(path))
                    if reference is None:
                        raise ReferenceError(f"{path}: {why}")
                    composite, alignment = compose(image, golden_of(reference), self.spec)
                boxes = self.detector(composite)
                ms = (time.perf_counter() - start) * 1000
                result = Results(orig_img=image, path=str(path), names=self.names, boxes=boxes)
                if self.spec is not None:
                    result.alignment = alignment
                self._save(result, stems)
                summaries.append({"image": str(path), "width": image.shape[1], "height": image.shape[0],
                                  "detections": result.summary()})  # fmt: skip
                self._log(i, len(boards), result, alignment, ms)
                yield result
        finally:
            self._finish(summaries)

    def _log(self, i: int, n: int, result, alignment, ms: float) -> None:
        h, w = result.orig_shape
        tiles = len(self.detector.tiles(h, w))
        if tiles == 1 and (w < self.tile or h < self.tile):
            LOGGER.warning(f"{result.path} is {w}x{h}, within one tile={self.tile}: predicted whole, as one tile")
        if alignment is not None and not alignment.applied:
            LOGGER.warning(
                f"{result.path}: alignment to its reference failed ({alignment.describe()}); composed unshifted"
            )
        if self.args.verbose:
            shift = f", {alignment.describe()}" if alignment is not None else ""
            found = result.verbose() or "(no detections), "
            LOGGER.info(
                f"image {i}/{n} {result.path}: {w}x{h}, {tiles} {'tile' if tiles == 1 else 'tiles'} of {self.tile}{shift}, {found}{ms:.1f}ms"
            )

    def _save(self, result, stems: set) -> None:
        """Write one board's outputs where and as Ultralytics' predictor writes them."""
        import cv2
        from ultralytics.cfg import get_save_dir

        args = self.args
        if not (args.save or args.save_txt or args.save_crop or args.save_json):
            return
        if self.save_dir is None:
            self.save_dir = get_save_dir(args)
            (self.save_dir / "labels" if args.save_txt else self.save_dir).mkdir(parents=True, exist_ok=True)
        p = Path(result.path)
        stem, k = p.stem, 1
        while stem in stems:  # same-stem boards (a.jpg + a.png) get -2, -3... as Ultralytics names them
            k += 1
            stem = f"{p.stem}-{k}"
        stems.add(stem)
        result.save_dir = str(self.save_dir)
        if args.save:
            plotted = result.plot(line_width=args.line_width, boxes=args.show_boxes, conf=args.show_conf,
                                  labels=args.show_labels)  # fmt: skip
            cv2.imwrite(str(self.save_dir / f"{stem}.jpg"), plotted)
        if args.save_txt:
            txt = self.save_dir / "labels" / f"{stem}.txt"
            txt.unlink(missing_ok=True)  # replace, not append to, a previous run's labels
            result.save_txt(txt, save_conf=args.save_conf)
        if args.save_crop:
            result.save_crop(save_dir=self.save_dir / "crops", file_name=f"{stem}.jpg")

    def _finish(self, summaries: list[dict]) -> None:
        args = self.args
        if self.save_dir is not None and (args.save or args.save_json):
            run = {"tile": self.tile, "overlap": self.overlap, "reference": None if self.spec is None else
                   self.spec.to_dict(), "boards": summaries, "unreadable": [p for p, _ in self.failed]}  # fmt: skip
            (self.save_dir / "predictions.json").write_text(json.dumps(run, indent=1))
        if self.failed:
            LOGGER.warning(f"{len(self.failed)} images could not be read and were skipped: "
                           f"{', '.join(Path(p).name for p, _ in self.failed)}")  # fmt: skip
        if self.save_dir is not None and args.verbose:
            labels = (
                f", {len(list((self.save_dir / 'labels').glob('*.txt')))} labels in labels/" if args.save_txt else ""
            )
            LOGGER.info(f"Results saved to {self.save_dir}{labels}")


def sliced_predict(model, source, tile: int, overlap: float = 0.2, reference=None, stream: bool = False, **kwargs):
    """Predict whole boards tile by tile; ``YOLO.predict``'s arguments and ``Results`` otherwise.

    Args:
        model (str | Path | YOLO): A detection checkpoint (``.pt``) or an export Ultralytics loads (``.onnx``, ...).
        source: Image files, a folder, a glob or arrays (see :func:`board_sources`).
        tile (int): Tile side in pixels of the board (>= 32).
        overlap (float): Fraction of a tile shared with each neighbour, in [0, 1).
        reference (str | Path | None): Golden images (see :class:`SlicedPredictor`).
        stream (bool): Return a generator instead of a list.
        **kwargs: ``composite``, ``align``, ``min_response`` and Ultralytics predict arguments (see
            :class:`SlicedPredictor`).

    Returns:
        (list[Results] | Iterator[Results]): One ``Results`` per readable board; unreadable boards are logged and
            skipped.

    Example:
        >>> from yolo_freq.sliced import sliced_predict
        >>> for r in sliced_predict("best.pt", "boards/", tile=640, overlap=0.2, save=True):
        ...     print(r.path, r.boxes.xyxy)
    """
    return SlicedPredictor(model, tile, overlap, reference, **kwargs)(source, stream=stream)


__all__ = ("SlicedPredictor", "board_sources", "sliced_predict")
