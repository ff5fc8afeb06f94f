"""FDSA: frequency-domain selective attention, DynaWave-Net Section 3.3.2."""

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_int
from .wavelet import DWT2d, IDWT2d, check_wavelet


class FDSA(nn.Module):
    """Frequency-Domain Selective Attention (DynaWave-Net Section 3.3.2, Eqs. 22-25, Fig. 2).

    A single-level 2D DWT (:class:`DWT2d`, fixed PyWavelets filters) splits the input z into the subbands LL, LH,
    HL, HH (Eq. 22). One MLP shared by the four subbands maps each subband's global average pool to channel weights,
    ``alpha_s = sigmoid(W2 ReLU(W1 GAP(z_s)))`` (Eq. 23). The reweighted subbands are synthesised back to full size
    by the inverse DWT, ``z_wave = IDWT(alpha_LL z_LL, ..., alpha_HH z_HH)``, and the output is
    ``Conv1x1([z ; z_wave])`` (Eq. 25; Conv-BN-SiLU). The MLP has no biases (Eq. 23 has none).

    Departures: Eq. 24 sums the weighted subbands, which are H/2 x W/2 while z is H x W, so Eq. 25 cannot
    concatenate them. The inverse DWT is the linear map that combines the subbands back into the H x W domain (with
    all alpha = 1 it returns z exactly), so it is used as the aggregation. Odd sizes are padded by one replicated
    row/column before the DWT and cropped after the inverse. Any orthogonal wavelet works; haar is the default.
    With ``residual`` (the default when c1 == c2) the output is ``z + Conv1x1([z ; z_wave])`` with the Conv's
    BatchNorm scale starting at zero, so an FDSA inserted into a pretrained network starts as the identity and the
    network computes what it computed before (the paper's Eq. 25 has no identity path: its 1x1 Conv replaces z).
    ``residual=False`` is the paper's form. A module saved before the option existed keeps the paper's form.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        wavelet (str): Orthogonal PyWavelets wavelet (haar, dbN, symN, coifN); default "haar".
        r (int): Reduction ratio of the shared MLP (hidden = max(c1 // r, 8)).
        residual (bool): Add the input and start as the identity (needs c1 == c2); False: the paper's form.

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W), any H, W >= 1.
    """

    residual = False  # what a module pickled before the option existed computes

    def __init__(self, c1: int, c2: int, wavelet: str = "haar", r: int = 16, residual: bool = True):
        super().__init__()
        check_int("FDSA", "c1", c1)
        check_int("FDSA", "c2", c2)
        check_int("FDSA", "r", r)
        self.c1 = c1
        wavelet = check_wavelet("FDSA", wavelet)
        self.dwt, self.idwt = DWT2d(wavelet), IDWT2d(wavelet)
        hidden = max(c1 // r, 8)
        # W1, W2 of Eq. 23, one MLP shared by the four subbands
        self.mlp = nn.Sequential(nn.Linear(c1, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, c1, bias=False))
        self.cv = Conv(2 * c1, c2, 1)
        self.residual = bool(residual) and c1 == c2
        if self.residual:
            nn.init.zeros_(self.cv.bn.weight)  # the fused branch starts at SiLU(0) = 0: FDSA starts as the identity

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Reweight the wavelet subbands channel-wise, synthesise them back and fuse with the input."""
        check_channels(self, z, self.c1)
        sub = self.dwt(z)  # (B, C, 4, h, w)
        alpha = self.mlp(sub.mean((3, 4)).transpose(1, 2)).sigmoid()  # (B, 4, C), one MLP for all four subbands
        sub = sub * alpha.transpose(1, 2).to(sub.dtype)[..., None, None]
        z_wave = self.idwt(sub, z.shape[-2:])
        y = self.cv(torch.cat((z, z_wave.to(z.dtype)), 1))
        return z + y if self.residual else y
