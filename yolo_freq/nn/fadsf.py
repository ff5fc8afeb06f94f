"""FADSF: frequency-aligned decoding and semantic fusion, DynaWave-Net Sec. 3.3.3 (Eqs. 26-28)."""

import torch
import torch.nn as nn
from ultralytics.nn.modules import Conv, ConvTranspose

from ._validate import check_channel_list, check_inputs, check_int


class FADSF(nn.Module):
    """Frequency-Aligned Decoding and Semantic Fusion (DynaWave-Net Sec. 3.3.3, Eqs. 26-28).

    One top-down decoding step: the deeper, coarser map z_{l+1} is upsampled by a learned 2x upsampling (a
    transposed convolution with kernel 2 and stride 2, then BN and SiLU: Ultralytics' ``ConvTranspose``) to the
    lateral's channels, cropped to the lateral's exact size, and fused with the lateral z_wave (the output of the
    :class:`FDSA` at that level) as ``z_dec = Conv1x1([up(z_{l+1}) ; z_wave ; up(z_{l+1}) * z_wave])`` (Conv-BN-SiLU).
    The product term is a per-pixel interaction of the coarse semantics with the frequency-refined detail; the two
    plain terms keep each source on its own.

    In a YOLO neck the block replaces an ``nn.Upsample`` + ``Concat`` pair of the top-down path, with YAML row
    ``[[-1, fdsa_layer], 1, FADSF, [c2]]`` (inputs ``[deeper, lateral]``, deeper first).

    Departures: the paper names a learned upsampling without giving the operator; a stride-2 transposed convolution
    (kernel = stride = 2, so each coarse pixel writes its own 2x2 output block and the blocks do not overlap: no
    checkerboard artefacts) is the smallest learned 2x upsampler, and ``model.fuse()`` folds its BN. It outputs the
    lateral's channel count, so the product is defined without a projection of the lateral (the block's only 1x1
    layer is the fusion). YOLO
    levels are ``ceil(n / 2)`` of each other, so for an odd lateral side the upsampled map is one row or column
    larger; its last row/column is cropped (the same alignment as nearest upsampling + cropping: output pixel i comes
    from coarse pixel i // 2). The crop slices with the lateral's shape, which an ONNX export records as a dynamic
    Slice. The deeper map must be exactly ``ceil(H/2) x ceil(W/2)`` of an H x W lateral; anything else is an error.

    Args:
        c1 (list[int]): Channels of [deeper, lateral] (from the YAML 'from' list, deeper first).
        c2 (int): Output channels (width-scaled by parse_model).

    Shapes:
        [(B, c1[0], ceil(H/2), ceil(W/2)), (B, c1[1], H, W)] -> (B, c2, H, W), any H, W >= 1.
    """

    def __init__(self, c1: list[int], c2: int):
        super().__init__()
        self.c1 = check_channel_list("FADSF", c1, 2, exact=True, names=" [deeper, lateral]")
        check_int("FADSF", "c2", c2)
        c_ = c1[1]  # up-path width = lateral width: up * wave needs equal channels, and the lateral stays unprojected
        self.up = ConvTranspose(c1[0], c_, 2, 2)  # ConvTranspose2d(k=2, s=2) + BN + SiLU
        self.cv = Conv(3 * c_, c2, 1)  # Eq. 28's 1x1 fusion, Conv-BN-SiLU

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Upsample the deeper map, crop it to the lateral and fuse [up ; lateral ; up * lateral]."""
        check_inputs(self, xs, self.c1)
        deep, wave = xs
        h, w = wave.shape[-2:]
        if not torch.jit.is_tracing():  # traced sizes are tensors: a Python test would freeze into the graph
            self._check_sizes(deep, wave)
        up = self.up(deep)[..., :h, :w]  # (B, c_, 2 ceil(H/2), 2 ceil(W/2)) -> (B, c_, H, W); traced h, w: dynamic
        return self.cv(torch.cat((up, wave, up * wave), 1))  # (B, 3 c_, H, W) -> (B, c2, H, W)

    def _check_sizes(self, deep: torch.Tensor, wave: torch.Tensor) -> None:
        """Raise a ValueError unless the deeper map is the ceil-half size of the lateral (adjacent YOLO levels)."""
        (h, w), (hd, wd) = wave.shape[-2:], deep.shape[-2:]
        if (hd, wd) != (-(-h // 2), -(-w // 2)):
            raise ValueError(
                f"FADSF: the deeper map must be ceil(H/2) x ceil(W/2) of the lateral's H x W = {h} x {w}, i.e. "
                f"{-(-h // 2)} x {-(-w // 2)}, but got {hd} x {wd}: 'from' must be [deeper level, lateral one level "
                f"finer]"
            )
