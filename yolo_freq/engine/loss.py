"""The detection criterion with distillation terms: Ultralytics' v8 loss plus one column per active ``kd_*`` term."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from ultralytics.utils.loss import v8DetectionLoss

from yolo_freq.engine import gpd, self_distill
from yolo_freq.engine.freq_consistency import DecoderTap, decoder_blocks, frequency_consistency_loss
from yolo_freq.engine.options import KDOptions
from yolo_freq.nn.wavelet import DWT2d


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

    def take(self) -> dict[str, torch.Tensor]:
        """The raw head output of the teacher's latest forward, handed out once: a batch never reads an older one.

        Returns:
            (dict[str, torch.Tensor]): ``boxes``, ``scores`` and ``feats``, as the student's head returns them.
        """
        output, self.output = self.output, None
        if output is None:
            raise RuntimeError(
                "kd_cls/kd_dfl/kd_feat: the teacher did not run on this batch. These terms read the teacher output of "
                "Ultralytics' DistillationModel forward; call the model on the batch dict (model(batch)), not the loss."
            )
        return _raw(output)


def _raw(output) -> dict:
    """The raw prediction dict of a Detect head, from its training (dict) or inference ((y, dict)) output."""
    return output[1] if isinstance(output, tuple) else output


@torch.no_grad()
def ema_output(ema: nn.Module, img: torch.Tensor) -> dict[str, torch.Tensor]:
    """The raw head output of Ultralytics' EMA model (kept in eval mode by Ultralytics) on a batch, without gradient.

    Args:
        ema (nn.Module): ``trainer.ema.ema``; of a DistillationModel, only its student runs (the EMA has no teacher).
        img (torch.Tensor): The preprocessed batch images, (B, 3, H, W).

    Returns:
        (dict[str, torch.Tensor]): ``boxes``, ``scores`` and ``feats``, as the student's head returns them.
    """
    return _raw(getattr(ema, "student_model", ema)(img))


@dataclass(frozen=True)
class DistillationBatch:
    """What the distillation terms read besides the student's output and the labels, for one training batch.

    Attributes:
        step (int): Training iterations done before this batch (position of the cosine and warm-up schedules).
        batches_per_epoch (int): Iterations per epoch.
        total_steps (int): Iterations in the whole run.
        teacher (TeacherTap | None): Tap on the frozen teacher's head; once the model forward has run the teacher on
            this batch, it holds the teacher's output (self-distillation terms).
        ema (dict | nn.Module | None): The EMA model's raw head output on this batch, which the trainer computes (EMA
            terms). Callers without a trainer (``yolo-freq distill-cost``, tests) give the EMA model instead; the loss
            then runs it on every batch it sees.
    """

    step: int = 0
    batches_per_epoch: int = 1
    total_steps: int = 1
    teacher: TeacherTap | None = None
    ema: dict[str, torch.Tensor] | nn.Module | None = None


class KeepTargetScores:
    """Ultralytics' task-aligned assigner, called unchanged, keeping the class targets of its latest assignment.

    Ultralytics' loss builds ``cls_loss`` from these targets and returns neither them nor their sum; ``kd_cls`` and
    ``kd_pdps`` need exactly the same ones, and assigning a second time would double the assignment cost.

    Args:
        assigner (nn.Module): The criterion's ``TaskAlignedAssigner``.
    """

    def __init__(self, assigner: nn.Module) -> None:
        self.assigner, self.target_scores = assigner, None

    def __call__(self, *args, **kwargs) -> tuple:
        assigned = self.assigner(*args, **kwargs)
        _, _, self.target_scores, _, _ = assigned  # (labels, bboxes, scores, fg_mask, gt_idx), as Ultralytics unpacks
        return assigned


class DistillationLoss(v8DetectionLoss):
    """Ultralytics' detection loss (box, cls, dfl, unchanged) plus the active distillation terms, each in its column.

    Terms and their columns (see :mod:`yolo_freq.engine.self_distill` and :mod:`yolo_freq.engine.gpd`):

    * ``kd_cls``, ``kd_dfl``, ``kd_feat``: SD-GASNet enhanced KL to the frozen teacher, times the option's weight and
      the cosine weight that decays from 1 to 0 over the run; ``kd_cls`` is divided like ``cls_loss``.
    * ``kd_pdps``: co-occurrence-prior label smoothing, as the exact difference to the unsmoothed ``cls_loss``.
    * ``kd_msfd``, ``kd_temp``: feature and heatmap distillation from the EMA of the student.
    * ``kd_graph``: graph smoothness over the student's top-scoring boxes.
    * ``kd_freq``: frequency consistency of every FADSF decoder map with its lateral (:mod:`.freq_consistency`).

    Everything the terms read besides the student's output and the labels is in ``context``, a
    :class:`DistillationBatch` the trainer replaces before every training batch (:meth:`set_progress`). Copies of the
    model (EMA, checkpoints) do not carry this criterion: they get Ultralytics' plain one, so validation losses are the
    stock ones.

    Args:
        model (nn.Module): The student DetectionModel (de-paralleled), as for ``v8DetectionLoss``.
        options (KDOptions): Term weights and parameters.
        prior (torch.Tensor, optional): P(l | l*), shape (nc, nc); required for ``kd_pdps``.
        teacher_tap (TeacherTap, optional): Hook on the teacher's head; required for the self-distillation terms.
        decoder_taps (list[DecoderTap], optional): Hooks on the student's FADSF blocks; required for ``kd_freq``.
    """

    def __init__(
        self,
        model: nn.Module,
        options: KDOptions,
        prior: torch.Tensor | None = None,
        teacher_tap: TeacherTap | None = None,
        decoder_taps: list[DecoderTap] | None = None,
    ):
        super().__init__(model)
        self.options = options
        self.decoder_taps = decoder_taps or []
        self.dwt = DWT2d("haar").to(self.device) if options.kd_freq else None
        self.prior = None if prior is None else prior.to(self.device)
        self.assigner = KeepTargetScores(self.assigner)
        self.context = DistillationBatch(teacher=teacher_tap)

    def __deepcopy__(self, memo):
        """Model copies (EMA, NaN recovery, checkpoints) get no criterion and rebuild Ultralytics' plain one."""
        return None  # noqa: RET501 (None is the copy, not a missing value)

    def set_progress(
        self, step: int, batches_per_epoch: int, total_steps: int, ema: dict | nn.Module | None = None
    ) -> None:
        """Hand the criterion the context of the next training batch; the teacher tap stays the one it was built with.

        Args:
            step (int): Training iterations done before this batch.
            batches_per_epoch (int): Iterations per epoch.
            total_steps (int): Iterations in the whole run.
            ema (dict | nn.Module | None): The EMA model's raw head output on this batch, or the EMA model itself
                (see :class:`DistillationBatch`).
        """
        self.context = replace(
            self.context, step=step, batches_per_epoch=batches_per_epoch, total_steps=total_steps, ema=ema
        )

    @property
    def step(self) -> int:
        """Training iterations done before the current batch."""
        return self.context.step

    @property
    def total_steps(self) -> int:
        """Iterations in the whole run."""
        return self.context.total_steps

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
        terms = self.terms(preds, batch, fg_mask, self.assigner.target_scores, anchor_points, stride_tensor)
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
        o, ctx, out = self.options, self.context, {}
        teacher = self._teacher_output(preds) if o.needs_teacher else None
        ema = self._ema_output(batch["img"]) if o.needs_ema else None
        sd_weight = self_distill.cosine_decay(ctx.step, ctx.total_steps)
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
            alphas = gpd.msfd_warmup(ctx.step, ctx.batches_per_epoch, o.kd_msfd_warmup, len(preds["feats"]))
            out["kd_msfd"] = o.kd_msfd * gpd.msfd_loss(ema["feats"], preds["feats"], alphas)
        if o.kd_temp:
            out["kd_temp"] = o.kd_temp * gpd.temporal_loss(ema["scores"], preds["scores"])
        if o.kd_graph:
            boxes = self.bbox_decode(anchor_points, preds["boxes"].permute(0, 2, 1)) * stride_tensor
            imgsz = tuple(int(x * self.stride[0]) for x in preds["feats"][0].shape[2:])
            graph = gpd.graph_loss(preds["scores"], boxes.detach(), imgsz, o.kd_graph_iou, o.kd_graph_sigma)
            out["kd_graph"] = o.kd_graph * graph
        if o.kd_freq:
            pairs = [tap.take() for tap in self.decoder_taps]
            out["kd_freq"] = o.kd_freq * frequency_consistency_loss(pairs, self.dwt)
        return out

    def _teacher_output(self, preds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The frozen teacher's raw head output on this batch, from the context's tap."""
        teacher = self.context.teacher.take()
        if teacher["scores"].shape != preds["scores"].shape:
            raise RuntimeError(
                f"teacher predictions {tuple(teacher['scores'].shape)} do not match the student's "
                f"{tuple(preds['scores'].shape)} on the same batch"
            )
        return teacher

    def _ema_output(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        """The EMA model's raw head output on this batch, from the context."""
        ema = self.context.ema
        if ema is None:
            raise RuntimeError(
                "kd_msfd/kd_temp need the EMA model's output on this batch; the trainer passes it to set_progress() "
                "before each batch"
            )
        return ema_output(ema, img) if isinstance(ema, nn.Module) else ema  # a model: no trainer ran it (tests, bench)


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
    decoder_taps = []
    if options.kd_freq:
        for _, block in decoder_blocks(student):  # after Ultralytics built its EMA: the copies never carry these hooks
            decoder_taps.append(DecoderTap())
            block.register_forward_hook(decoder_taps[-1])
    student.criterion = DistillationLoss(student, options, prior=prior, teacher_tap=tap, decoder_taps=decoder_taps)
    return student.criterion
