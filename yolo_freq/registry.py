"""Where yolo-freq hooks into Ultralytics: :func:`register` makes every change, once per process, by calling the
module of each concern in turn.

1. :mod:`yolo_freq.patch.parse_model`: block classes become names in ``ultralytics.nn.tasks`` and ``parse_model``
   is rebuilt to give them Ultralytics' channel inference and scaling; errors name the YAML row.
2. :mod:`yolo_freq.patch.lookup`: bundled YAMLs by bare name from any folder, ``<name>-<scale>.yaml`` names and
   ``default_scale`` (Ultralytics' own YAMLs load as without yolo-freq).
3. :mod:`yolo_freq.patch.blocks`: ``fuse()`` reparameterises yolo-freq blocks; the blocks are allow-listed for
   ``ULTRALYTICS_SAFE_LOAD=1``.
4. :mod:`yolo_freq.engine.transfer`: ``load()`` (``pretrained=``) matches a checkpoint's layers by structure.
5. :mod:`yolo_freq.engine.training_args`: the ``kd_*`` training arguments, and ``Model.train`` choosing the
   distillation trainer when one is given.
6. :mod:`yolo_freq.reference.patches`: what trainers and predictors do with golden-template composites.
7. :mod:`yolo_freq.patch.export`: ``export()`` refuses formats not verified for yolo-freq's blocks.

5, 6 and 7 patch classes that exist only once Ultralytics' Model class does; they run then
(:func:`yolo_freq.patch.when_model_ready`). Everything is guarded by :func:`yolo_freq.patch.check_ultralytics_version`.
"""

from __future__ import annotations

from yolo_freq.patch import SUPPORTED_ULTRALYTICS, check_ultralytics_version, when_model_ready
from yolo_freq.patch.parse_model import ModelYAMLError, missing_sections
from yolo_freq.paths import CFG_DIR, DATASETS_DIR, MODELS_DIR, find_bundled

__all__ = (
    "CFG_DIR",
    "DATASETS_DIR",
    "MODELS_DIR",
    "SUPPORTED_ULTRALYTICS",
    "ModelYAMLError",
    "check_ultralytics_version",
    "find_bundled",
    "missing_sections",
    "register",
)


def register() -> None:
    """Make Ultralytics know yolo-freq's blocks, model names, dataset names and training arguments. Idempotent."""
    from ultralytics.nn import tasks

    if getattr(tasks, "_yolo_freq_registered", False):
        return
    check_ultralytics_version()
    from yolo_freq.engine import training_args, transfer
    from yolo_freq.patch import blocks, export, lookup, parse_model
    from yolo_freq.reference import patches as reference_patches

    parse_model.register(tasks)
    lookup.register(tasks)
    blocks.register(tasks)
    transfer.register(tasks)
    training_args.register_arguments()
    when_model_ready(training_args.register_trainer_selection, reference_patches.register, export.register)
    tasks._yolo_freq_registered = True
