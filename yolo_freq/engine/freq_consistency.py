"""DynaWave-Net's frequency-consistency loss (Sec. 3.3.3, Eq. 30) between FAD-SF's decoder maps and their laterals.

Eq. 30 asks each decoding step's output z_dec to agree with the wavelet-refined map z_wave it decoded onto, compared
after a wavelet transform: ``L_freq = || DWT(z_dec) - DWT(z_wave) ||^2``. In a YOLO neck the decoding steps are the
:class:`~yolo_freq.nn.FADSF` blocks and z_wave is each one's lateral input (the :class:`~yolo_freq.nn.FDSA` output at
that level). :class:`DecoderTap` keeps both maps of every FADSF in the training forward; :func:`frequency_consistency_loss`
receives them as arguments.

Choices the paper leaves open:

* The transform is the orthonormal Haar DWT (:class:`~yolo_freq.nn.wavelet.DWT2d`), FDSA's default wavelet. Eq. 30
  sums squared norms over the levels; here the squared error is averaged over elements (MSE) and then over the
  decoding steps, so the weight (Eq. 29's lambda_wave, not given in the paper) does not grow with map sizes, batch
  or the number of levels. For even sizes an orthonormal transform preserves the squared error, so the term equals the
  plain MSE of the two maps; odd sizes differ only by the replicated edge sample of the transform's padding.
* z_wave is the target: its gradient is stopped, so the term aligns the decoder with the frequency-refined map and
  cannot be lowered by changing FDSA's output instead.
* The SSIM part of Eq. 30 is left out: SSIM compares images, and a detector's feature maps have no intensity range
  or luminance for it to be defined on (README, "Options").
"""

from __future__ import annotations

import torch
from torch import nn

from yolo_freq.engine.options import DistillationConfigError
from yolo_freq.nn import FADSF
from yolo_freq.nn.wavelet import DWT2d


class DecoderTap:
    """Forward hook on one FADSF that keeps its latest lateral input and output (the pair Eq. 30 compares).

    Registered on the training student only, after Ultralytics has built its EMA, so the EMA, validation and
    checkpoints never carry it; a copy of a tapped model gets an empty tap (no tensors are copied or pickled).
    """

    def __init__(self) -> None:
        self.pair = None

    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if module.training:  # an eval forward of the training model (none in Ultralytics' loop) is not a step
            self.pair = (output, inputs[0][1])  # (z_dec, z_wave)

    def __getstate__(self) -> dict:
        return {"pair": None}

    def take(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (decoder map, lateral) of the latest training forward, handed out once."""
        pair, self.pair = self.pair, None
        if pair is None:
            raise RuntimeError(
                "kd_freq: the FADSF blocks did not run on this batch in training mode; the loss reads the maps of the "
                "model forward that produced the predictions"
            )
        return pair


def has_decoder_blocks(model: nn.Module) -> bool:
    """Whether a DetectionModel has any FADSF block, i.e. whether ``kd_freq`` can apply to it."""
    return any(isinstance(m, FADSF) for m in model.model)


def decoder_blocks(model: nn.Module) -> list[tuple[int, FADSF]]:
    """The (layer index, block) of every FADSF in a DetectionModel whose output width equals its lateral's.

    Raises:
        DistillationConfigError: When the model has no FADSF, or one outputs another width than its lateral (Eq. 30
            compares the two maps element by element).
    """
    blocks = [(i, m) for i, m in enumerate(model.model) if isinstance(m, FADSF)]
    if not blocks:
        raise DistillationConfigError(
            "kd_freq compares each FADSF decoder map with its wavelet lateral (DynaWave-Net Eq. 30), and this model "
            "has no FADSF block: train dynawave.yaml (or a model with FADSF in its neck), or set kd_freq=0"
        )
    for i, m in blocks:
        if m.cv.conv.out_channels != m.c1[1]:
            raise DistillationConfigError(
                f"kd_freq: FADSF at layer {i} outputs {m.cv.conv.out_channels} channels but its lateral has {m.c1[1]}; Eq. 30 compares "
                f"the two maps element by element, so give that FADSF the lateral's width, or set kd_freq=0"
            )
    return blocks


def frequency_consistency_loss(pairs: list[tuple[torch.Tensor, torch.Tensor]], dwt: DWT2d) -> torch.Tensor:
    """Mean over decoding steps of the MSE between the wavelet transforms of the decoder map and its lateral.

    Args:
        pairs (list[tuple[torch.Tensor, torch.Tensor]]): Per FADSF, (z_dec, z_wave), each (B, C, H, W) of equal shape.
        dwt (DWT2d): The wavelet transform (Haar in the trainer).

    Returns:
        (torch.Tensor): Scalar, float32; zero when every decoder map equals its lateral.
    """
    losses = []
    for dec, wave in pairs:
        if dec.shape != wave.shape:
            raise ValueError(f"kd_freq: decoder map {tuple(dec.shape)} and lateral {tuple(wave.shape)} differ in shape")
        diff = dwt(dec.float()) - dwt(wave.detach().float())  # (B, C, 4, ceil(H/2), ceil(W/2))
        losses.append(diff.pow(2).mean())
    return torch.stack(losses).mean()
