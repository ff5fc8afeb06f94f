"""Training methods: SD-GASNet self-distillation and DynaWave-Net's Guided Progressive Distillation.

Modules: :mod:`.options` (the ``kd_*`` arguments), :mod:`.self_distill` and :mod:`.gpd` (the loss terms),
:mod:`.loss` (the criterion), :mod:`.teacher` (loading and checks), :mod:`.trainer` (the DetectionTrainer subclass).
The trainer is imported lazily: the registry reads :mod:`.options` while Ultralytics is still being imported.
"""

from yolo_freq.engine.options import DEFAULTS, KDOptions, wants_distillation

__all__ = ("DEFAULTS", "DistillationTrainer", "KDOptions", "wants_distillation")


def __getattr__(name):
    if name == "DistillationTrainer":
        from yolo_freq.engine.trainer import DistillationTrainer

        return DistillationTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
