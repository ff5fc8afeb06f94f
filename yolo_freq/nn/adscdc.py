"""ADSCDC: adaptive dynamic spatial central-difference convolution, a part of S2-AMNet's SAMM."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_int, check_same_width


def _bins(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Mean over PyTorch's adaptive-pooling bins of `dim`: bin i covers [floor(i*n/k), ceil((i+1)*n/k))."""
    n = x.shape[dim]  # a 0-dim tensor when traced: the bounds below follow the exported size
    lead = (slice(None),) * dim
    # ceil by (a + k - 1) // k: integer division of non-negative ints, the same eager and in ONNX (Div truncates)
    means = [x[(*lead, slice(i * n // k, ((i + 1) * n + k - 1) // k))].mean(dim, keepdim=True) for i in range(k)]
    return torch.cat(means, dim)


def adaptive_avg_pool(x: torch.Tensor, k: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, k)`` as slices and means, for any size (ONNX has no adaptive pooling to
    non-divisors). Bins overlap or repeat pixels where k does not divide a side, exactly as PyTorch's do; the mean
    over a rectangle is the mean of its row means, so the rows are pooled first."""
    return _bins(_bins(x, k, 2), k, 3)


class ADSCDC(nn.Module):
    """Adaptive Dynamic Spatial Central-Difference Convolution (S2-AMNet's SAMM, Bao et al.; after central
    difference convolution, Yu et al., CVPR 2020, and dynamic convolution, Chen et al., CVPR 2020).

    A depthwise k x k convolution whose kernel is mixed per image, channel and tap from ``experts`` expert kernels,
    applied in central-difference form. Mixing weights: x is average-pooled to a k x k grid (PyTorch's adaptive
    bins), mapped by Conv1x1-BN-ReLU (d -> hidden) and Conv1x1 (hidden -> experts * d) and soft-maxed over the
    experts, ``K[b, c, t] = sum_g a[b, g, c, t] * expert[g, c, t]``. A CBAM-style channel gate
    ``theta = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` (one bias-free MLP for both pools) sets how much of the
    plain centre tap comes back:
    ``y(p) = sum_t K_t (x(p + t) - x(p)) + theta * K_centre * x(p)``, zero padded, i.e.
    ``conv(x, K) - x * sum_t K_t + theta * K_centre * x``: the centre term is folded into the kernel's centre tap.

    Two forms compute this. :meth:`forward_dynamic` pools with ``F.adaptive_avg_pool2d`` and runs one grouped
    convolution with the B*d per-image kernels. :meth:`forward_export` pools with slices and means and applies the
    kernel as k*k fixed one-hot depthwise shift kernels (a buffer) whose (B, d, k*k, H, W) shifted copies are
    weighted by the per-image taps and summed; it needs no adaptive pooling or weight tensors shaped by the batch,
    so it exports to ONNX with dynamic H and W. The forward uses the dynamic form eagerly (it is faster on CPU and
    keeps k*k times less memory) and the export form under tracing; both agree to float rounding (tested).

    Only S2-AMNet's abstract is public; the block follows the authors' public code (ADSCDConv), read, not copied.

    Departures:
        - hidden = max(d // r, 8) in both MLPs (reference: d // 4, which is 1 or 2 at small widths).
        - Expert kernels start as PyTorch's default for a depthwise k x k conv, U(-1/k, 1/k) (reference:
          truncated normal, std 0.02, as its whole network is initialised; Ultralytics keeps default inits, so
          this branch starts on the scale of its neighbours in SAMM).
        - The exportable form under tracing (see above); stride 1 and no bias only (SAMM's use; the reference's
          optional mixed bias is not offered).
        - Depthwise only, so c2 == c1.

    Args:
        c1 (int): Input channels d.
        c2 (int): Output channels, equal to c1 (depthwise).
        k (int): Kernel size, odd and >= 3.
        experts (int): Expert kernels mixed per image (reference: 4).
        r (int): Reduction ratio of the two MLPs.

    Shapes:
        (B, d, H, W) -> (B, d, H, W), any H, W >= 1. :meth:`forward_export` keeps k*k times the input.
    """

    def __init__(self, c1: int, c2: int, k: int = 3, experts: int = 4, r: int = 4):
        super().__init__()
        check_same_width("ADSCDC", c1, c2, "it is depthwise")
        check_int("ADSCDC", "k", k, 3, odd=True)
        check_int("ADSCDC", "experts", experts)
        check_int("ADSCDC", "r", r)
        self.c1, self.k, self.g = c1, k, experts
        hidden = max(c1 // r, 8)
        self.expert = nn.Parameter(torch.empty(experts, c1, k, k).uniform_(-1 / k, 1 / k))
        self.mix = nn.Sequential(Conv(c1, hidden, 1, act=nn.ReLU()), nn.Conv2d(hidden, experts * c1, 1, bias=False))
        self.gate = nn.Sequential(nn.Conv2d(c1, hidden, 1, bias=False), nn.ReLU(), nn.Conv2d(hidden, c1, 1, bias=False))
        eye = torch.eye(k * k)
        self.register_buffer("centre", eye[k * k // 2], persistent=False)  # one-hot centre tap (k*k,)
        self.register_buffer("shift", eye.repeat(c1, 1).reshape(c1 * k * k, 1, k, k), persistent=False)  # 0/1

    def mixing(self, pooled: torch.Tensor) -> torch.Tensor:
        """Soft-max weights of the experts per image, channel and tap: (B, d, k, k) -> (B, experts, d, k, k)."""
        return self.mix(pooled).unflatten(1, (self.g, self.c1)).softmax(1)

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image, per-channel weight of the plain centre term: (B, d, 1, 1) in (0, 1)."""
        return (self.gate(x.mean((2, 3), keepdim=True)) + self.gate(x.amax((2, 3), keepdim=True))).sigmoid()

    def kernel(self, pooled: torch.Tensor) -> torch.Tensor:
        """The experts mixed per image, channel and tap: (B, d, k, k) pooled -> K (B, d, k, k)."""
        return (self.mixing(pooled) * self.expert).sum(1)

    def taps(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """The mixed kernel with the central difference folded into its centre tap: (B, d, k*k)."""
        kern = self.kernel(pooled).flatten(2)  # K: (B, d, k*k)
        c = self.k * self.k // 2
        centre = self.theta(x).flatten(2) * kern[..., c : c + 1] - kern.sum(2, keepdim=True)  # (B, d, 1)
        return kern + centre * self.centre

    def forward_dynamic(self, x: torch.Tensor) -> torch.Tensor:
        """Reference form: adaptive pooling and a per-image grouped convolution (groups = B*d)."""
        b, d, h, w = x.shape
        taps = self.taps(x, F.adaptive_avg_pool2d(x, self.k)).reshape(b * d, 1, self.k, self.k)
        y = F.conv2d(x.reshape(1, b * d, h, w), taps.to(x.dtype), padding=self.k // 2, groups=b * d)
        return y.reshape(b, d, h, w)

    def forward_export(self, x: torch.Tensor) -> torch.Tensor:
        """Exportable form: pooling by slices, the kernel as weighted one-hot shifts. Keeps k*k times the input."""
        taps = self.taps(x, adaptive_avg_pool(x, self.k))  # (B, d, k*k)
        shifted = F.conv2d(x, self.shift.to(x.dtype), padding=self.k // 2, groups=self.c1)  # (B, d*k*k, H, W)
        return (shifted.unflatten(1, (self.c1, -1)) * taps[..., None, None]).sum(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dynamic central-difference convolution; the exportable form when traced (ONNX export)."""
        check_channels(self, x, self.c1)
        return self.forward_export(x) if torch.jit.is_tracing() else self.forward_dynamic(x)
