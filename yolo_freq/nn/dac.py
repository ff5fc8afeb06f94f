"""DAC: deformable axial convolution, a part of S2-AMNet's SAMM (after DSCNet's dynamic snake convolution)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import check_channels, check_int, check_same_width


def cumulative_taps(k: int) -> torch.Tensor:
    """The (k, k-1) 0/1 matrix M with ``delta = M @ o``: tap t's shift is the sum of the offsets from the centre to t.

    ``o`` holds the offsets of the k-1 taps other than the centre c, in tap order; row t of M selects the taps
    strictly beyond the centre up to and including t on t's side, so ``delta_c = 0``, ``delta_{c+j} = delta_{c+j-1} +
    o_{c+j}`` and ``delta_{c-j} = delta_{c-j+1} + o_{c-j}``.
    """
    c = k // 2
    taps = [t for t in range(k) if t != c]  # the tap of each predicted offset channel
    m = torch.zeros(k, k - 1)
    for t in range(k):
        for u, s in enumerate(taps):
            m[t, u] = float(c < s <= t or t <= s < c)
    return m


def _step(n):
    """2 / max(n - 1, 1): one pixel in grid_sample's align_corners=True units; traced sizes are 0-dim tensors."""
    return 2 / (n - 1).clamp(min=1) if isinstance(n, torch.Tensor) else 2 / max(n - 1, 1)


class DAC(nn.Module):
    """Deformable Axial Convolution (S2-AMNet's SAMM, Bao et al.; after DSCNet's dynamic snake convolution, Qi et
    al., ICCV 2023).

    A depthwise line kernel of k taps that bends to follow thin curved structures. With ``morph=0`` the taps run
    along x (t = -(k//2) .. k//2) and each wiggles along y; ``morph=1`` is the transpose. Per pixel, a DWConv3x3 ->
    Conv1x1 -> GroupNorm (one group per channel) -> tanh branch predicts one offset in [-1, 1] per tap, and tap t's
    cross-axis shift is the running sum of the offsets from the centre out to t (``delta_centre = 0``), so
    neighbouring taps stay within a pixel of each other, as DSCNet's snake kernel does. Tap t at pixel (i, j) samples
    x bilinearly at ``(i + delta_t, j + t)`` (morph 0) or ``(i + t, j + delta_t)`` (morph 1), clamped into the
    image. The k samples of each pixel are stacked into (B, d, k*H, W) (morph 0; (B, d, H, k*W) for morph 1) and
    combined by a depthwise (k, 1) (or (1, k)) convolution of stride k without bias. Memory: the stacked samples
    are k times the input (nine times at k = 9).

    Only S2-AMNet's abstract is public; the block follows the authors' public code (SAMM applies it depthwise,
    groups = d, with DSCNet's extend scope 1), read, not copied.

    Departures:
        - The reference predicts k offsets and overwrites the centre tap's with 0, so that channel's weights never
          train; only the k-1 used offsets are predicted here (GroupNorm(k-1, k-1)): same results for the same
          weights of the used channels.
        - The running sum is a fixed 0/1 matrix (:func:`cumulative_taps`, a buffer) applied as a 1x1 convolution
          instead of a loop of in-place writes: same values, and it exports to ONNX.
        - The reference clamps the coordinates and samples with zero padding; grid_sample's ``border`` mode clamps
          identically. Coordinates are normalised by ``max(n - 1, 1)``, so a side of 1 works (the reference divides
          by zero there).
        - Sampling runs in float32 (coordinates and input) and the result is cast back to the input's dtype:
          in bf16 a coordinate near 40 is only resolved to 0.25 px, and grid_sample needs equal dtypes.
        - Depthwise only, so c2 == c1 (SAMM's use); DSCNet's extend scope is fixed at 1 (the reference's value).

    Args:
        c1 (int): Input channels d.
        c2 (int): Output channels, equal to c1 (depthwise).
        morph (int): 0: taps along x, offsets along y; 1: taps along y, offsets along x.
        k (int): Taps, odd and >= 3 (paper code: 9).

    Shapes:
        (B, d, H, W) -> (B, d, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int, morph: int = 0, k: int = 9):
        super().__init__()
        check_same_width("DAC", c1, c2, "it is depthwise")
        check_int("DAC", "k", k, 3, odd=True)
        if isinstance(morph, bool) or morph not in (0, 1):
            raise ValueError(f"DAC: argument 'morph' must be 0 (taps along x) or 1 (taps along y), got {morph!r}")
        self.c1, self.morph, self.k = c1, morph, k
        self.offset = nn.Sequential(
            nn.Conv2d(c1, c1, 3, padding=1, groups=c1, bias=False), nn.Conv2d(c1, k - 1, 1, bias=False)
        )
        self.norm = nn.GroupNorm(k - 1, k - 1)  # per offset channel over H, W
        self.register_buffer("cumulative", cumulative_taps(k)[..., None, None], persistent=False)  # 0/1: any dtype
        kernel = (k, 1) if morph == 0 else (1, k)
        self.conv = nn.Conv2d(c1, c1, kernel, stride=kernel, groups=c1, bias=False)

    def offsets(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel offsets of the k-1 non-centre taps, in tap order, in [-1, 1]: (B, k-1, H, W)."""
        return self.norm(self.offset(x)).tanh()

    def shifts(self, x: torch.Tensor) -> torch.Tensor:
        """Cross-axis shift of every tap, the running sum of the offsets from the centre: (B, k, H, W)."""
        o = self.offsets(x)
        return F.conv2d(o, self.cumulative.to(o.dtype))

    def grid(self, delta: torch.Tensor) -> torch.Tensor:
        """grid_sample grid (align_corners=True) of every tap: (B, k*H, W, 2) for morph 0, (B, H, k*W, 2) for 1."""
        _, k, h, w = delta.shape  # traced sizes are tensors: the grid follows them in a dynamic-axes export
        f32 = dict(dtype=torch.float32, device=delta.device)
        taps = torch.arange(k, **f32) - k // 2
        rows, cols = torch.arange(h, **f32), torch.arange(w, **f32)
        sy, sx = _step(h), _step(w)
        delta = delta.float()
        if self.morph == 0:  # sample (i + delta_t, j + t), laid out at row i*k + t
            y = (rows[:, None, None] + delta.transpose(1, 2)) * sy - 1  # (B, H, k, W)
            x = ((cols + taps[:, None]) * sx - 1).expand_as(y)  # (k, W) -> (B, H, k, W)
            return torch.stack((x, y), -1).flatten(1, 2)
        x = (cols[:, None] + delta.permute(0, 2, 3, 1)) * sx - 1  # sample (i + t, j + delta_t) at column j*k + t
        y = ((rows[:, None, None] + taps) * sy - 1).expand_as(x)  # (H, 1, k) -> (B, H, W, k)
        return torch.stack((x, y), -1).flatten(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sample k taps per pixel along the bent axial kernel and combine them with the depthwise tap weights."""
        check_channels(self, x, self.c1)
        grid = self.grid(self.shifts(x))
        s = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)  # clamped
        return self.conv(s.to(x.dtype))  # (B, d, k*H, W) or (B, d, H, k*W) -> (B, d, H, W)
