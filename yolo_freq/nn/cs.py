"""CS: channel split with BottleRep blocks, SD-GASNet Section 3.2 (Fig. 5, 6; YOLOv6's BottleRep)."""

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv, RepConv
from ultralytics.utils.ops import make_divisible

from ._validate import check_channels, check_int


class BottleRep(nn.Module):
    """Bottle Rep block (SD-GASNet Section 3.2, Fig. 6; YOLOv6's ``BottleRep``).

    Two RepVGG blocks (Ultralytics' ``RepConv`` with an identity-BN branch, folded into one 3x3 conv each by
    ``model.fuse()``) plus the input scaled by a channel-wise retention factor ``alpha = sigmoid(C)``:
    ``y = RepVGG(RepVGG(x)) + alpha * x``.

    Departures: YOLOv6's alpha is one scalar initialised to 1; the paper makes it channel-wise and squashes it into
    (0, 1) with a sigmoid, which is done here (``C`` starts at 0, alpha = 0.5). The paper's text also mentions a
    1x1-reduce / 3x3 / 1x1-restore bottleneck inside BR; the formula is lost in the extraction and the project's
    design follows YOLOv6's two-RepVGG BottleRep, whose branches reparameterise completely.

    Args:
        c (int): Channels (input = output).

    Shapes:
        (B, c, H, W) -> (B, c, H, W).
    """

    def __init__(self, c: int):
        super().__init__()
        check_int("BottleRep", "c", c)
        self.c = c
        self.conv1 = RepConv(c, c, 3, bn=True)
        self.conv2 = RepConv(c, c, 3, bn=True)
        self.alpha_logit = nn.Parameter(torch.zeros(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two RepVGG blocks plus the sigmoid-scaled shortcut."""
        check_channels(self, x, self.c)
        alpha = self.alpha_logit.sigmoid().to(x.dtype).reshape(1, -1, 1, 1)
        return self.conv2(self.conv1(x)) + alpha * x


class CS(nn.Module):
    """Channel Split module (SD-GASNet Section 3.2, Eqs. 21-22, Fig. 5).

    A 1x1 Conv-BN-SiLU maps the input to ``hidden`` channels, which are split into three equal parts; each part
    passes through a :class:`BottleRep`; the parts are concatenated and a 1x1 Conv-BN-SiLU maps them to ``c2``.
    SD-GASNet applies it after fusing the downsampled P4 output with P5.

    Width scaling (the paper's 384): Ultralytics scales only the first YAML argument (``c2``), so the hidden width is
    a ratio of it, ``hidden = 3 * make_divisible(c2 * e / 3, 8)`` (a multiple of 24, so the three parts stay
    multiples of 8). The default ``e = 0.75`` gives the paper's 384 at c2 = 512, the P5 width of YOLOv8s (the
    paper's s-scale comparison) and of the l scale; n/m/x give 192/576/480.

    Departure: the paper calls the 1x1 projection "up-dimensioning to 384", so its CS input had fewer channels; with
    YOLOv8 widths the hidden width is 0.75 of the output, keeping the block's cost proportionate at every scale.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels (the backbone's P5 width in SD-GASNet).
        e (float): Hidden width as a ratio of ``c2`` (default 0.75: 384 hidden for 512 out).

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W).
    """

    def __init__(self, c1: int, c2: int, e: float = 0.75):
        super().__init__()
        check_int("CS", "c1", c1)
        check_int("CS", "c2", c2)
        if not isinstance(e, (int, float)) or isinstance(e, bool) or not 0 < e <= 4:
            raise ValueError(f"CS: argument 'e' must be a number in (0, 4], got {e!r}")
        self.c1 = c1
        self.c = make_divisible(c2 * e / 3, 8)
        self.cv1 = Conv(c1, 3 * self.c, 1)
        self.m = nn.ModuleList(BottleRep(self.c) for _ in range(3))
        self.cv2 = Conv(3 * self.c, c2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project, split in three, enhance each part, concatenate and project back."""
        check_channels(self, x, self.c1)
        parts = self.cv1(x).split(self.c, 1)
        return self.cv2(torch.cat([m(p) for m, p in zip(self.m, parts)], 1))
