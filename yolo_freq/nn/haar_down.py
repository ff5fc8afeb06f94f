"""HaarDown: Haar-wavelet downsampling, S2-AMNet (abstract; after HWD, Xu et al. 2023)."""

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_int
from .wavelet import DWT2d


class HaarDown(nn.Module):
    """Haar-wavelet downsampling, a drop-in for a stride-2 Conv (S2-AMNet's downsampling layers).

    A single-level Haar DWT turns every channel into its four half-size subbands (LL, LH, HL, HH), which are
    concatenated to ``4 * c1`` channels and mixed by a 1x1 Conv-BN-SiLU to ``c2``. Unlike a strided convolution,
    the DWT is invertible, so no detail is discarded before the learned mixing (the paper's motivation: keep small
    defects' fine structure). Replace ``[-1, 1, Conv, [c2, 3, 2]]`` by ``[-1, 1, HaarDown, [c2]]`` in a YAML.

    Odd sizes: the last row/column is replicated before the transform, so the output is ``ceil(H/2) x ceil(W/2)``,
    the size a stride-2 3x3 convolution with padding 1 gives.

    Departures: S2-AMNet's abstract says only that the Haar wavelet transform is used in the downsampling layers;
    the structure (DWT, concat 4C, 1x1 conv with BN and activation) is HWD's, as the project's design notes give
    it; the activation is SiLU as everywhere in YOLOv8 (HWD uses ReLU).

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.

    Shapes:
        (B, c1, H, W) -> (B, c2, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, c1: int, c2: int):
        super().__init__()
        check_int("HaarDown", "c1", c1)
        check_int("HaarDown", "c2", c2)
        self.c1 = c1
        self.dwt = DWT2d("haar")
        self.cv = Conv(4 * c1, c2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Haar subbands of every channel, concatenated, mixed to c2 channels."""
        check_channels(self, x, self.c1)
        return self.cv(self.dwt(x).flatten(1, 2))
