"""MFA: multi-scale feature alignment, SD-GASNet Section 3.1 (after Gold-YOLO's low-stage gather module)."""

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv, RepConv

from ._resample import resize_to
from ._validate import check_channel_list, check_inputs, check_int


class MFA(nn.Module):
    """Multi-scale Feature Alignment (SD-GASNet Section 3.1, first half of FIGA, Fig. 3).

    The backbone levels (P2, P3, P4, P5 in SD-GASNet) are resampled to the size of the reference level ``ref``
    (P4, as in Gold-YOLO's low-stage gather): larger levels by average pooling with an integer kernel equal to the
    stride, smaller ones by bilinear interpolation. They are concatenated, projected to ``c2`` by a 1x1 Conv-BN-SiLU
    and refined by ``n`` RepVGG blocks (3x3-BN + 1x1-BN + identity-BN branches summed, then the activation), each of
    which ``model.fuse()`` folds into a single 3x3 convolution (Ultralytics' ``RepConv``).

    Departures: the paper downsamples with adaptive average pooling to the target size, which fails ONNX export
    whenever the target does not divide the input; between YOLO levels the ratio is an integer, so an integer-kernel
    average pool computes the same thing (see :func:`resize_to`). The paper's concatenation feeds the RepVGG blocks
    directly; a 1x1 projection to ``c2`` first (as in Gold-YOLO) keeps the three 3x3 blocks at ``c2`` channels instead
    of the sum of all levels' channels. RepVGG activations are SiLU as in the rest of YOLOv8 (RepVGG uses ReLU).

    Args:
        c1 (list[int]): Channels of each input level (from the YAML 'from' list).
        c2 (int): Output channels (width-scaled by parse_model).
        ref (int): Index into the inputs of the level whose size is the output size (default 2: P4 of [P2..P5]).
        n (int): Number of RepVGG blocks (paper: 3).

    Shapes:
        [(B, c1[i], H_i, W_i)] -> (B, c2, H_ref, W_ref).
    """

    def __init__(self, c1: list[int], c2: int, ref: int = 2, n: int = 3):
        super().__init__()
        self.c1 = check_channel_list("MFA", c1)
        check_int("MFA", "c2", c2)
        check_int("MFA", "n", n, 0)
        if isinstance(ref, bool) or not isinstance(ref, int) or not -len(c1) <= ref < len(c1):
            raise ValueError(f"MFA: argument 'ref' must be an input index in [0, {len(c1) - 1}], got {ref!r}")
        self.ref = ref % len(c1)
        self.cv = Conv(sum(c1), c2, 1)
        self.m = nn.Sequential(*(RepConv(c2, c2, 3, bn=True) for _ in range(n)))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Align every level to the reference size, concatenate, project and refine."""
        check_inputs(self, xs, self.c1)
        size = xs[self.ref].shape[-2:]
        return self.m(self.cv(torch.cat([resize_to(x, size) for x in xs], 1)))
