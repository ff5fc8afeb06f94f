"""Distillation in stock Ultralytics commands: the ``kd_*`` training arguments and the choice of trainer.

Ultralytics validates every training key against DEFAULT_CFG_DICT (a dict: its DEFAULT_CFG_KEYS view follows it) and
type-checks the keys listed in the CFG_*_KEYS frozensets of ``ultralytics.cfg``; BaseTrainer's default ``cfg`` is the
DEFAULT_CFG namespace built from that dict at import. The kd_* keys are added to all three, so the CLI and
``get_cfg`` accept them like Ultralytics' own (unknown keys still fail). Stock ``yolo`` checks argument names right
after importing ``ultralytics.cfg``, before anything imports ``ultralytics.nn.tasks``: the kd_* keys reach that check
only because the start-up hook also loads yolo-freq once ``ultralytics.cfg`` is imported.

The trainer class is chosen in ``Model.train`` (the CLI ends there too): ``trainer or task_map[task]["trainer"]``;
the wrapper picks :class:`yolo_freq.engine.trainer.DistillationTrainer` for detection when a distillation argument is
given. It needs Ultralytics' Model class, so :func:`yolo_freq.registry.register` runs it once Model exists.
"""

from __future__ import annotations

import inspect

from yolo_freq.patch import rebind, unsupported

from . import options


def register_arguments() -> None:
    """Add the kd_* keys to Ultralytics' default config and argument type checks."""
    from ultralytics import cfg
    from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT

    missing = [n for n in ("CFG_FLOAT_KEYS", "CFG_FRACTION_KEYS") if not isinstance(getattr(cfg, n, None), frozenset)]
    if missing or "distill_model" not in DEFAULT_CFG_DICT or "dis" not in DEFAULT_CFG_DICT:
        raise unsupported(
            "yolo-freq's distillation arguments need ultralytics.cfg.CFG_FLOAT_KEYS/CFG_FRACTION_KEYS and the "
            f"'distill_model'/'dis' defaults (missing: {missing or ['distill_model/dis']})"
        )
    for key, value in options.DEFAULTS.items():
        DEFAULT_CFG_DICT.setdefault(key, value)
        setattr(DEFAULT_CFG, key, DEFAULT_CFG_DICT[key])
    rebind(cfg.CFG_FLOAT_KEYS, cfg.CFG_FLOAT_KEYS | options.FLOAT_KEYS)
    rebind(cfg.CFG_FRACTION_KEYS, cfg.CFG_FRACTION_KEYS | options.FRACTION_KEYS)


def _resume_args(model, resume) -> dict:
    """Training arguments a resumed run will use: those stored in the checkpoint it resumes."""
    try:
        if resume is True:
            return dict((model.ckpt or {}).get("train_args") or {})
        from ultralytics.utils.patches import torch_load

        return dict(torch_load(str(resume), map_location="cpu").get("train_args") or {})
    except Exception:  # noqa: BLE001 (not a checkpoint: Ultralytics' own resume check reports it)
        return {}


def _make_train(train, checks):
    def train_with_distillation(self, trainer=None, **kwargs):
        if trainer is None:  # an explicit trainer is the caller's choice
            args = {**self.overrides, **kwargs}
            if kwargs.get("cfg"):  # Model.train reads a cfg file instead of the model's overrides
                from ultralytics.utils import YAML

                args = {**YAML.load(checks.check_yaml(kwargs["cfg"])), **kwargs}
            if args.get("resume"):
                args = {**_resume_args(self, args["resume"]), **kwargs}
            from ultralytics.models.yolo.detect import DetectionTrainer

            # RT-DETR, YOLO-World, YOLOE are task=detect too but train with their own trainers: left to Ultralytics
            try:
                own = self._smart_load("trainer")  # the trainer Model.train would pick
            except NotImplementedError:  # no trainer for this model and task: Model.train reports it
                own = None
            if own is DetectionTrainer and options.wants_distillation(args):
                from .trainer import DistillationTrainer

                trainer = DistillationTrainer
            elif options.requested_terms(args):
                raise ValueError(
                    f"{', '.join(options.requested_terms(args))}: yolo-freq's distillation terms are implemented for "
                    f"YOLO detection models (DetectionTrainer), not task={self.task} with "
                    f"{getattr(own, '__name__', own)}"
                )
        return train(self, trainer=trainer, **kwargs)

    train_with_distillation.__wrapped__ = train
    train_with_distillation.__doc__ = train.__doc__
    return train_with_distillation


def register_trainer_selection() -> None:
    """Wrap Model.train so that distillation arguments select DistillationTrainer (CLI and Python alike)."""
    from ultralytics.engine.model import Model

    if getattr(Model.train, "yolo_freq_patch", False):  # marked as reference.patches marks its wrappers
        return
    if "trainer" not in inspect.signature(Model.train).parameters:
        raise unsupported("yolo-freq selects its distillation trainer through Model.train(trainer=...)")
    from ultralytics.utils import checks

    Model.train = _make_train(Model.train, checks)
    Model.train.yolo_freq_patch = True  # not __wrapped__, which Ultralytics' own decorators set too
