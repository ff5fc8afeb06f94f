"""Inject: gated injection of global into local features, SD-GASNet Section 3.2 (Gold-YOLO's information injection)."""

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv

from ._resample import resize_to
from ._validate import check_channel_list, check_inputs, check_int


class Inject(nn.Module):
    """Inject a global feature into a local one (SD-GASNet Section 3.2, Eq. 12; Gold-YOLO's injection module).

    The local feature is embedded by a 1x1 Conv-BN; the global feature by two 1x1 Conv-BNs, a gate and an
    embedding, both resampled to the local size. Output: ``Conv(local) * sigmoid(gate(global)) + embed(global)``.
    In SD-GASNet the low-frequency FGPEM output is injected into P3 and the high-frequency one into P4.

    At inference the 1x1 Conv-BNs are per-pixel affine maps, so they commute with average pooling and bilinear
    interpolation (both average with weights summing to one): they run at the smaller of the two resolutions, which
    is cheaper and gives the same result as the other order. In training the BNs normalise with the statistics of
    the resolution they run at, so the two orders differ there; this block trains in the order it infers. The
    sigmoid is applied after resampling.

    Departures: Gold-YOLO's gate is a hard sigmoid and its downsampling an adaptive pool; here the gate is a sigmoid
    (the paper says "a gating mechanism") and resampling uses the export-safe :func:`resize_to`.

    Args:
        c1 (list[int]): Channels of [local, global] (from the YAML 'from' list, local first).
        c2 (int): Output channels (width-scaled by parse_model).

    Shapes:
        [(B, c1[0], H, W), (B, c1[1], Hg, Wg)] -> (B, c2, H, W), any sizes.
    """

    def __init__(self, c1: list[int], c2: int):
        super().__init__()
        self.c1 = check_channel_list("Inject", c1, 2, exact=True, names=" [local, global]")
        check_int("Inject", "c2", c2)
        self.c2 = c2
        self.local = Conv(c1[0], c2, 1, act=False)
        self.glob = Conv(c1[1], 2 * c2, 1, act=False)  # [gate, embedding]

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Gate the local embedding with the global feature and add the global embedding."""
        check_inputs(self, xs, self.c1)
        local, glob = xs
        size = local.shape[-2:]
        if glob.shape[-2] * glob.shape[-1] > local.shape[-2] * local.shape[-1]:
            g = self.glob(resize_to(glob, size))
        else:
            g = resize_to(self.glob(glob), size)
        gate, embed = g.split(self.c2, 1)
        return self.local(local) * gate.sigmoid() + embed
