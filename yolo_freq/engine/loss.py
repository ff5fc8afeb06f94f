"""The detection criterion with distillation terms: Ultralytics' v8 loss plus one column per active ``kd_*`` term."""

from __future__ import annotations

import torch
from torch import nn
from ultralytics.utils.loss import v8DetectionLoss

from yolo_freq.engine import gpd, self_distill
from yolo_freq.engine.options import KDOptions


class TeacherTap:
    """Forward hook that keeps the latest output of the module it is registered on (the teacher's Detect head).

    Ultralytics' ``DistillationModel`` already runs the frozen teacher on every training batch, before the student;
    tapping that forward costs nothing, where a second teacher forward would add about a quarter of a training step
    (``yolo-freq distill-cost``). The captured tensors are never copied or pickled with the model.
    """

    def __init__(self) -> None:
        self.output = None

    def __call__(self, module: nn.Module, inputs: tuple, output) -> None:
        self.output = output

    def __getstate__(self) -> dict:
        return {"output": None}


def _raw(output) -> dict:
    """The raw prediction dict of a Detect head, from its training (dict) or inference ((y, dict)) output."""
    return output[1] if isinstance(output, tuple) else output


class DistillationLoss(v8DetectionLoss):
    """Ultralytics' detection loss (box, cls, dfl, unchanged) plus the active distillation terms, each in its column.

    Terms and their columns (see :mod:`yolo_freq.engine.self_distill` and :mod:`yolo_freq.engine.gpd`):

    * ``kd_cls``, ``kd_dfl``, ``kd_feat``: SD-GASNet enhanced KL to the frozen teacher, times the option's weight and
      the cosine weight that decays from 1 to 0 over the run; ``kd_cls`` is divided like ``cls_loss``.
    * ``kd_pdps``: co-occurrence-prior label smoothing, as the exact difference to the unsmoothed ``cls_loss``.
    * ``kd_msfd``, ``kd_temp``: feature and heatmap distillation from the EMA of the student.
    * ``kd_graph``: graph smoothness over the student's top-scoring boxes.

    The trainer calls :meth:`set_progress` before every training batch. Copies of the model (EMA, checkpoints) do not
    carry this criterion: they get Ultralytics' plain one, so validation losses are the stock ones.

    Args:
        model (nn.Module): The student DetectionModel (de-paralleled), as for ``v8DetectionLoss``.
        options (KDOptions): Term weights and parameters.
        prior (torch.Tensor, optional): P(l | l*), shape (nc, nc); required for ``kd_pdps``.
        teacher_tap (TeacherTap, optional): Hook on the teacher's head; required for the self-distillation terms.
    """

    def __init__(
        self,
        model: nn.Module,
        options: KDOptions,
        prior: torch.Tensor | None = None,
        teacher_tap: TeacherTap | None = None,
    ):
        super().__init__(model)
        self.options = options
        self.prior = None if prior is None else prior.to(self.device)
        self.teacher_tap = teacher_tap
        self._assigner, self.assigner = self.assigner, self._assign  # keep the targets the cls loss was built from
        self._assigned = None
        self.step, self.batches_per_epoch, self.total_steps, self.ema = 0, 1, 1, None

    def __deepcopy__(self, memo):
        """Model copies (EMA, NaN recovery, checkpoints) get no criterion and rebuild Ultralytics' plain one."""
        return None  # noqa: RET501 (None is the copy, not a missing value)

    def set_progress(self, step: int, batches_per_epoch: int, total_steps: int, ema: nn.Module | None) -> None:
        """Tell the criterion where the run is and which EMA model teaches (the trainer replaces it on resume).

        Args:
            step (int): Training iterations done before this batch.
            batches_per_epoch (int): Iterations per epoch.
            total_steps (int): Iterations in the whole run.
            ema (nn.Module | None): Ultralytics' EMA model (``trainer.ema.ema``).
        """
        self.step, self.batches_per_epoch, self.total_steps, self.ema = step, batches_per_epoch, total_steps, ema

    def _assign(self, *args, **kwargs):
        self._assigned = self._assigner(*args, **kwargs)
        return self._assigned

    def loss(self, preds: dict[str, torch.Tensor], batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Ultralytics' loss vector and items, extended by the active terms.

        Args:
            preds (dict[str, torch.Tensor]): Student head output: ``boxes`` (B, 4*reg_max, A), ``scores`` (B, nc, A),
                ``feats`` (list of the neck maps feeding the head).
            batch (dict): Training batch with ``img``, ``batch_idx``, ``cls``, ``bboxes``.

        Returns:
            loss (torch.Tensor): (box, cls, dfl, *terms) times the batch size, as Ultralytics' trainer expects.
            items (dict[str, torch.Tensor]): Detached per-term values; keys are the progress-bar and CSV columns.
        """
        (fg_mask, _, _, anchor_points, stride_tensor), loss, items = self.get_assigned_targets_and_loss(preds, batch)
        terms = self.terms(preds, batch, fg_mask, self._assigned[2], anchor_points, stride_tensor)
        self._assigned = None
        items.update({k: v.detach() for k, v in terms.items()})
        loss = torch.cat([loss, torch.stack(list(terms.values()))]) if terms else loss
        return loss * preds["boxes"].shape[0], items

    def terms(
        self,
        preds: dict[str, torch.Tensor],
        batch: dict,
        fg_mask: torch.Tensor,
        target_scores: torch.Tensor,
        anchor_points: torch.Tensor,
        stride_tensor: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Weighted value of every active term, in column order.

        Args:
            preds (dict[str, torch.Tensor]): Student head output, as in :meth:`loss`.
            batch (dict): Training batch.
            fg_mask (torch.Tensor): Positive anchors of the student's assignment, (B, A).
            target_scores (torch.Tensor): Assigned class targets, (B, A, nc).
            anchor_points (torch.Tensor): Anchor centres in grid units, (A, 2).
            stride_tensor (torch.Tensor): Stride of each anchor, (A, 1).

        Returns:
            (dict[str, torch.Tensor]): Scalar per active term.
        """
        o, out = self.options, {}
        teacher = self._teacher_output(preds) if o.needs_teacher else None
        ema = self._ema_output(batch["img"]) if o.needs_ema else None
        sd_weight = self_distill.cosine_decay(self.step, self.total_steps)
        norm = target_scores.sum().clamp(min=1)  # Ultralytics' cls_loss normaliser, reused by kd_cls and kd_pdps
        if o.kd_cls:
            cls = self_distill.sd_cls_loss(teacher["scores"], preds["scores"], norm)
            out["kd_cls"] = o.kd_cls * sd_weight * cls
        if o.kd_dfl:
            dfl = self_distill.sd_dfl_loss(teacher["boxes"], preds["boxes"], fg_mask, self.reg_max)
            out["kd_dfl"] = o.kd_dfl * sd_weight * dfl
        if o.kd_feat:
            out["kd_feat"] = o.kd_feat * sd_weight * self_distill.sd_feat_loss(teacher["feats"], preds["feats"])
        if o.kd_pdps:
            scores = preds["scores"].permute(0, 2, 1)
            pdps = gpd.pdps_loss(scores, target_scores, self.prior, o.kd_pdps, norm, self.class_weights)
            out["kd_pdps"] = pdps * self.hyp.cls  # in the units of cls_loss, which carries the same gain
        if o.kd_msfd:
            alphas = gpd.msfd_warmup(self.step, self.batches_per_epoch, o.kd_msfd_warmup, len(preds["feats"]))
            out["kd_msfd"] = o.kd_msfd * gpd.msfd_loss(ema["feats"], preds["feats"], alphas)
        if o.kd_temp:
            out["kd_temp"] = o.kd_temp * gpd.temporal_loss(ema["scores"], preds["scores"])
        if o.kd_graph:
            boxes = self.bbox_decode(anchor_points, preds["boxes"].permute(0, 2, 1)) * stride_tensor
            imgsz = tuple(int(x * self.stride[0]) for x in preds["feats"][0].shape[2:])
            graph = gpd.graph_loss(preds["scores"], boxes.detach(), imgsz, o.kd_graph_iou, o.kd_graph_sigma)
            out["kd_graph"] = o.kd_graph * graph
        return out

    def _teacher_output(self, preds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The frozen teacher's raw head output on this batch, taken once from the tap."""
        output, self.teacher_tap.output = self.teacher_tap.output, None
        if output is None:
            raise RuntimeError(
                "kd_cls/kd_dfl/kd_feat: the teacher did not run on this batch. These terms read the teacher output of "
                "Ultralytics' DistillationModel forward; call the model on the batch dict (model(batch)), not the loss."
            )
        teacher = _raw(output)
        if teacher["scores"].shape != preds["scores"].shape:
            raise RuntimeError(
                f"teacher predictions {tuple(teacher['scores'].shape)} do not match the student's "
                f"{tuple(preds['scores'].shape)} on the same batch"
            )
        return teacher

    @torch.no_grad()
    def _ema_output(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        """The EMA teacher's raw head output on this batch (eval mode, no gradient)."""
        if self.ema is None:
            raise RuntimeError("kd_msfd/kd_temp need the trainer's EMA model; the trainer sets it before each batch")
        return _raw(getattr(self.ema, "student_model", self.ema)(img))


def attach_criterion(model: nn.Module, options: KDOptions, image_classes=None) -> DistillationLoss:
    """Give the student of ``model`` the distillation criterion, wired to the teacher and the class prior.

    Args:
        model (nn.Module): A DetectionModel, or Ultralytics' DistillationModel (de-paralleled) wrapping one; the
            self-distillation terms need the latter, whose frozen teacher gets a :class:`TeacherTap` on its head.
        options (KDOptions): The run's ``kd_*`` arguments.
        image_classes (Iterable, optional): Per training image, its class indices; required for ``kd_pdps``.

    Returns:
        (DistillationLoss): The criterion, now also ``student.criterion``.
    """
    student = getattr(model, "student_model", model)
    tap = None
    if options.needs_teacher:
        tap = TeacherTap()
        model.teacher_model.model[-1].register_forward_hook(tap)  # the teacher is never copied into EMA or saved
    prior = gpd.cooccurrence_prior(image_classes, student.model[-1].nc) if options.kd_pdps else None
    student.criterion = DistillationLoss(student, options, prior=prior, teacher_tap=tap)
    return student.criterion
