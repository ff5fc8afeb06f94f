"""SD-GASNet self-distillation (paper 001, sections 3.3-3.4): the enhanced KL divergence and its cosine weight.

**Enhanced KL.** The paper writes KL(P||Q) = H(P, Q) - H(P) and asks for a loss that "simultaneously constrains the
information entropy of the student's distribution and the cross-entropy between the two distributions"; its formula
is not public. yolo-freq uses the symmetric (Jeffreys) divergence between teacher P and student Q::

    EKL(P, Q) = KL(P || Q) + KL(Q || P)
              = [H(P, Q) - H(P)] + [H(Q, P) - H(Q)]
              = sum_i (p_i - q_i) * (log p_i - log q_i)

The first bracket is the usual distillation KL, whose student-dependent part is the cross-entropy H(P, Q); the second
brings in the student's own entropy H(Q) and the cross-entropy H(Q, P). EKL is >= 0, zero exactly when P == Q,
symmetric, and, written as the last line, needs no epsilon against log(0). It is computed from logits:

* classification (sigmoid, one Bernoulli per class): EKL(Bern(s(a)), Bern(s(b))) = (s(a) - s(b)) * (a - b), summed
  over all anchors and classes and divided by Ultralytics' ``cls_loss`` normaliser (the paper's 1 / N_pos);
* DFL distance distributions (softmax over the ``reg_max`` bins of each box side), positive anchors only, mean over
  positives and the four sides;
* neck maps: per channel, softmax over the H*W positions (channel-wise distillation, as in YOLOv6 / CWD), so the
  student learns where each teacher channel fires, not its raw scale; mean over images and channels, summed over the
  levels feeding the head. No temperature (the paper has none).

The teacher runs in eval mode with frozen weights (Ultralytics' ``DistillationModel``); its outputs carry no gradient.

**Schedule.** The weight decays from 1 to 0 by cosine annealing over the run (paper 3.4.1), see :func:`cosine_decay`.
"""

from __future__ import annotations

import math

import torch


def cosine_decay(step: float, total: float) -> float:
    """Cosine-annealed distillation weight, 1 at ``step=0`` and 0 at ``step >= total``.

    Args:
        step (float): Training iterations done so far (batches, counted over all epochs).
        total (float): Iterations in the whole run (epochs * batches per epoch).

    Returns:
        (float): 0.5 * (1 + cos(pi * min(step / total, 1))).
    """
    return 0.5 * (1.0 + math.cos(math.pi * min(max(step / max(total, 1.0), 0.0), 1.0)))


def ekl_sigmoid(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Enhanced KL between per-class Bernoulli distributions, summed over the last (class) dimension.

    Args:
        teacher_logits (torch.Tensor): Teacher class logits, shape (..., nc).
        student_logits (torch.Tensor): Student class logits, same shape.

    Returns:
        (torch.Tensor): EKL per element of the leading dimensions, shape (...).
    """
    t, s = teacher_logits.float(), student_logits.float()
    return ((t.sigmoid() - s.sigmoid()) * (t - s)).sum(-1)


def ekl_softmax(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Enhanced KL between categorical distributions (softmax over the last dimension), summed over it.

    Args:
        teacher_logits (torch.Tensor): Teacher logits, shape (..., K).
        student_logits (torch.Tensor): Student logits, same shape.

    Returns:
        (torch.Tensor): EKL per element of the leading dimensions, shape (...).
    """
    log_p, log_q = teacher_logits.float().log_softmax(-1), student_logits.float().log_softmax(-1)
    return ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1)


def sd_cls_loss(teacher_scores: torch.Tensor, student_scores: torch.Tensor, norm: torch.Tensor | float) -> torch.Tensor:
    """Classification term: Bernoulli EKL summed over all anchors and classes, divided like the class loss.

    The paper adds the term to its classification branch, whose VFL is summed over all positions and divided by the
    number of positives; here ``norm`` is Ultralytics' normaliser of ``cls_loss`` (the sum of the assigned scores), so
    both have the same scale.

    Args:
        teacher_scores (torch.Tensor): Teacher class logits, shape (B, nc, A).
        student_scores (torch.Tensor): Student class logits, shape (B, nc, A).
        norm (torch.Tensor | float): Normaliser, >= 1.

    Returns:
        (torch.Tensor): Scalar loss.
    """
    return ekl_sigmoid(teacher_scores.transpose(1, 2), student_scores.transpose(1, 2)).sum() / norm


def sd_dfl_loss(
    teacher_boxes: torch.Tensor, student_boxes: torch.Tensor, fg_mask: torch.Tensor, reg_max: int
) -> torch.Tensor:
    """DFL term: categorical EKL over the ``reg_max`` bins of each box side, mean over positive anchors and sides.

    Only anchors the task-aligned assigner made positive for the student count (the paper's regression branch sums
    over positives and divides by their number; the IoU branch is not distilled at all). Zero, with the graph kept,
    when a batch has no positive.

    Args:
        teacher_boxes (torch.Tensor): Teacher DFL logits, shape (B, 4 * reg_max, A).
        student_boxes (torch.Tensor): Student DFL logits, shape (B, 4 * reg_max, A).
        fg_mask (torch.Tensor): Positive anchors, bool, shape (B, A).
        reg_max (int): Bins per box side.

    Returns:
        (torch.Tensor): Scalar loss.
    """
    b, _, a = student_boxes.shape
    t = teacher_boxes.view(b, 4, reg_max, a).permute(0, 3, 1, 2)[fg_mask]  # (n_pos, 4, reg_max)
    s = student_boxes.view(b, 4, reg_max, a).permute(0, 3, 1, 2)[fg_mask]
    if s.numel() == 0:
        return student_boxes.sum() * 0.0
    return ekl_softmax(t, s).mean()


def sd_feat_loss(teacher_feats: list[torch.Tensor], student_feats: list[torch.Tensor]) -> torch.Tensor:
    """Neck term: per channel, EKL between spatial softmax distributions; mean over batch and channels, sum over levels.

    Args:
        teacher_feats (list[torch.Tensor]): Teacher maps feeding the head, each (B, C_l, H_l, W_l).
        student_feats (list[torch.Tensor]): Student maps, same shapes.

    Returns:
        (torch.Tensor): Scalar loss.
    """
    return sum(ekl_softmax(t.flatten(2), s.flatten(2)).mean() for t, s in zip(teacher_feats, student_feats))
