"""What stock Ultralytics commands do with reference composites (datasets whose YAML has a ``reference:`` entry).

* Training: augmentations that would mix the meaning of a composite's channels are switched off, with a logged line:
  HSV (it treats the channels as colour and mixes them), the BGR channel flip (it swaps image and difference), and
  Albumentations' pixel transforms where that package is installed (ToGray and CLAHE mix channels, JPEG compression
  codes them together). Flips, mosaic, scaling and the other geometric augmentations move all channels alike and
  stay on. They are zeroed in the dataset's own copy of the arguments, where Ultralytics zeroes what a dataset
  does not support; the run's recorded arguments (``args.yaml``, checkpoints) keep what was asked, and the logged
  line says what was not applied.
* The trained model records the composite spec (``model.reference``), so ``yolo-freq predict`` composes new images
  exactly as the training images were composed, from the checkpoint alone.
* Plain ``yolo predict`` with such a model warns that it expects composites: raw images would give wrong results.
"""

from __future__ import annotations

import importlib.util

from ultralytics.utils import LOGGER

from .compose import CompositeSpec, ReferenceError

CHANNEL_MIXING = ("hsv_h", "hsv_s", "hsv_v", "bgr")  # augmentation arguments that mix or swap channels


def reference_spec(data: dict | None) -> CompositeSpec | None:
    """The composite spec of a dataset dict (``check_det_dataset`` output), None for a dataset of plain images.

    Raises:
        ReferenceError: For a malformed ``reference:`` entry or one whose form disagrees with ``channels:``.
    """
    if not data or data.get("reference") is None:
        return None
    spec = CompositeSpec.from_dict(data["reference"])
    if data.get("channels", 3) != spec.channels:
        raise ReferenceError(
            f"the dataset's reference entry {data['reference']} makes {spec.channels}-channel composites but its "
            f"channels: is {data.get('channels', 3)}; correct one of them"
        )
    return spec


def keep_channels_apart(hyp) -> list[str]:
    """Switch off, in ``hyp``, every augmentation that mixes a composite's channels; return what was changed."""
    changed = [f"{k}={getattr(hyp, k)}" for k in CHANNEL_MIXING if getattr(hyp, k, 0)]
    for k in CHANNEL_MIXING:
        if hasattr(hyp, k):
            setattr(hyp, k, 0.0)
    if importlib.util.find_spec("albumentations") is not None and getattr(hyp, "augmentations", None) != []:
        changed.append("Albumentations" + (" (custom list)" if getattr(hyp, "augmentations", None) else ""))
        hyp.augmentations = []  # an empty list: Ultralytics applies none, not its defaults
    return changed


def _wrap_build_transforms(build_transforms):
    def build_transforms_keeping_channels_apart(self, hyp=None):
        if hyp is not None and self.augment and reference_spec(getattr(self, "data", None)) is not None:
            changed = keep_channels_apart(hyp)
            if changed:
                LOGGER.warning(
                    f"yolo-freq: this dataset holds reference composites; switched off {', '.join(changed)}, which "
                    "would mix the meaning of their channels (geometric augmentations stay on)"
                )
        return build_transforms(self, hyp)

    build_transforms_keeping_channels_apart.__wrapped__ = build_transforms
    return build_transforms_keeping_channels_apart


def _wrap_set_model_attributes(set_model_attributes):
    def set_model_attributes_with_reference(self):
        set_model_attributes(self)
        spec = reference_spec(self.data)
        self.model.reference = spec.to_dict() if spec else None

    set_model_attributes_with_reference.__wrapped__ = set_model_attributes
    return set_model_attributes_with_reference


def _wrap_setup_model(setup_model):
    def setup_model_warning_on_composites(self, model, verbose=True):
        setup_model(self, model, verbose)
        spec = getattr(getattr(self.model, "model", None), "reference", None)
        if spec and not getattr(self, "composes_references", False):
            LOGGER.warning(
                f"yolo-freq: this model was trained on images composed with a reference ({spec['form']}); plain "
                "images give wrong results. Predict with `yolo-freq predict model=... source=... reference=GOLDEN` "
                "(or on composites that `yolo-freq convert --reference` wrote)."
            )

    setup_model_warning_on_composites.__wrapped__ = setup_model
    return setup_model_warning_on_composites


def register() -> None:
    """Install the three behaviours of the module docstring (idempotent)."""
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.engine.predictor import BasePredictor
    from ultralytics.models.yolo.detect import DetectionTrainer

    for cls, name, wrap in (
        (YOLODataset, "build_transforms", _wrap_build_transforms),
        (DetectionTrainer, "set_model_attributes", _wrap_set_model_attributes),
        (BasePredictor, "setup_model", _wrap_setup_model),
    ):
        current = cls.__dict__[name]
        if not getattr(current, "yolo_freq_patch", False):  # not __wrapped__: Ultralytics' decorators set it too
            patched = wrap(current)
            patched.yolo_freq_patch = True
            setattr(cls, name, patched)
