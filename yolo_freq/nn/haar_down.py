"""HaarDown: Haar-wavelet downsampling, S2-AMNet (after HWD, Xu et al. 2023)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_divisible, check_int
from .wavelet import DWT2d

FORMS = ("dense", "grouped")


class HaarDown(nn.Module):
    """Haar-wavelet downsampling, a drop-in for a stride-2 Conv (S2-AMNet's downsampling layers).

    A single-level Haar DWT turns every channel into its four half-size subbands (LL, LH, HL, HH; filters
    ``0.5 * [+-1 +-1; +-1 +-1]``), interleaved per input channel to ``4 * c1`` channels, then mixed to ``c2``.
    Unlike a strided convolution, the DWT is invertible, so no detail is discarded before the learned mixing (the
    paper's motivation: keep small defects' fine structure). Two forms of the mixing:

    - ``"dense"`` (HWD's): a 1x1 Conv-BN-SiLU over all ``4 * c1`` subbands; odd sides are padded by replicating the
      last row/column; ``4 * c1 * c2`` weights.
    - ``"grouped"`` (S2-AMNet's, as the authors' code builds its stages): a grouped 1x1 conv (groups = c1, no bias)
      + BN, no activation, so every output channel mixes the four subbands of one input channel (``4 * c2`` weights;
      c2 must be a multiple of c1); odd sides are zero-padded at the bottom/right.

    Replace ``[-1, 1, Conv, [c2, 3, 2]]`` by ``[-1, 1, HaarDown, [c2]]`` (dense) or ``[c2, "grouped"]`` in a YAML.
    The output is ``ceil(H/2) x ceil(W/2)``, the size a stride-2 3x3 convolution with padding 1 gives.

    Departures: the dense form's activation is SiLU as everywhere in YOLOv8 (HWD uses ReLU). The grouped form is the
    authors' (only S2-AMNet's abstract is public; the layout follows their code, read, not copied).

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels (a multiple of c1 for ``"grouped"``).
        form (str): ``"dense"`` (default) or ``"grouped"``.

    Shapes:
        (B, c1, H, W) -> (B, c2, ceil(H/2), ceil(W/2)).
    """

    form = "dense"  # what a module pickled before the option existed computes

    def __init__(self, c1: int, c2: int, form: str = "dense"):
        super().__init__()
        check_int("HaarDown", "c1", c1)
        check_int("HaarDown", "c2", c2)
        if form not in FORMS:
            raise ValueError(f"HaarDown: argument 'form' must be one of {FORMS}, got {form!r}")
        self.c1, self.form = c1, form
        self.dwt = DWT2d("haar")
        if form == "grouped":
            check_divisible(
                "HaarDown", "c2", c2, c1, f"the grouped form maps each of the c1={c1} inputs to c2/c1 outputs"
            )
            self.cv = Conv(4 * c1, c2, 1, g=c1, act=False)
        else:
            self.cv = Conv(4 * c1, c2, 1)

    def subbands(self, x: torch.Tensor) -> torch.Tensor:
        """The four Haar subbands of every channel, interleaved per channel: (B, c1, H, W) -> (B, 4 * c1, h, w)."""
        if self.form == "grouped":  # the authors' zero padding; the dense form's DWT replicates instead
            x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return self.dwt(x).flatten(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Haar subbands of every channel, mixed to c2 channels."""
        check_channels(self, x, self.c1)
        return self.cv(self.subbands(x))

    def extra_repr(self) -> str:
        return f"form={self.form!r}"
