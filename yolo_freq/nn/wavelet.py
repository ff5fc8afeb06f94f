"""Fixed-filter 2D discrete wavelet transform and its inverse as convolutions (used by FDSA and HaarDown).

The filter banks come from PyWavelets; the transforms run as ordinary (transposed) convolutions, so they export to
ONNX, run under autocast and need no torch-side wavelet package.
"""

import functools
import math
import re

import pywt
import torch
import torch.nn as nn
import torch.nn.functional as F

SUBBANDS = ("LL", "LH", "HL", "HH")  # = PyWavelets' (cA, cH, cV, cD)


def _orthonormal(w: pywt.Wavelet, tol: float = 1e-6) -> bool:
    """Whether the analysis filters are orthonormal to their own and each other's even shifts, to `tol`."""
    lo, hi = torch.tensor(w.dec_lo, dtype=torch.float64), torch.tensor(w.dec_hi, dtype=torch.float64)
    n = len(lo)
    for a, b, target in ((lo, lo, 1.0), (hi, hi, 1.0), (lo, hi, 0.0)):
        for k in range(-(n // 2) + 1, n // 2):
            s = 2 * k
            dot = (a[max(s, 0) : n + min(s, 0)] * b[max(-s, 0) : n - max(s, 0)]).sum().item()
            if abs(dot - (target if k == 0 else 0.0)) > tol:
                return False
    return True


@functools.lru_cache(maxsize=1)
def orthogonal_wavelets() -> tuple[str, ...]:
    """Names of PyWavelets' orthogonal discrete wavelets: haar, db1..db38, sym2..sym20, coif1..coif17.

    PyWavelets also flags ``dmey`` orthogonal, but its FIR approximation of the Meyer filters is not orthonormal
    (``sum(dec_lo**2) = 1.0022``), so transforming and inverting loses up to 2% of the signal: it is excluded.
    """
    return tuple(
        w for w in pywt.wavelist(kind="discrete") if pywt.Wavelet(w).orthogonal and _orthonormal(pywt.Wavelet(w))
    )


def _summary(names) -> str:
    """'haar, coif1..coif17, db1..db38, sym2..sym20' for a list of wavelet names."""
    families: dict[str, list[int]] = {}
    plain = []
    for n in names:
        m = re.fullmatch(r"([a-z]+)(\d+)", n)
        if m:
            families.setdefault(m[1], []).append(int(m[2]))
        else:
            plain.append(n)
    parts = [f"{f}{min(v)}..{f}{max(v)}" for f, v in families.items()]
    return ", ".join(sorted(plain) + parts)


def check_wavelet(block: str, name) -> str:
    """Return `name` if it is an orthogonal PyWavelets wavelet, else raise a ValueError naming `block`."""
    valid = orthogonal_wavelets()
    if isinstance(name, str) and name in valid:
        return name
    why = "is not a PyWavelets discrete wavelet"
    if isinstance(name, str) and name in pywt.wavelist(kind="discrete"):
        why = "is not orthogonal (the inverse transform here is the transpose of the forward one)"
        if pywt.Wavelet(name).orthogonal:
            why = "has FIR filters that are only approximately orthonormal, so its inverse would not reconstruct"
    raise ValueError(f"{block}: wavelet {name!r} {why}; choose an orthogonal one: {_summary(valid)}")


def filter_bank(name: str) -> torch.Tensor:
    """The four separable 2D analysis filters of wavelet `name`, shape (4, 1, L, L), float32, in SUBBANDS order.

    Filters are in correlation form (``F.conv2d`` does not flip): the time-reversed PyWavelets decomposition filters,
    i.e. ``rec_lo`` / ``rec_hi``. Subband ``LH`` is low-pass along the width and high-pass along the height
    (PyWavelets' horizontal detail cH), ``HL`` the reverse (cV), ``HH`` high-pass along both (cD).
    """
    w = pywt.Wavelet(name)
    lo = torch.tensor(w.dec_lo[::-1], dtype=torch.float64)
    hi = torch.tensor(w.dec_hi[::-1], dtype=torch.float64)
    bank = [torch.outer(lo, lo), torch.outer(hi, lo), torch.outer(lo, hi), torch.outer(hi, hi)]  # (along H, along W)
    return torch.stack(bank).unsqueeze(1).float()


def _wrap_pad(x: torch.Tensor, p: int, dim: int) -> torch.Tensor:
    """Periodic padding by `p` on both sides of `dim`; `p` may exceed the size (the signal repeats as often as needed)."""
    if p == 0:
        return x
    n = x.shape[dim]
    x = x.movedim(dim, -1)
    if p <= n:  # slices only, so a dynamic-axes ONNX export keeps following the traced size
        x = torch.cat((x[..., -p:], x, x[..., :p]), -1)
    else:  # tiny map, long filter: wrap several times (sizes fixed at export)
        reps = math.ceil(p / n)
        x = torch.cat([x] * (2 * reps + 1), -1)[..., reps * n - p : reps * n + n + p]
    return x.movedim(-1, dim)


def _wrap_fold(y: torch.Tensor, p: int, n, dim: int) -> torch.Tensor:
    """Adjoint of :func:`_wrap_pad`: sum the `n + 2p` samples of `dim` onto the `n` positions they were copied from."""
    if p == 0:
        return y
    y = y.movedim(dim, -1)
    if p <= n:  # padded sample t goes to (t - p) mod n: the left margin to the end, the right margin to the start
        out = y[..., p : p + n] + F.pad(y[..., -p:], (0, n - p)) + F.pad(y[..., :p], (n - p, 0))
    else:
        reps = math.ceil(p / n)
        lead, total = reps * n - p, (2 * reps + 1) * n
        out = F.pad(y, (lead, total - lead - (n + 2 * p))).unflatten(-1, (2 * reps + 1, n)).sum(-2)
    return out.movedim(-1, dim)


class _FilterBank(nn.Module):
    """Holds a wavelet's fixed 2D filter bank as a float32 buffer that keeps its exact values under ``.half()``."""

    def __init__(self, wavelet: str = "haar", block: str = "DWT2d"):
        super().__init__()
        self.wavelet = check_wavelet(block, wavelet)
        self.length = pywt.Wavelet(wavelet).dec_len
        self.pad = self.length // 2 - 1  # periodic extension on each side, as PyWavelets' 'periodization' mode
        self.register_buffer("filters", filter_bank(wavelet), persistent=False)

    def _apply(self, fn, recurse=True):
        # Device moves apply; dtype casts (model.half() in Ultralytics' validator and checkpoints) must not round the
        # fixed filters, which are cast to the input's dtype at use. Rebuild them exactly on the new device.
        super()._apply(fn, recurse)
        self.filters = filter_bank(self.wavelet).to(self.filters.device)
        return self

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet!r}"


class DWT2d(_FilterBank):
    """Single-level 2D DWT with a fixed orthogonal PyWavelets filter bank (periodization mode).

    Each channel is transformed independently: the input is reshaped to (B*C, 1, H, W), extended periodically by
    ``L/2 - 1`` samples per side (L = filter length; none for haar) and convolved with the four 2D analysis filters
    at stride 2. The result equals ``pywt.dwt2(x, wavelet, mode='periodization')``. The transform is orthogonal, so
    :class:`IDWT2d`, its transpose, inverts it exactly.

    Odd sizes are first extended by replicating the last row/column (as PyWavelets' periodization mode does), so
    the subbands are ``ceil(H/2) x ceil(W/2)``; :class:`IDWT2d` crops that sample off again.

    Args:
        wavelet (str): Orthogonal PyWavelets wavelet name (haar, dbN, symN, coifN).

    Shapes:
        (B, C, H, W) -> (B, C, 4, ceil(H/2), ceil(W/2)), subbands in order LL, LH, HL, HH (pywt cA, cH, cV, cD).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Analyse every channel into four half-size subbands."""
        b, c, h, w = x.shape
        if torch.jit.is_tracing() or h % 2 or w % 2:  # traced: pad by the traced parity (dynamic-axes ONNX export)
            x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
        x = x.reshape(b * c, 1, x.shape[2], x.shape[3])
        x = _wrap_pad(_wrap_pad(x, self.pad, 2), self.pad, 3)
        y = F.conv2d(x, self.filters.to(x.dtype), stride=2)
        return y.reshape(b, c, 4, y.shape[2], y.shape[3])


class IDWT2d(_FilterBank):
    """Inverse of :class:`DWT2d`: transposed stride-2 convolution with the same filters, then periodic folding.

    Because the periodized orthogonal DWT is an orthogonal matrix, its inverse is its transpose; the transposed
    convolution computes exactly that on the periodically extended domain, and the extension is folded back.

    Args:
        wavelet (str): The wavelet the coefficients were computed with.

    Shapes:
        (B, C, 4, h, w) -> (B, C, 2h, 2w), or (B, C, H, W) when ``size=(H, W)`` is given (odd sizes are cropped;
        H must be 2h or 2h - 1, likewise W).
    """

    def forward(self, y: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Synthesize the signal from its four subbands."""
        b, c, s, h, w = y.shape
        if s != 4:
            raise ValueError(f"IDWT2d expects (B, C, 4, h, w) subbands, got {tuple(y.shape)}")
        x = F.conv_transpose2d(y.reshape(b * c, 4, h, w), self.filters.to(y.dtype), stride=2)
        tracing = torch.jit.is_tracing()  # traced sizes are tensors of the size being exported
        if size is not None and not tracing and not (size[0] in (2 * h - 1, 2 * h) and size[1] in (2 * w - 1, 2 * w)):
            raise ValueError(
                f"IDWT2d: size {tuple(size)} cannot come from {h}x{w} subbands; H must be {2 * h - 1} or {2 * h}, "
                f"W {2 * w - 1} or {2 * w} (the size the DWT2d input had)"
            )
        x = _wrap_fold(_wrap_fold(x, self.pad, 2 * h, 2), self.pad, 2 * w, 3).reshape(b, c, 2 * h, 2 * w)
        if size is not None and (tracing or size[0] != 2 * h or size[1] != 2 * w):
            x = x[..., : size[0], : size[1]]
        return x
