"""DistillationTrainer: Ultralytics' DetectionTrainer with SD-GASNet self-distillation and GPD terms.

``yolo train`` and ``YOLO(...).train()`` pick this trainer when a distillation argument is given (see
:mod:`yolo_freq.registry`). Everything Ultralytics does for ``distill_model=`` stays as is: its ``DistillationModel``
wraps the student, runs the frozen teacher in eval mode, adds ``dis_loss``, drops the teacher from the EMA and from
checkpoints, and rebuilds it from ``distill_model`` on resume. This trainer adds:

* early, clear errors for a missing/unreadable/incompatible teacher and for terms that need one;
* the ``kd_*`` terms, as a criterion on the student (:class:`yolo_freq.engine.loss.DistillationLoss`) that reads the
  teacher output of that same forward and, for the GPD terms, the output of Ultralytics' EMA model on the batch, which
  this trainer computes before the forward;
* the run position for the cosine and warm-up schedules, derived from ``epoch`` and the batch index only, so a
  resumed run continues the schedules exactly where its checkpoint left them.

All state is rebuilt from the arguments, the data and the checkpoint, in every process: DDP workers receive the
class and its arguments (cloudpickled by Ultralytics) and construct it again; no callback is registered.
"""

from __future__ import annotations

from typing import Any

from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import DEFAULT_CFG, LOGGER, colorstr
from ultralytics.utils.torch_utils import unwrap_model

from yolo_freq.engine.loss import attach_criterion, ema_output
from yolo_freq.engine.options import DistillationConfigError, KDOptions
from yolo_freq.engine.teacher import check_compatible, check_teacher_file, load_teacher


class DistillationTrainer(DetectionTrainer):
    """Detection trainer for self-distillation (``distill_model`` + ``kd_cls/kd_dfl/kd_feat``) and GPD (``kd_pdps``,
    ``kd_msfd``, ``kd_temp``, ``kd_graph``), a strict superset of Ultralytics' ``distill_model``/``dis``.

    Attributes:
        kd (KDOptions): The ``kd_*`` arguments of the run.
        kd_loss (DistillationLoss | None): The student's criterion once training is set up, None when no ``kd_*``
            term is active (then the run is Ultralytics' own, with or without its ``dis`` term).

    Examples:
        >>> from ultralytics import YOLO
        >>> YOLO("pcb-fs-n.yaml").train(data="pcb-demo.yaml", distill_model="stage1/weights/best.pt", dis=0, kd_cls=1)
    """

    def __init__(self, cfg=DEFAULT_CFG, overrides: dict[str, Any] | None = None, _callbacks: dict | None = None):
        """Initialise like DetectionTrainer, then check the distillation arguments (before any model is built)."""
        super().__init__(cfg, overrides, _callbacks)
        self.kd = KDOptions.from_args(self.args)
        if self.kd.needs_teacher and not self.args.distill_model:
            raise DistillationConfigError(
                f"{'/'.join(self.kd.needs_teacher)} distil from a trained teacher: add distill_model=path/to/best.pt "
                "(for self-distillation, the stage-1 run of the same model), or set them to 0"
            )
        if self.args.distill_model:
            check_teacher_file(self.args.distill_model)
        self.kd_loss = None
        self._kd_loop, self._kd_batch = None, 0  # (epoch, loader id) the batch count belongs to

    def setup_model(self):
        """Load the model as Ultralytics does, after reading and checking the teacher with clear errors."""
        teacher = load_teacher(self.args.distill_model) if self.args.distill_model else None
        ckpt = super().setup_model()
        student = unwrap_model(self.model)
        student = getattr(student, "student_model", student)  # resume: Ultralytics rebuilt its wrapper already
        if self.kd.active and getattr(student.model[-1], "one2one_cv2", None) is not None:
            raise DistillationConfigError(
                f"{', '.join(self.kd.active)} extend the loss of one-to-many (YOLOv8-style) Detect heads; "
                f"{self.args.model} has an end-to-end head (YOLO26/YOLOv10 style). Use Ultralytics' distill_model/dis "
                "alone for it."
            )
        if teacher is not None:
            check_compatible(teacher, student, self.kd, self.args.distill_model, names=self.data["names"])
        return ckpt

    def _setup_train(self):
        """Set up as Ultralytics does, then give the student the distillation criterion."""
        super()._setup_train()
        if not self.kd.active:
            return
        labels = (lb["cls"] for lb in self.train_loader.dataset.labels)
        self.kd_loss = attach_criterion(unwrap_model(self.model), self.kd, image_classes=labels)
        LOGGER.info(f"{colorstr('distillation:')} {', '.join(f'{t}={getattr(self.kd, t)}' for t in self.kd.active)}")

    def preprocess_batch(self, batch: dict) -> dict:
        """Preprocess as Ultralytics does, then hand the criterion the context of this batch: the run position and,
        for ``kd_msfd``/``kd_temp``, the EMA model's output on the batch.

        The position is ``epoch * batches_per_epoch + batch index``; the batch index restarts with every epoch, so it
        is the same after ``resume=True`` as in an uninterrupted run, and with every new loader: Ultralytics' retry
        after running out of memory in the first epoch restarts it with a smaller batch. With ``time=``, Ultralytics
        re-estimates the number of epochs after each one; the schedule follows that estimate.

        Ultralytics calls this inside the training step's ``autocast``, and nothing before the loss changes
        ``batch["img"]`` or the EMA weights (they move after the backward pass): the EMA output computed here is the
        one the loss would compute, at the same precision.
        """
        batch = super().preprocess_batch(batch)
        if self.kd_loss is not None:
            # a loader's id cannot be reused by its replacement: the new one is built while the old one is alive
            if self._kd_loop != (self.epoch, id(self.train_loader)):
                self._kd_loop, self._kd_batch = (self.epoch, id(self.train_loader)), 0
            nb = len(self.train_loader)
            step = self.epoch * nb + self._kd_batch
            self._kd_batch += 1
            ema = ema_output(self.ema.ema, batch["img"]) if self.kd.needs_ema and self.ema else None
            self.kd_loss.set_progress(step, nb, self.epochs * nb, ema)
        return batch
