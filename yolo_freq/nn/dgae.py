"""DGAE: dynamic geometry-aware encoding, DynaWave-Net Section 3.3.1."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from ultralytics.nn.modules import Conv
from ultralytics.utils.ops import make_divisible

from ._validate import check_channels, check_int


def kernel_taps(k: int, d: int) -> torch.Tensor:
    """(k*k, 2) displacements (dy, dx) of a kxk kernel's taps at dilation d from its centre, taps in row-major order."""
    t = (torch.arange(k, dtype=torch.float32) - k // 2) * d
    return torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(k * k, 2)


class DeformConv(nn.Module):
    """A kxk deformable convolution (DCNv1, Dai et al., ICCV 2017) at dilation d, by grid_sample, then BN and SiLU.

    A kxk convolution with the branch's own dilation and padding ``d * (k // 2)`` (so it sees what the kernel sees,
    as DCN implementations do) predicts per pixel one offset (dy, dx) per tap, in torchvision's ``deform_conv2d``
    layout: (B, 2*k*k, H, W), channels (2t, 2t+1) = (dy, dx) of tap t in row-major order. Tap t of pixel (i, j)
    samples the input bilinearly at ``(i + d*ty + dy, j + d*tx + dx)`` with zeros outside the image (torchvision's
    semantics: every sample point is zero-padded). The k*k samples are stacked as channels, c1*k*k of them (channel
    ``c*k*k + t``), and a 1x1 Conv-BN-SiLU whose weight is the kxk kernel, ``conv.weight.view(c2, c1, k, k)``,
    combines them. The offset conv starts at zero (weights and bias), so the branch starts as a plain dilated
    Conv-BN-SiLU; zero offsets still receive gradients (bilinear sampling is differentiable at whole pixels).

    Sampling is float32 (coordinates and input) and cast back: in bf16 a coordinate near 40 resolves only 0.25 px,
    and grid_sample needs equal dtypes. ``align_corners=False``: with True, a side of 1 maps every coordinate onto
    its single pixel, so taps outside it would read the pixel instead of zero. Memory: the stacked samples are k*k
    float32 copies of the input (nine at k = 3).

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        k (int): Kernel size, odd.
        d (int): Dilation.

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int, k: int = 3, d: int = 1):
        super().__init__()
        self.k, self.d = k, d
        self.offset = nn.Conv2d(c1, 2 * k * k, k, padding=d * (k // 2), dilation=d)
        nn.init.zeros_(self.offset.weight)  # zero offsets: the branch starts as a dilated convolution
        nn.init.zeros_(self.offset.bias)
        self.register_buffer("taps", kernel_taps(k, d), persistent=False)  # small integers: exact in any dtype
        self.cv = Conv(c1 * k * k, c2, 1)  # the kxk kernel as a 1x1 conv over the stacked taps, then BN + SiLU

    def grid(self, offset: torch.Tensor) -> torch.Tensor:
        """grid_sample grid (align_corners=False) of every tap: (B, 2*k*k, H, W) offsets -> (B, k*k*H, W, 2)."""
        _, _, h, w = offset.shape  # traced sizes are tensors: the grid follows them in a dynamic-axes export
        f32 = dict(dtype=torch.float32, device=offset.device)
        off = offset.float().unflatten(1, (-1, 2))  # (B, kk, 2, H, W): (dy, dx) per tap
        taps = self.taps.float()
        y = torch.arange(h, **f32)[:, None] + taps[:, 0, None, None] + off[:, :, 0]  # (B, kk, H, W) in pixels
        x = torch.arange(w, **f32) + taps[:, 1, None, None] + off[:, :, 1]
        y, x = (2 * y + 1) / h - 1, (2 * x + 1) / w - 1  # pixel p's centre; one rounding, not two
        return torch.stack((x, y), -1).flatten(1, 2)  # tap t, row i at row t*H + i

    def sample(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """The k*k deformed taps of every pixel stacked as channels: (B, c1, H, W) -> (B, c1*k*k, H, W)."""
        s = F.grid_sample(x.float(), self.grid(offset), mode="bilinear", padding_mode="zeros", align_corners=False)
        return s.unflatten(2, (self.taps.shape[0], -1)).flatten(1, 2).to(x.dtype)  # (B, c1, kk*H, W) -> channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict the offsets from x, sample the deformed taps and apply the kernel."""
        return self.cv(self.sample(x, self.offset(x)))


class DGAE(nn.Module):
    """Dynamic Geometry-Aware Encoding (DynaWave-Net Section 3.3.1, Eqs. 17-20).

    Three kxk deformable convolutions (:class:`DeformConv`, offsets predicted from the input) at dilations 1, 2 and
    3 see the input at growing, input-adapted receptive fields; their outputs are concatenated into z (3*c_
    channels), gated as ``z * g`` with ``g = sigmoid(Conv1x1(BN(ReLU(z))))``, and a 1x1 Conv-BN-SiLU maps the result
    to c2. With c1 == c2 the block is residual: ``x + Conv1x1(z * g)``.

    Memory: the three branches stack 3*k*k float32 samples of the input per pixel (27 * c1 * H * W floats per image
    at k = 3, kept for the backward pass), so place DGAE at P4/P5, not at P3.

    The paper gives the equations only, no code; what they leave open is chosen here and listed below.

    Departures:
        - Kernel k = 3; deformable v1 (no modulation mask, which the equations do not have); each branch's offsets
          come from a zero-initialised kxk conv with the branch's dilation, so DGAE starts from plain dilated
          convolutions, and each deformable conv is followed by BN and SiLU (Ultralytics' Conv).
        - Branch width ``c_ = make_divisible(c2 * e / 3, 8)`` (a multiple of 8, at least 8, as in CS: the concat
          is about ``e * c2`` wide); the paper does not say how z returns to the output width: a 1x1 Conv-BN-SiLU
          after the gate does.
        - The gate is per pixel and channel (a 1x1 conv from 3*c_ to 3*c_ channels).
        - With c1 == c2 the output is ``x + Conv1x1(z * g)`` with that Conv's BatchNorm scale starting at zero, so a
          DGAE inserted into a pretrained network starts as the identity (as FDSA does); the paper has no residual.
        - Deformable sampling is F.grid_sample, not torchvision's deform_conv2d (no export through Ultralytics'
          ONNX exporter, no DeformConv in onnxruntime): the same values (tested), in float32.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        k (int): Kernel size of the deformable convolutions, odd and >= 3.
        e (float): Width of the concatenated branches as a ratio of c2 (each branch: c2 * e / 3, rounded up to 8).

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int, k: int = 3, e: float = 0.5):
        super().__init__()
        check_int("DGAE", "c1", c1)
        check_int("DGAE", "c2", c2)
        check_int("DGAE", "k", k, 3, odd=True)
        if not isinstance(e, (int, float)) or isinstance(e, bool) or not 0 < e <= 4:
            raise ValueError(f"DGAE: argument 'e' must be a number in (0, 4], got {e!r}")
        self.c1, self.c_ = c1, make_divisible(c2 * e / 3, 8)
        cz = 3 * self.c_
        self.branches = nn.ModuleList(DeformConv(c1, self.c_, k, d) for d in (1, 2, 3))
        self.gate = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(cz), nn.Conv2d(cz, cz, 1), nn.Sigmoid())
        self.cv = Conv(cz, c2, 1)
        self.add = c1 == c2
        if self.add:
            nn.init.zeros_(self.cv.bn.weight)  # the branch starts at SiLU(0) = 0: DGAE starts as the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode with three deformable dilated convolutions, gate the concatenation and project to c2."""
        check_channels(self, x, self.c1)
        z = torch.cat([b(x) for b in self.branches], 1)  # (B, 3*c_, H, W)
        y = self.cv(z * self.gate(z))  # (B, c2, H, W)
        return x + y if self.add else y
