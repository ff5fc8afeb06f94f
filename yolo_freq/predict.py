"""Prediction with golden references: ``yolo-freq predict`` and :func:`predict`, and :func:`compose_input` for
exported models.

Each image is aligned to its reference and composed exactly as ``yolo-freq convert`` composed the training images
(:func:`yolo_freq.reference.compose`, with the spec the checkpoint recorded), then Ultralytics' own predictor takes
over: letterbox, inference, NMS, and its outputs (annotated images, ``labels/*.txt`` with ``save_txt``, crops,
``Results``). Boxes are drawn on the inspected image, not on the composite.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from ultralytics.models.yolo.detect import DetectionPredictor
from ultralytics.utils import DEFAULT_CFG, LOGGER

from yolo_freq.data.references import reference_finder
from yolo_freq.reference import COMPOSITES, CompositeSpec, Golden, ReferenceError, compose, read_image

FORM_OF_CHANNELS = {c: form for form, c in COMPOSITES.items()}  # for exported models, which carry channels only


def model_spec(backend, **given) -> CompositeSpec:
    """The composite spec to predict with: the one the checkpoint recorded, with ``given`` settings overriding.

    Exported models (ONNX and the other formats) record only their input channels: 3 means grey3 and 6 colour6, with
    the default alignment settings, unless ``given`` says otherwise.

    Args:
        backend (AutoBackend): The loaded model.
        **given: ``form``, ``align``, ``min_response``; None values are ignored.

    Raises:
        ReferenceError: When the checkpoint was trained on plain images and no form is given, or the given form is
            not the trained one.
    """
    given = {k: v for k, v in given.items() if v is not None}
    trained = getattr(getattr(backend, "model", None), "reference", None)
    if trained:
        spec = CompositeSpec.from_dict(trained)
        if given.get("form", spec.form) != spec.form:
            raise ReferenceError(f"this model was trained on {spec.form} composites, not {given['form']}")
        return replace(spec, **given)
    if getattr(backend, "format", "pt") == "pt" and "form" not in given:
        raise ReferenceError(
            "this model was trained on plain images (its checkpoint records no reference composite): train it on a "
            "dataset from `yolo-freq convert --reference`, or, if it was trained on composites made another way, "
            f"say which with composite={'|'.join(COMPOSITES)}"
        )
    channels = getattr(backend, "channels", 3)
    form = given.pop("form", FORM_OF_CHANNELS.get(channels))
    if form is None or COMPOSITES[form] != channels:
        raise ReferenceError(f"the model takes {channels} input channels; no composite form makes {channels}")
    return CompositeSpec(form=form, **given)


class ReferencePredictor(DetectionPredictor):
    """Ultralytics' DetectionPredictor that composes every image with its aligned reference before the letterbox.

    Args:
        find_reference (Callable[[Path], tuple[Path | None, str]]): Image path -> its reference, or None and why
            (:func:`yolo_freq.data.references.reference_finder`).
        composite (dict | None): ``form``, ``align``, ``min_response`` overriding the checkpoint's spec.

    Attributes:
        spec (CompositeSpec): The spec in use, set when the model is set up.
    """

    composes_references = True  # read by the warning that plain `yolo predict` gives for reference-trained models

    def __init__(self, cfg=DEFAULT_CFG, overrides=None, _callbacks=None, *, find_reference, composite=None):
        super().__init__(cfg, overrides, _callbacks)
        self.find_reference, self.composite = find_reference, composite or {}
        self.spec, self.alignments, self.goldens = None, [], {}

    def setup_model(self, model, verbose: bool = True):
        super().setup_model(model, verbose)
        self.spec = model_spec(self.model, **self.composite)

    def reference_of(self, image: Path) -> Golden:
        """The prepared golden image of ``image``; the last few are kept, so one golden serves every frame."""
        path, why = self.find_reference(image)
        if path is None or not path.is_file():
            raise ReferenceError(f"{image}: {why or f'its reference {path} does not exist'}")
        if path not in self.goldens:
            if len(self.goldens) == 8:
                self.goldens.pop(next(iter(self.goldens)))
            self.goldens[path] = Golden.read(path)
        return self.goldens[path]

    def preprocess(self, im):
        if isinstance(im, torch.Tensor):
            raise ReferenceError(
                "reference prediction composes images; give image files, arrays or a video, not tensors"
            )
        composed, self.alignments = [], []
        for path, frame in zip(self.batch[0], im):
            composite, alignment = compose(frame, self.reference_of(Path(path)), self.spec)
            composed.append(composite)
            self.alignments.append(alignment)
        return super().preprocess(composed)

    def postprocess(self, preds, img, orig_imgs, **kwargs):
        results = super().postprocess(preds, img, orig_imgs, **kwargs)
        for result, alignment in zip(results, self.alignments):
            result.alignment = alignment  # Alignment | None: the shift used and its response, per image
        return results

    def write_results(self, i, p, im, s):
        text = super().write_results(i, p, im, s)
        alignment = self.alignments[i]
        if alignment is not None and not alignment.applied:
            LOGGER.warning(f"{p}: alignment to its reference failed ({alignment.describe()}); composed unshifted")
        return text + (f", {alignment.describe()}" if alignment is not None else "")


def _source_images(source) -> list[Path]:
    """The image files of a folder source, for the reference check before predicting (other sources: none)."""
    from ultralytics.data.utils import IMG_FORMATS

    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return sorted(p for p in Path(source).iterdir() if p.suffix[1:].lower() in IMG_FORMATS)
    return []


def _unusable(image: Path, find) -> str:
    """Why ``image`` cannot be composed with its reference ('' if it can): none found, unreadable, another size."""
    from yolo_freq.data.images import check_image

    path, why = find(image)
    if path is None or not path.is_file():
        return why or f"its reference {path} does not exist"
    try:
        size, ref_size = check_image(image), check_image(path)
    except ValueError as e:
        return f"{path.name} cannot be read ({e})"
    return (
        ""
        if size == ref_size
        else f"its reference {path.name} is {ref_size[0]}x{ref_size[1]}, it is {size[0]}x{size[1]}"
    )


def check_references(images: list[Path], find, source) -> None:
    """Raise a ReferenceError naming (the first five of) ``images`` that have no usable reference, before any runs.

    Args:
        images (list[Path]): The image files to check.
        find (Callable[[Path], tuple[Path | None, str]]): Image path -> its reference, or None and why.
        source: What the images came from, for the message.
    """
    unusable = [(p, why) for p in images if (why := _unusable(p, find))]
    if unusable:
        listed = "; ".join(f"{p.name}: {why}" for p, why in unusable[:5])
        more = f" and {len(unusable) - 5} more" if len(unusable) > 5 else ""
        raise ReferenceError(f"{len(unusable)} images in {source} have no usable reference ({listed}{more})")


def predict(model, source, reference, composite=None, align=None, min_response=None, **kwargs):
    """Predict on images with their golden references; Ultralytics' ``predict`` arguments and outputs otherwise.

    Args:
        model (str | Path | YOLO): A checkpoint trained on composites (``.pt``) or its export (``.onnx``, ...).
        source: What ``yolo predict`` takes: an image, a folder, a glob, a video, a stream, an array.
        reference (str | Path): One golden image for every image, a folder of them matched by file name, or a
            mapping file (``.csv`` image,reference or ``.json``), as for ``yolo-freq convert``.
        composite (str | None): Composite form; needed only for models that do not record it (see ``model_spec``).
        align (bool | None): Override the checkpoint's alignment setting.
        min_response (float | None): Override the checkpoint's alignment threshold.
        **kwargs: Ultralytics predict arguments (``conf``, ``imgsz``, ``save``, ``save_txt``, ``stream``, ...).

    Returns:
        (list[Results] | generator): As ``YOLO.predict``; each result also has ``alignment`` (Alignment | None).

    Raises:
        ReferenceError: Before anything runs, when a folder source has images without a usable reference (none,
            unreadable, another size) or the model and the composite settings do not fit; during the run, for an
            image of another kind of source whose reference is unusable.
    """
    from functools import partial

    from ultralytics import YOLO

    root = Path(source) if isinstance(source, (str, Path)) and Path(source).is_dir() else Path.cwd()
    find = reference_finder(reference, root)
    check_references(_source_images(source), find, source)
    composite_args = dict(form=composite, align=align, min_response=min_response)
    yolo = model if isinstance(model, YOLO) else YOLO(model, task="detect")
    predictor = partial(ReferencePredictor, find_reference=find, composite=composite_args)
    return yolo.predict(source=source, predictor=predictor, **kwargs)


def compose_input(image, reference, spec: CompositeSpec | None = None, imgsz: int = 640, stride: int = 32):
    """The input tensor of an exported model (ONNX, ...) for one image and its reference, as a numpy array.

    Composes exactly as training and :func:`predict` do, then letterboxes to ``imgsz`` (grey padding 114, centred),
    reverses a 3-channel composite to RGB order and scales to [0, 1], as Ultralytics' predictor does.

    Args:
        image (str | Path | np.ndarray): The inspected image (a file, or an array as OpenCV reads it, BGR).
        reference (str | Path | np.ndarray | Golden): Its golden image.
        spec (CompositeSpec | None): The model's composite spec (default grey3, aligned).
        imgsz (int): The exported model's input size.
        stride (int): The model's stride (letterbox rounding).

    Returns:
        (tuple[np.ndarray, Alignment | None]): The input, (1, C, imgsz, imgsz) float32, and the alignment used.
    """
    from ultralytics.data.augment import LetterBox

    spec = spec or CompositeSpec()
    if isinstance(image, (str, Path)):
        image = read_image(image, spec.channels)
    if not isinstance(reference, Golden):
        reference = Golden.read(reference) if isinstance(reference, (str, Path)) else Golden(reference)
    composite, alignment = compose(image, reference, spec)
    x = LetterBox((imgsz, imgsz), auto=False, stride=stride)(image=composite)
    if x.ndim == 2:
        x = x[..., None]
    x = x.transpose(2, 0, 1)[None]  # HWC -> 1CHW
    if x.shape[1] == 3:
        x = x[:, ::-1]  # BGR order -> the RGB order Ultralytics trains in
    return np.ascontiguousarray(x, dtype=np.float32) / 255.0, alignment


__all__ = ("ReferencePredictor", "check_references", "compose_input", "model_spec", "predict")
