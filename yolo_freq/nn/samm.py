"""SAMM: spatial-adaptive modulation module, the spatial half of S2-AMNet's SSAM block."""

import torch
import torch.nn as nn

from ._validate import check_channels, check_divisible, check_same_width
from .adscdc import ADSCDC
from .dac import DAC
from .pconv import PConv


class SAMM(nn.Module):
    """Spatial-Adaptive Modulation Module: four differently shaped spatial operators modulate the input.

    The channels are split into four chunks of d = c1 / 4, one per operator: :class:`PConv` (pinwheel, directional
    strips), :class:`DAC` along x and along y (deformable axial, for thin bent structures such as cracks or
    traces) and :class:`ADSCDC` (dynamic central-difference, for edges). Their outputs are concatenated and turned
    into a modulation: ``GELU(Conv1x1(concat)) * x`` (a 1x1 convolution with bias).

    Departures: none in the computation (only S2-AMNet's abstract is public; the layout follows the authors' code,
    read, not copied); each operator lists its own.

    Args:
        c1 (int): Input channels, divisible by 16 (four chunks, each split four ways by PConv).
        c2 (int): Output channels, equal to c1 (the output modulates the input).

    Shapes:
        (B, c1, H, W) -> (B, c1, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int):
        super().__init__()
        check_same_width("SAMM", c1, c2, "its output modulates its input")
        check_divisible("SAMM", "c1", c1, 16, "four chunks of c1 / 4, each split into four PConv branches")
        self.c1, d = c1, c1 // 4
        self.ops = nn.ModuleList((PConv(d, d), DAC(d, d, morph=0), DAC(d, d, morph=1), ADSCDC(d, d)))
        self.proj = nn.Conv2d(c1, c1, 1)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each chunk through its operator; the joined result gates the input."""
        check_channels(self, x, self.c1)
        y = torch.cat([op(chunk) for op, chunk in zip(self.ops, x.chunk(4, 1))], 1)  # (B, c1, H, W)
        return self.act(self.proj(y)) * x
