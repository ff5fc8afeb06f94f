"""SSAMBlock: S2-AMNet's spatial-spectral adaptive modulation block (stages 3-4 of its backbone)."""

import torch
import torch.nn as nn

from ._validate import check_channels, check_divisible, check_same_width
from .afmm import AFMM
from .samm import SAMM


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map, at every pixel (ConvNeXt's channels-first LayerNorm).

    Args:
        c (int): Channels.
        eps (float): Added to the variance (the authors': 1e-6).

    Shapes:
        (B, c, H, W) -> (B, c, H, W).
    """

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c)), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise every pixel's channel vector, then scale and shift per channel."""
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return (x - u) / torch.sqrt(s + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]


class SSAMBlock(nn.Module):
    """Spatial-Spectral Adaptive Modulation block: a spatial then a spectral residual step, each pre-normalised.

    ``x = x + SAMM(LN(x))`` (:class:`SAMM`: four spatial operators gating the input), then
    ``x = x + AFMM(LN(x))`` (:class:`AFMM`: a channel MLP applied in the Fourier domain, a global filter learned per
    image). LN is a channel LayerNorm (eps 1e-6). There is no feed-forward network: AFMM takes its place.

    Departures: the authors' L variant adds layer scale (1e-5) and drop path (0.1); neither is built (their T/S/B
    detectors use neither). The layout follows the authors' code (read, not copied); the operators list their own.

    Args:
        c1 (int): Input channels, divisible by 16.
        c2 (int): Output channels, equal to c1.

    Shapes:
        (B, c1, H, W) -> (B, c1, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int):
        super().__init__()
        check_same_width("SSAMBlock", c1, c2, "it is residual")
        check_divisible("SSAMBlock", "c1", c1, 16, "SAMM splits it into four chunks of four PConv branches")
        self.c1 = c1
        self.norm1, self.samm = LayerNorm2d(c1), SAMM(c1, c1)
        self.norm2, self.afmm = LayerNorm2d(c1), AFMM(c1, c1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spatial modulation, then spectral mixing, each added to the input."""
        check_channels(self, x, self.c1)
        x = x + self.samm(self.norm1(x))
        return x + self.afmm(self.norm2(x))
