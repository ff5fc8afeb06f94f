"""MPConv and MPBlock: S2-AMNet's multi-path depthwise convolution and the residual block built on it."""

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_divisible, check_int, check_same_width


class MPConv(nn.Module):
    """Multi-path depthwise convolution: four channel chunks with cascaded 3x3 depthwise convolutions.

    ``y1 = BN(DW3x3(x1))``, ``y_i = BN(DW3x3(y_{i-1} + x_i))`` for i = 2..4, output ``GELU(concat(y1..y4))``: the
    chunks see receptive fields of 3, 5, 7 and 9 pixels at the cost of four 3x3 depthwise convolutions (Res2Net's
    hierarchy, depthwise).

    Departures: none in the computation (the layout follows the authors' code, read, not copied).

    Args:
        c1 (int): Input channels, divisible by 4.
        c2 (int): Output channels, equal to c1.

    Shapes:
        (B, c1, H, W) -> (B, c1, H, W).
    """

    def __init__(self, c1: int, c2: int):
        super().__init__()
        check_same_width("MPConv", c1, c2, "it is depthwise")
        check_divisible("MPConv", "c1", c1, 4, "it splits the channels into four paths")
        self.c1, d = c1, c1 // 4
        self.convs = nn.ModuleList(Conv(d, d, 3, g=d, act=False) for _ in range(4))
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Cascade the depthwise convolutions over the four chunks."""
        check_channels(self, x, self.c1)
        ys, y = [], 0
        for x_i, conv in zip(x.chunk(4, 1), self.convs):
            y = conv(x_i + y)  # (B, c1/4, H, W); the first path adds nothing
            ys.append(y)
        return self.act(torch.cat(ys, 1))


class MPBlock(nn.Module):
    """S2-AMNet's convolutional block (stages 1-2): an inverted bottleneck around MPConv, with a residual.

    ``x + BN(PW_{4d->d}(MPConv(GELU(BN(PW_{d->4d}(x))))))``, bias-free convolutions.

    Departures: the authors' drop path (0 in their T/S/B detectors) is not built; initialisation is Ultralytics'.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels, equal to c1.
        e (int): Expansion of the hidden width (paper: 4).

    Shapes:
        (B, c1, H, W) -> (B, c1, H, W).
    """

    def __init__(self, c1: int, c2: int, e: int = 4):
        super().__init__()
        check_same_width("MPBlock", c1, c2, "it is residual")
        check_int("MPBlock", "e", e, 2)
        self.c1, hidden = c1, e * c1
        self.cv1 = Conv(c1, hidden, 1, act=nn.GELU())
        self.mp = MPConv(hidden, hidden)
        self.cv2 = Conv(hidden, c1, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, mix by MPConv, project back and add."""
        check_channels(self, x, self.c1)
        return x + self.cv2(self.mp(self.cv1(x)))
