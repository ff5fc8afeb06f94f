"""SSAMStem: S2-AMNet's convolutional stem (two stride-2 convolutions to stride 4)."""

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_divisible, check_int


class SSAMStem(nn.Module):
    """S2-AMNet's stem: Conv3x3 s2 -> BN -> GELU -> Conv3x3 s2 -> BN, from the image to the P2 (stride-4) features.

    The second convolution has no activation: every stage after it starts with a residual block (MPBlock) whose
    input is this linear map, as in the authors' network.

    Departures: none in the computation (only S2-AMNet's abstract is public; the layout follows the authors' code,
    read, not copied). Initialisation is Ultralytics' (the authors use truncated normal, std 0.02).

    Args:
        c1 (int): Input channels (3 for RGB images).
        c2 (int): Output channels (even; the first convolution gives c2 / 2).

    Shapes:
        (B, c1, H, W) -> (B, c2, ceil(H/4), ceil(W/4)) (each convolution rounds up, as YOLO's stride-2 Convs).
    """

    def __init__(self, c1: int, c2: int):
        super().__init__()
        check_int("SSAMStem", "c1", c1)
        check_int("SSAMStem", "c2", c2, 2)
        check_divisible("SSAMStem", "c2", c2, 2, "the first convolution has c2 / 2 channels")
        self.c1 = c1
        self.cv1 = Conv(c1, c2 // 2, 3, 2, act=nn.GELU())
        self.cv2 = Conv(c2 // 2, c2, 3, 2, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two stride-2 convolutions: (B, c1, H, W) -> (B, c2, H/4, W/4)."""
        check_channels(self, x, self.c1)
        return self.cv2(self.cv1(x))
