"""PConv: pinwheel-shaped convolution, one of SAMM's four branches (S2-AMNet, after Yang et al. 2024)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_divisible, check_int


class PConv(nn.Module):
    """Pinwheel-shaped convolution: four asymmetrically padded 1xk / kx1 convolutions, one per direction.

    With m = c1 / 4, the input is zero-padded four ways, (left, right, top, bottom) = (k, 0, 1, 0), (0, k, 0, 1),
    (0, 1, k, 0), (1, 0, 0, k); a grouped 1xk Conv-BN-SiLU (c1 -> m, groups m) reads the first two, a kx1 one the
    last two, so each result is (H+1) x (W+1) and leans in its own direction (the pinwheel). The four are
    concatenated (c1 channels), a depthwise 2x2 Conv-BN-SiLU without padding brings them back to H x W, and a 1x1
    Conv-BN maps to c2.

    Departures: S2-AMNet's abstract names the block only; the layout follows the authors' code (read, not copied).
    The last 1x1 convolution has a BatchNorm and no activation (SAMM's own 1x1 and GELU follow it).

    Args:
        c1 (int): Input channels, divisible by 4.
        c2 (int): Output channels.
        k (int): Length of the strip kernels (paper: 3).

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int, k: int = 3):
        super().__init__()
        check_int("PConv", "c1", c1)
        check_int("PConv", "c2", c2)
        check_int("PConv", "k", k, 2)
        check_divisible("PConv", "c1", c1, 4, "it has four directional branches of c1 / 4 channels")
        self.c1, m = c1, c1 // 4
        self.pads = ((k, 0, 1, 0), (0, k, 0, 1), (0, 1, k, 0), (1, 0, 0, k))  # F.pad order: left, right, top, bottom
        self.cw = Conv(c1, m, (1, k), p=0, g=m)  # rows: the first two pads
        self.ch = Conv(c1, m, (k, 1), p=0, g=m)  # columns: the last two
        self.cat = Conv(c1, c1, 2, p=0, g=c1)
        self.proj = Conv(c1, c2, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Four directional strip convolutions, joined by a 2x2 depthwise one."""
        check_channels(self, x, self.c1)
        convs = (self.cw, self.cw, self.ch, self.ch)
        y = torch.cat([conv(F.pad(x, pad)) for conv, pad in zip(convs, self.pads)], 1)  # (B, c1, H+1, W+1)
        return self.proj(self.cat(y))
