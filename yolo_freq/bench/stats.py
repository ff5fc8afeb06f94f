"""p values of the differences between models trained with the same seeds (permutation and sign-flip tests)."""

from __future__ import annotations

import numpy as np


def permutation_p(a: list[float], b: list[float], draws: int = 20_000) -> float:
    """Two-sided p-value of the difference of the means of ``a`` and ``b`` (seeds of two models) by permutation.

    The share of random relabellings of the pooled values whose mean difference is at least as large as the one
    observed (Monte Carlo with a fixed generator, so a table is reproducible; the observed labelling counts as one
    draw). A permutation test assumes no distribution of mAP over seeds, which a handful of seeds cannot check.
    NaN when either model has fewer than two seeds.
    """
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = np.array([*a, *b])
    observed = abs(np.mean(a) - np.mean(b))
    rng = np.random.default_rng(0)
    shuffled = rng.permuted(np.tile(pooled, (draws, 1)), axis=1)
    diffs = np.abs(shuffled[:, : len(a)].mean(1) - shuffled[:, len(a) :].mean(1))
    return float((1 + np.sum(diffs >= observed - 1e-12)) / (1 + draws))


def paired_p(a: list[float], b: list[float], draws: int = 20_000) -> float:
    """Two-sided p-value of the mean of the per-seed differences ``a[i] - b[i]`` by sign flipping.

    ``a[i]`` and ``b[i]`` are two models trained with the same seed. Ultralytics' seeded training gives every model
    the same batches and augmentations for a seed (measured on DeepPCB: the per-batch instance counts of YOLOv8n,
    yolo-freq-n and SD-GASNet-n runs of one seed are identical), so the runs of a seed share their data-order luck,
    which the difference cancels. Under no effect each difference is as likely positive as negative: p is the share
    of sign assignments whose mean difference is at least as large in size as the one observed, all 2**n of them up
    to 16 seeds (so with n seeds p cannot go below 2 / 2**n), else ``draws`` random ones with a fixed generator.
    NaN with fewer than two pairs.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n, observed = len(d), abs(d.sum())
    if n < 2:
        return float("nan")
    if n <= 16:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        return float(np.mean(np.abs(signs @ d) >= observed - 1e-12))
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(draws, n))
    return float((1 + np.sum(np.abs(signs @ d) >= observed - 1e-12)) / (1 + draws))
