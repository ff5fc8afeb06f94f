"""DSLK-Conv and C2f-DSLKConv: dynamic shifted large-kernel convolution, PCB-FS Section 3.4."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from ultralytics.nn.modules import C2f, Conv

from ._validate import check_channels, check_int


def stripe_shifts(k: int, s: int) -> list[tuple[int, int]]:
    """Branch shifts (dy, dx) whose s x s windows tile a horizontal and a vertical k-long stripe.

    For k=13, s=5: [(0, -4), (0, 0), (0, 4), (-4, 0), (4, 0)], a 13x5 + 5x13 cross footprint.
    """
    r = (k - s) // 2
    m = math.ceil((k - s) / s) + 1
    offsets = sorted({round(-r + 2 * r * i / (m - 1)) for i in range(m)}) if m > 1 else [0]
    return [(0, o) for o in offsets] + [(o, 0) for o in offsets if o]


class DSLKConv(nn.Module):
    """Dynamic Shifted Large-Kernel convolution block (PCB-FS Section 3.4.1, Fig. 4b).

    ``M`` depthwise ``s x s`` branches see the input shifted by ``tau_m``; each kernel tap is scaled by a learnable
    sigmoid gate ``beta_m(u, v)`` and the branch outputs are summed (the paper's Z(q) formula). The shifts tile a
    horizontal and a vertical stripe of length ``k`` (see :func:`stripe_shifts`), so one block has the receptive
    field of a k x k kernel at ``M * s^2`` instead of ``k^2`` taps per channel. Each branch is an unpadded ``s x s``
    depthwise convolution over the window of the zero-padded input that its shift reads: the sum is exactly a
    k x k depthwise convolution with a sparse kernel (:meth:`large_kernel`).
    It is computed branch by branch because PyTorch's CPU kernels are fast for small depthwise kernels and slow for
    large ones (measured at 32 x 160 x 160: 5.6 ms for the five 5x5 branches, 37 ms for one dense 13x13).
    A BN, then a 1x1 Conv-BN-SiLU mix channels, and the input is added when ``shortcut`` and ``c1 == c2``.
    :meth:`fuse` folds the gates and the BN into the branch kernels and one bias.

    Departures: the paper leaves the shifts, channel mixing and normalisation unspecified. Branches are depthwise
    (a dense s x s conv per branch would cost M times a YOLOv8 bottleneck) and followed by a pointwise conv, as in
    the shift-wise and SLaK references; shifts follow SLaK's horizontal/vertical stripes.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        shortcut (bool): Add the input when c1 == c2.
        k (int): Odd large-kernel size covered by the stripes (default 13).
        s (int): Odd small-kernel size (paper: 5).

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int, shortcut: bool = True, k: int = 13, s: int = 5):
        super().__init__()
        check_int("DSLKConv", "c1", c1)
        check_int("DSLKConv", "c2", c2)
        check_int("DSLKConv", "s", s, 1, odd=True)
        check_int("DSLKConv", "k", k, s, odd=True)
        self.c1, self.k, self.s = c1, k, s
        self.shifts = stripe_shifts(k, s)
        self.pad = max(max(abs(dy), abs(dx)) for dy, dx in self.shifts)
        # Branch-major (M * c1, 1, s, s): 4-D because Ultralytics converts models to channels_last, which 5-D rejects.
        self.weight = nn.Parameter(torch.empty(len(self.shifts) * c1, 1, s, s))
        for w in self.weight.data.view(len(self.shifts), c1, 1, s, s):
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.beta = nn.Parameter(torch.zeros(len(self.shifts), s, s))  # sigmoid(0) = 0.5 for every tap
        self.bias = None  # set by fuse()
        self.bn = nn.BatchNorm2d(c1)
        self.pw = Conv(c1, c2, 1)
        self.add = bool(shortcut) and c1 == c2

    def branch_weight(self) -> torch.Tensor:
        """Gated branch kernels, shape (M, c1, 1, s, s)."""
        w = self.weight.reshape(len(self.shifts), self.c1, 1, self.s, self.s)
        return w if self.beta is None else w * self.beta.sigmoid()[:, None, None]

    def large_kernel(self) -> torch.Tensor:
        """The equivalent sparse k x k depthwise kernel, shape (c1, 1, k, k)."""
        big = self.weight.new_zeros(self.c1, 1, self.k, self.k)
        o = self.k // 2 - self.s // 2
        for w, (dy, dx) in zip(self.branch_weight(), self.shifts):
            big[:, :, o + dy : o + dy + self.s, o + dx : o + dx + self.s] += w
        return big

    def _large(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of the shifted branches followed by BN: the k x k depthwise part of the block."""
        h, w, p = x.shape[2], x.shape[3], self.pad + self.s // 2
        xp = F.pad(x, (p, p, p, p))
        out, n = None, self.s - 1
        for i, (wi, (dy, dx)) in enumerate(zip(self.branch_weight().to(x.dtype), self.shifts)):
            bias = self.bias.to(x.dtype) if i == 0 and self.bias is not None else None
            # each branch convolves only the window its shifted output reads, not the whole padded map
            window = xp[:, :, self.pad + dy : self.pad + dy + h + n, self.pad + dx : self.pad + dx + w + n]
            y = F.conv2d(window, wi, bias, groups=self.c1)
            out = y if out is None else out + y
        return self.bn(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Large-kernel depthwise mixing, then pointwise channel mixing."""
        check_channels(self, x, self.c1)
        y = self.pw(self._large(x))
        return x + y if self.add else y

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the sigmoid gates and the BN into the branch kernels and one bias (inference only)."""
        if self.beta is None:
            return
        bn, std = self.bn, (self.bn.running_var + self.bn.eps).sqrt()
        scale = bn.weight / std
        w = self.branch_weight() * scale[None, :, None, None, None]
        self.weight = nn.Parameter(w.reshape(-1, 1, self.s, self.s), requires_grad=False)
        self.bias = nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=False)
        self.beta, self.bn = None, nn.Identity()


class C2fDSLKConv(C2f):
    """C2f whose bottlenecks are :class:`DSLKConv` blocks (PCB-FS Section 3.4.2, Fig. 4a).

    Decision: the paper writes the final concat as (X1, Conv1x1(X), Y2^(1), Y2); since Conv1x1(X) is [X1, X2], that
    repeats X1 (and, for n = 1, Y2). We keep C2f's concat [X1, X2, Y^(1), ..., Y^(n)], which carries the same
    information without duplicates, and reuse C2f's ``forward``/``forward_split`` (behind an input-channel check) so
    Ultralytics' exporter, which swaps every C2f's forward for ``forward_split``, stays correct.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        n (int): Number of DSLK-Conv blocks.
        shortcut (bool): Residual connections inside the blocks.
        e (float): Hidden-channel ratio.
        k (int): Large-kernel size of each block.
        s (int): Small-kernel size of each block.

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W).
    """

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, e: float = 0.5, k: int = 13, s: int = 5):
        nn.Module.__init__(self)
        check_int("C2fDSLKConv", "n", n)
        if not isinstance(e, (int, float)) or isinstance(e, bool) or not 0 < e <= 4:
            raise ValueError(f"C2fDSLKConv: argument 'e' must be a number in (0, 4], got {e!r}")
        self.c1, self.c = c1, max(int(c2 * e), 1)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(DSLKConv(self.c, self.c, shortcut, k, s) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """C2f's forward, with a clear error for a wrong input channel count."""
        check_channels(self, x, self.c1)
        return super().forward(x)
