"""AFMM: adaptive frequency mixing, the spectral half of S2-AMNet's SSAM block (Bao et al.)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import check_channels, check_divisible, check_int, check_same_width


def _angles(rows, cols, n, device=None) -> torch.Tensor:
    """``2 pi ((r c) mod n) / n`` for r < `rows`, c < `cols`, shape (rows, cols), float32.

    The product is reduced mod n in integers first, so every angle lies in [0, 2 pi) and float32 cos/sin stay
    accurate to ~1e-7 at any size. `rows`, `cols`, `n` may be ints or 0-dim tensors (traced sizes), so a dynamic-axes
    ONNX export rebuilds the angles from the input size at every call.
    """
    r = torch.arange(rows, device=device)
    c = torch.arange(cols, device=device)
    return torch.remainder(r[:, None] * c[None, :], n).float() * (2 * math.pi / n)


def _dft(n, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal n-point DFT as (cos, sin), each (n, n) and symmetric: ``F = cos - i sin``, ``F^-1 = cos + i sin``."""
    a = _angles(n, n, n, device)
    s = n**-0.5
    return torch.cos(a) * s, torch.sin(a) * s


def _rdft(n, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first n // 2 + 1 columns of the orthonormal n-point DFT, (cos, sin) each (n, n // 2 + 1), and the
    inverse real DFT's column weights (n // 2 + 1,).

    The weight is 2 for 0 < v < n / 2 (v stands for itself and its conjugate partner n - v) and 1 at the
    self-conjugate columns v = 0 and v = n / 2 (n even). It is computed arithmetically from `n`, so one traced graph
    serves both parities.
    """
    cols = n // 2 + 1
    a = _angles(n, cols, n, device)
    s = n**-0.5
    v = torch.arange(cols, device=device)
    weight = torch.where((v == 0) | (2 * v == n), 1.0, 2.0)
    return torch.cos(a) * s, torch.sin(a) * s, weight


class AFMM(nn.Module):
    """Adaptive Frequency Mixing Module: a complex MLP predicts a per-frequency mask for the spectrum.

    S2-AMNet (Bao et al.), AFMM of the SSAM block. Only the paper's abstract was available; the block follows the
    authors' public code (github.com/Baojy01/SSAM, read, not copied). For x (B, C, H, W):
    ``X = rfft2(x)`` (orthonormal, (B, C, H, W//2+1) complex); a two-layer complex MLP over the channels, applied at
    every frequency and block-diagonal in ``groups`` groups of C/G channels, gives the mask
    ``M = W2 O1 + b2`` with ``O1 = ReLU(Re(W1 X + b1)) + i ReLU(Im(W1 X + b1))``; the output is
    ``irfft2(M * X, s=(H, W))``. The mask depends on the input's own spectrum, so the filter adapts per image and
    per frequency with 4 C^2 / G + 4 C parameters, independent of the image size.

    Parameters are kept in the authors' layout, so their AFMM weights load unchanged: ``w1``, ``w2`` of shape
    (2, G, C/G, C/G), index [real/imag, group, input channel, output channel]; ``b1``, ``b2`` of shape (2, G, C/G).
    Both are initialised as 0.02 * randn, as the authors do. Each complex linear layer runs as one grouped 1x1
    convolution on the stacked real and imaginary parts, its (2C, 2C/G, 1, 1) weight assembled at each call from
    ``w`` by reshapes with sizes fixed at construction: the FFT and the export path share that code.

    Departures: the FFT path computes in float32 with autocast off (``rfft2`` has no bf16) and returns ``x.dtype``
    (the authors return float32). Under ``torch.jit`` tracing or ONNX export, :meth:`forward_dft` computes the same
    result with real arithmetic and DFT matrices built from the traced input size (the legacy ONNX exporter has no
    FFT, pytorch/pytorch#121130), equal to the FFT path to ~1e-6 at float32; it costs O(C H W (H + W)) instead of
    O(C H W log(H W)) and is used only for export. There is no residual: as in the authors' SSAM block, the
    caller adds the input (with a 0.02-scale initial mask the output starts near zero).

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels, equal to c1 (the mask multiplies the input's spectrum channel by channel).
        groups (int): Number G of diagonal blocks of the complex MLP; c1 must be divisible by it.

    Shapes:
        (B, C, H, W) -> (B, C, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int, groups: int = 4):
        super().__init__()
        check_same_width("AFMM", c1, c2, "it masks the input's spectrum channel by channel and has no projection")
        check_int("AFMM", "groups", groups)
        check_divisible("AFMM", "c1", c1, groups, f"the complex MLP is block-diagonal in groups={groups} groups")
        self.c1, self.groups = c1, groups
        d = c1 // groups
        self.w1 = nn.Parameter(0.02 * torch.randn(2, groups, d, d))
        self.b1 = nn.Parameter(0.02 * torch.randn(2, groups, d))
        self.w2 = nn.Parameter(0.02 * torch.randn(2, groups, d, d))
        self.b2 = nn.Parameter(0.02 * torch.randn(2, groups, d))

    def _linear(self, z: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Complex linear layer on z (B, 2C, H, W') laid out as (G, [real, imag], C/G): a grouped 1x1 conv.

        Per group the real weight matrix is ``[[Wr, -Wi], [Wi, Wr]]`` with ``Wr = w[0, g].T`` (out x in).
        """
        g, d = self.groups, self.c1 // self.groups
        wr, wi = w.float().transpose(2, 3).unbind(0)  # (G, out, in) each
        weight = torch.cat((torch.cat((wr, -wi), 2), torch.cat((wi, wr), 2)), 1)  # (G, 2 out, 2 in)
        bias = b.float().transpose(0, 1).reshape(2 * g * d)  # (G, [real, imag], out), as the output channels
        return F.conv2d(z, weight.reshape(2 * g * d, 2 * d, 1, 1), bias, groups=g)

    def mask(self, xr: torch.Tensor, xi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The complex MLP on a spectrum given as real and imaginary parts (B, C, H, W'); returns M's parts."""
        g = self.groups
        z = torch.stack((xr.unflatten(1, (g, -1)), xi.unflatten(1, (g, -1))), 2).flatten(1, 3)  # (B, 2C, H, W')
        z = self._linear(F.relu(self._linear(z, self.w1, self.b1)), self.w2, self.b2)  # ReLU on Re and Im apart
        mr, mi = z.unflatten(1, (g, 2, -1)).unbind(2)
        return mr.flatten(1, 2), mi.flatten(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Multiply the spectrum by the mask the complex MLP predicts from it."""
        check_channels(self, x, self.c1)
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return self.forward_dft(x)
        h, w = x.shape[-2:]
        with torch.autocast(x.device.type, enabled=False):  # rfft2 has no bf16; the MLP stays in float32 too
            spec = torch.fft.rfft2(x.float(), norm="ortho")  # (B, C, H, W//2+1)
            mr, mi = self.mask(spec.real, spec.imag)
            y = torch.fft.irfft2(torch.complex(mr, mi) * spec, s=(h, w), norm="ortho")
        return y.to(x.dtype)

    def forward_dft(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with DFT matrices and real arithmetic only (the export path; runs eagerly too)."""
        h, w = x.shape[-2:]  # ints eagerly, 0-dim tensors when traced: the matrices follow the input size
        with torch.autocast(x.device.type, enabled=False):
            ch, sh = _dft(h, x.device)
            cw, sw, weight = _rdft(w, x.device)
            xf = x.float()
            zr, zi = xf @ cw, -(xf @ sw)  # along W, first W//2+1 columns: (B, C, H, W//2+1)
            xr, xi = ch @ zr + sh @ zi, ch @ zi - sh @ zr  # along H, full: X = (ch - i sh) Z
            mr, mi = self.mask(xr, xi)
            yr, yi = mr * xr - mi * xi, mr * xi + mi * xr  # Y = M * X
            yr, yi = ch @ yr - sh @ yi, ch @ yi + sh @ yr  # inverse along H, full: (ch + i sh) Y
            # inverse real DFT along W, as irfft: Re(sum_v c_v Y_v e^{+i theta}); the imaginary parts of the DC and
            # Nyquist columns drop out (sin is zero there in exact arithmetic, and its weight is zeroed here)
            y = (yr * weight) @ cw.T - (yi * (weight - 1.0) * 2.0) @ sw.T
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"c1={self.c1}, groups={self.groups}"
