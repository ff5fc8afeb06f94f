"""Guided Progressive Distillation (DynaWave-Net, paper 004, section 3.4) as four YOLO loss terms.

The paper describes GPD for a classifier-like detector; each term below says how it is mapped onto YOLO's dense,
anchor-free head and which choices the paper leaves open.

* PDPS (3.4.1, Formulas 31-33): prior-smoothed class targets. YOLO's class target of a positive anchor is not
  one-hot but an IoU-aware score ``s * onehot(l*)`` under per-class BCE, so the smoothed target is
  ``s * q`` with ``q = (1 - eps) * onehot(l*) + eps * P(. | l*)``. BCE is linear in its target
  (``BCE(x, t) = softplus(x) - t * x``), so the smoothed loss splits exactly into Ultralytics' ``cls_loss`` plus
  :func:`pdps_loss`, which is what is reported in its own column. ``s * q`` sums to ``s`` over classes, so the
  box/DFL weights and the normaliser of the class loss do not change. The optional 1 / log(1 + freq) class weights
  of Formula 34 are not added: Ultralytics' ``cls_pw`` already weights classes by inverse frequency and is applied
  here too.
* MSFD-TS (3.4.2, Formulas 35-37, 39): L2-normalised feature distance to the EMA teacher with a per-level warm-up.
* Temporal stabilisation (3.4.2, Formula 38): ``||M_t - M_{t-1}||_F^2`` between consecutive steps' heatmaps is read as
  the student's class heatmaps against the EMA teacher's on the same batch (the EMA is the running summary of the
  previous iterates; consecutive batches hold different images, so a literal M_{t-1} is not comparable).
* Graph regulariser (3.4.3, Formulas 40-43) over the top-scoring predicted boxes of each image.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F


def cooccurrence_prior(image_classes: Iterable, nc: int) -> torch.Tensor:
    """Row-normalised class co-occurrence matrix P(l | l*) of a training set (Formula 32).

    ``C[a, b]`` counts training images holding at least one instance of class ``a`` and one of class ``b``; the
    diagonal counts images holding ``a``. A class absent from the labels gets an identity row (nothing to smooth
    towards). Classes that never share an image give the identity matrix, for which PDPS is exactly zero.

    Args:
        image_classes (Iterable): Per training image, its instance class indices (any array-like, e.g. the ``cls``
            arrays of ``dataset.labels``).
        nc (int): Number of classes.

    Returns:
        (torch.Tensor): P with rows summing to 1, shape (nc, nc), float32.
    """
    counts = np.zeros((nc, nc), dtype=np.float64)
    for cls in image_classes:
        present = np.unique(np.asarray(cls, dtype=np.int64).reshape(-1))
        counts[np.ix_(present, present)] += 1
    counts[counts.sum(1) == 0] = np.eye(nc)[counts.sum(1) == 0]
    return torch.from_numpy(counts / counts.sum(1, keepdims=True)).float()


def pdps_loss(
    pred_scores: torch.Tensor,
    target_scores: torch.Tensor,
    prior: torch.Tensor,
    eps: float,
    norm: torch.Tensor,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Prior-smoothed class BCE minus Ultralytics' class BCE, on the same normaliser.

    With ``T`` the assigner's targets and ``T' = T @ ((1 - eps) I + eps P)`` the smoothed ones,
    ``BCE(x, T') - BCE(x, T) = -x * (T' - T) = -eps * x * (T @ P - T)``, summed and divided by ``norm`` like
    Ultralytics' ``cls_loss``. Exactly zero for ``eps == 0`` or the identity prior; linear in the logits, so it can be
    negative (``cls_loss + pdps`` is the smoothed BCE, which is not).

    Args:
        pred_scores (torch.Tensor): Student class logits, shape (B, A, nc).
        target_scores (torch.Tensor): Assigner targets ``s * onehot(l*)`` on positives, 0 elsewhere, shape (B, A, nc).
        prior (torch.Tensor): P(l | l*), rows sum to 1, shape (nc, nc).
        eps (float): Smoothing strength in [0, 1].
        norm (torch.Tensor): Ultralytics' class-loss normaliser, the sum of the targets (clamped >= 1).
        class_weights (torch.Tensor, optional): Ultralytics' per-class weights (``cls_pw``), broadcastable to
            (B, A, nc).

    Returns:
        (torch.Tensor): Scalar loss.
    """
    t = target_scores.float()
    delta = eps * (t @ prior.to(t) - t)
    loss = -(pred_scores.float() * delta)
    if class_weights is not None:
        loss = loss * class_weights
    return loss.sum() / norm


def msfd_warmup(step: float, batches_per_epoch: int, warmup_epochs: float, levels: int) -> list[float]:
    """Per-level warm-up factors alpha_l(t) = min(1, t / T_l) (Formula 36).

    The paper gives no T_l. Here level ``l`` of ``L`` (0 = the highest-resolution map) reaches full weight after
    ``warmup_epochs * (l + 1) / L`` epochs: shallow levels first, as networks converge bottom-up, and the deepest
    level after ``warmup_epochs`` (default 3, Ultralytics' own ``warmup_epochs``).

    Args:
        step (float): Training iterations done so far.
        batches_per_epoch (int): Iterations per epoch.
        warmup_epochs (float): Epochs until the deepest level reaches full weight; 0 disables the warm-up.
        levels (int): Number of distilled levels.

    Returns:
        (list[float]): alpha_l for l = 0 .. levels - 1.
    """
    horizons = [warmup_epochs * batches_per_epoch * (lvl + 1) / levels for lvl in range(levels)]
    return [1.0 if h <= 0 else min(1.0, step / h) for h in horizons]


def msfd_loss(
    teacher_feats: list[torch.Tensor], student_feats: list[torch.Tensor], alphas: list[float]
) -> torch.Tensor:
    """Multi-stage feature distillation: sum_l alpha_l * || z_t / ||z_t|| - z_s / ||z_s|| ||^2 (Formulas 35, 37).

    Each map is L2-normalised over all of its C*H*W values, per image, so the distance lies in [0, 4] whatever the
    feature scale; it is averaged over the batch.

    Args:
        teacher_feats (list[torch.Tensor]): Teacher maps, each (B, C_l, H_l, W_l).
        student_feats (list[torch.Tensor]): Student maps, same shapes.
        alphas (list[float]): Warm-up factor per level.

    Returns:
        (torch.Tensor): Scalar loss.
    """
    total = student_feats[0].new_zeros((), dtype=torch.float32)
    for t, s, a in zip(teacher_feats, student_feats, alphas):
        d = F.normalize(t.float().flatten(1), dim=1) - F.normalize(s.float().flatten(1), dim=1)
        total = total + a * d.pow(2).sum(1).mean()
    return total


def temporal_loss(teacher_scores: torch.Tensor, student_scores: torch.Tensor) -> torch.Tensor:
    """Temporal stabilisation: squared Frobenius distance of the class heatmaps (Formula 38).

    ``M`` is the map of per-class probabilities (sigmoid of the logits) at every anchor; the squared difference is
    summed over classes and averaged over anchors and images, so it does not grow with the input size.

    Args:
        teacher_scores (torch.Tensor): EMA-teacher class logits, shape (B, nc, A).
        student_scores (torch.Tensor): Student class logits, shape (B, nc, A).

    Returns:
        (torch.Tensor): Scalar loss.
    """
    return (student_scores.float().sigmoid() - teacher_scores.float().sigmoid()).pow(2).sum(1).mean()


def pairwise_iou(boxes: torch.Tensor) -> torch.Tensor:
    """IoU of every pair of boxes within each image.

    Args:
        boxes (torch.Tensor): xyxy boxes, shape (B, K, 4).

    Returns:
        (torch.Tensor): IoU matrix, shape (B, K, K).
    """
    lt = torch.maximum(boxes[:, :, None, :2], boxes[:, None, :, :2])
    rb = torch.minimum(boxes[:, :, None, 2:], boxes[:, None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(-1)
    return inter / (area[:, :, None] + area[:, None, :] - inter + 1e-9)


def graph_loss(
    scores: torch.Tensor, boxes: torch.Tensor, imgsz: tuple[int, int], iou_thr: float, sigma: float, k: int = 64
) -> torch.Tensor:
    """Graph smoothness sum_{(i, j) in E} w_ij ||f_i - f_j||^2 over predicted boxes (Formulas 40-43).

    Interpretations (the paper leaves them open):

    * Nodes: the ``k`` anchors of each image with the highest class probability (the predictions a detector would
      keep); selection, boxes, edges and weights carry no gradient.
    * Edges: IoU > ``iou_thr`` between the nodes' predicted boxes; each unordered pair counted once.
    * Weights: ``exp(-||c_i - c_j||^2 / sigma^2)`` with box centres in units of the image width/height.
    * Node features: ``f_i`` is the class-probability vector of node ``i``, i.e. the projection ``phi`` of Formula 42
      is the head's own classification branch applied to the neck map at the box's anchor. A separate learnable
      ``phi`` trained only by this loss has a trivial minimiser (map everything to one point) and adds state to
      checkpoints; the classification branch is held in place by the detection loss.
    * Normalisation: divided by the number of nodes of the batch.

    Args:
        scores (torch.Tensor): Student class logits, shape (B, nc, A).
        boxes (torch.Tensor): Student's decoded xyxy boxes in pixels, shape (B, A, 4).
        imgsz (tuple[int, int]): Input (height, width) in pixels.
        iou_thr (float): Edge threshold tau.
        sigma (float): Gaussian width, in units of the image side.
        k (int): Nodes per image.

    Returns:
        (torch.Tensor): Scalar loss; zero when no pair overlaps by more than ``iou_thr``.
    """
    probs = scores.float().sigmoid().transpose(1, 2)  # (B, A, nc)
    b, a, nc = probs.shape
    k = min(k, a)
    idx = probs.detach().amax(-1).topk(k, dim=1).indices  # (B, k)
    f = probs.gather(1, idx[..., None].expand(b, k, nc))
    with torch.no_grad():
        bx = boxes.float().gather(1, idx[..., None].expand(b, k, 4))
        h, w = imgsz
        centres = (bx[..., :2] + bx[..., 2:]) / 2 / bx.new_tensor([w, h])
        weights = torch.exp(-torch.cdist(centres, centres).pow(2) / sigma**2)
        weights = weights * (pairwise_iou(bx) > iou_thr) * torch.ones(k, k, device=bx.device).triu(1)
    sq_dist = (f[:, :, None] - f[:, None]).pow(2).sum(-1)  # (B, k, k); no sqrt, so no NaN gradient at 0
    return (weights * sq_dist).sum() / (b * k)
