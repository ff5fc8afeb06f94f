"""FGPEM: PDCT frequency channel attention, SD-GASNet Section 3.1 (after FcaNet's multi-spectral attention)."""

import math

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_divisible, check_int

BANDS = ("low", "high")


def preset_positions(band: str, grid: int = 10) -> tuple[tuple[int, int], ...]:
    """The paper's four (u, v) DCT positions on a grid x grid spectrum, u horizontal, v vertical.

    low: (0,0), (0,1), (1,0), (1,1); high: (9,9), (9,8), (8,9), (8,8) for grid = 10 (the top-right corner in general).
    """
    if band == "low":
        return (0, 0), (0, 1), (1, 0), (1, 1)
    g = grid - 1
    return (g, g), (g, g - 1), (g - 1, g), (g - 1, g - 1)


def dct_index(u: int, n, grid: int):
    """DCT-II index at length `n` for grid position `u`: the same fraction u / grid of the spectrum.

    ``round(u * n / grid)``, kept >= 1 for u > 0 (an AC position stays AC whenever n >= 2) and <= n - 1 (the highest
    frequency that exists). For n >= grid the four low and the four high positions map to distinct indices, so their
    bases are orthonormal; below that, nearby positions may share an index (see :class:`FGPEM`). With an int `n` the
    result is an int; with a 0-dim tensor `n` (a traced shape during ONNX export) it is a tensor, so an export with
    dynamic axes rebuilds the basis at every input size.
    """
    lo = 1 if u > 0 else 0
    if isinstance(n, int):
        return min(max(math.floor(u * n / grid + 0.5), lo), n - 1)
    idx = torch.floor(u * n.float() / grid + 0.5)
    return torch.minimum(idx.clamp(min=float(lo)), n.float() - 1)


def dct_basis_1d(indices, n, device=None) -> torch.Tensor:
    """Orthonormal DCT-II basis vectors of length `n` for integer indices `indices` (K), shape (K, n).

    ``c(i) cos(pi i (t + 1/2) / n)`` with ``c(0) = sqrt(1/n)``, ``c(i > 0) = sqrt(2/n)``: the paper's conditional DC
    normalisation. Python-int indices build it with scalar arguments only (no host-to-device copies per call).
    """
    t = torch.arange(n, device=device, dtype=torch.float32) + 0.5
    if all(isinstance(i, int) for i in indices):
        return torch.stack([torch.cos(t * (math.pi * i / n)) * math.sqrt((1 if i == 0 else 2) / n) for i in indices])
    idx = torch.stack([torch.as_tensor(i, dtype=torch.float32, device=t.device) for i in indices])
    scale = torch.where(idx == 0, 1.0, 2.0) / n
    return torch.cos(math.pi * idx[:, None] * t[None, :] / n) * scale.sqrt()[:, None]


def pdct_basis(positions, h, w, grid: int = 10, device=None) -> torch.Tensor:
    """2D PDCT filters for `positions` [(u, v)] at size h x w, shape (K, h, w), each of unit L2 norm.

    ``B_k(y, x) = c(v') c(u') cos(pi v' (y + 1/2) / h) cos(pi u' (x + 1/2) / w)`` with ``u' = dct_index(u, w)``,
    ``v' = dct_index(v, h)``: the paper's PDCT element with frequency indices scaled to the actual size.
    """
    iu = [dct_index(u, w, grid) for u, _ in positions]
    iv = [dct_index(v, h, grid) for _, v in positions]
    return dct_basis_1d(iv, h, device)[:, :, None] * dct_basis_1d(iu, w, device)[:, None, :]


class FGPEM(nn.Module):
    """Frequency-Guided PDCT Enhancement Module (SD-GASNet Section 3.1, Fig. 4), one band per instance.

    The channels are split into four equal groups; group k is projected onto the fixed 2D DCT-II basis at the k-th
    preset position of the band (low: (0,0), (0,1), (1,0), (1,1); high: (9,9), (9,8), (8,9), (8,8) on a 10 x 10
    grid), giving one frequency response per channel. Two linear layers (reduction ``r``) with ReLU and a sigmoid
    turn the responses into channel weights, and the output is ``X * weight`` (then a 1x1 Conv if ``c2 != c1``).
    SD-GASNet uses two instances over the MFA output, ``[c2, "low"]`` and ``[c2, "high"]``, for its low- and
    high-frequency enhanced features.

    The basis is built at the feature's own size H x W with the grid positions scaled to it (``u * W / grid``,
    rounded, see :func:`dct_index`), so no pooling to the grid is needed and any size works; each basis has unit
    L2 norm and the four are orthonormal whenever H, W >= grid. On smaller maps (P4 is 4 x 4 at imgsz 64) the
    indices are clamped to the frequencies that exist: low AC positions stay at index 1 (for sizes >= 2), high
    positions become the highest frequency n - 1 and may coincide; on a 1 x 1 map every basis is the constant
    1. Nothing becomes zero, NaN or out of range.

    Departures: FcaNet and the paper pool the input to the grid size (adaptive pooling, not export-safe in general);
    here the basis is scaled instead. The responses are divided by sqrt(H * W), which makes the DC response equal to
    global average pooling and keeps the attention input independent of the image size (rectangular validation,
    multi-scale training); the paper's formula has no such factor (at a fixed size it is a constant the first linear
    layer absorbs). The linear layers have no bias, as in FcaNet.

    Args:
        c1 (int): Input channels, divisible by 4.
        c2 (int): Output channels.
        band (str): "low" or "high".
        grid (int): Size G of the G x G frequency grid the positions refer to (paper: 10, i.e. positions up to 9).
        r (int): Reduction ratio of the first linear layer (hidden = max(c1 // r, 8)).

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int, band: str = "low", grid: int = 10, r: int = 16):
        super().__init__()
        check_int("FGPEM", "c1", c1, 4)
        check_divisible("FGPEM", "c1", c1, 4, "each of the 4 preset frequencies takes a quarter of the channels")
        check_int("FGPEM", "c2", c2)
        if band not in BANDS:
            raise ValueError(f"FGPEM: argument 'band' must be one of {BANDS}, got {band!r}")
        check_int("FGPEM", "grid", grid, 4)
        check_int("FGPEM", "r", r)
        self.c1, self.band, self.grid = c1, band, grid
        self.positions = preset_positions(band, grid)
        hidden = max(c1 // r, 8)
        self.fc = nn.Sequential(nn.Linear(c1, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, c1, bias=False))
        self.proj = nn.Identity() if c1 == c2 else Conv(c1, c2, 1)

    def basis(self, h, w, device=None) -> torch.Tensor:
        """The band's four PDCT filters at size h x w, shape (4, h, w)."""
        return pdct_basis(self.positions, h, w, self.grid, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reweight channels by their response to the band's preset DCT frequencies."""
        check_channels(self, x, self.c1)
        b, c, h, w = x.shape
        basis = self.basis(h, w, x.device).to(x.dtype).reshape(4, h * w, 1) * (h * w) ** -0.5
        resp = torch.matmul(x.reshape(b, 4, c // 4, h * w), basis).reshape(b, c)  # (B, 4, c/4, 1) -> (B, C)
        weight = self.fc(resp).sigmoid().to(x.dtype)
        return self.proj(x * weight.reshape(b, c, 1, 1))

    def extra_repr(self) -> str:
        return f"band={self.band!r}, positions={self.positions}"
