"""Registration of an inspected image to its golden reference: translation by phase correlation, to sub-pixel.

The estimate is the phase correlation of the two Hann-windowed grey images (Kuglin and Hines 1975): the inverse
FFT of their normalised cross-power spectrum peaks at the translation between them. Two departures from the textbook
form, both measured on DeepPCB's real test/template pairs (binarised 640x640 scans):

* The normalised spectrum is weighted by a Gaussian low-pass (sigma ``LOWPASS`` = 0.1 cycles per pixel) before the
  inverse FFT. Whitening gives every frequency equal weight, and the highest frequencies of binarised scans are
  threshold and interpolation noise that the two images do not share: with the weight the estimate of a known
  bilinear or bicubic shift is within 0.05 px (0.13-0.16 px without), and the peak stands higher for real pairs
  (median response 0.56 against 0.19).
* Images of 256 px and more (shorter side) are correlated at half resolution (``cv2.pyrDown``): the low-pass weight
  leaves frequencies above 0.25 cycles per pixel under 5% of their weight, so halving changes the estimate little
  (measured on the test suite's six DeepPCB templates, 360 known shifts: largest error 0.06 px at full resolution,
  0.09 px at half resolution) for a quarter of the FFT work.
* The sub-pixel position is found on the continuous (band-limited) correlation surface itself, evaluated by a
  direct DFT along the row and the column through the integer peak on a 1/``UPSAMPLE`` px grid and refined by a
  parabola (the separable, 1-D case of Guizar-Sicairos et al. 2008). OpenCV's ``cv2.phaseCorrelate`` takes the
  centroid of a 5x5 window instead, which is biased towards whole pixels: measured on exactly (Fourier-) shifted
  DeepPCB images, it returns 0.02 px for a 0.25 px shift and 0.17 for 0.5, beyond the 0.1 px this needs. Owning
  the computation also lets a reference's spectrum be computed once for every image inspected against it.

The computation runs on one thread and the shift is rounded to 1/32 px, OpenCV's own interpolation grid, so the
same pair gives bitwise the same composite in conversion and in prediction, whatever the thread settings of either
(a multi-threaded FFT sums in another order and moved the shift by 1e-5 px, enough to change a few warped pixels).

Rotation and scale are not estimated: a rotated or rescaled capture gives a low response and is reported as such.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import cv2
import numpy as np
import torch

LOWPASS = 0.1  # sigma of the Gaussian weight on the cross-power spectrum, in cycles per pixel
UPSAMPLE = 20  # sub-pixel grid of the peak search, per pixel (refined further by a parabola)
MIN_RESPONSE = 0.2  # DeepPCB: 5.8% of real pairs below, 0.8% of unrelated pairs above (examples/alignment_responses.py)
MAX_SHIFT = 0.125  # a shift beyond this fraction of the shorter side is never applied: no real overlap is left
GRID = 32  # shifts are rounded to 1/GRID px: cv2.warpAffine interpolates on this grid (INTER_BITS = 5)
HALVE_FROM = 256  # images whose shorter side reaches this are correlated at half resolution


@dataclass(frozen=True)
class Alignment:
    """Where the reference lies relative to the inspected image.

    Attributes:
        dx (float): Pixels the reference must move right (negative: left) to lie on the image.
        dy (float): Pixels the reference must move down (negative: up).
        response (float): Height of the correlation peak: 1 for an exact (shifted) copy, about 0.02 for unrelated
            images; defects, noise and rotation lower it.
        applied (bool): Whether the shift is used when composing: the response reached the threshold and the shift
            is within ``MAX_SHIFT`` of the image. Otherwise the reference is used as it is, and the pair is reported.
    """

    dx: float
    dy: float
    response: float
    applied: bool

    def describe(self) -> str:
        """Short text for logs and report lines."""
        state = "applied" if self.applied else "not applied"
        return f"shift ({self.dx:+.2f}, {self.dy:+.2f}) px, response {self.response:.2f}, {state}"


class PhaseCorrelator:
    """Estimates the translation of images of one size relative to one reference, reusing the reference's spectrum.

    Args:
        reference (np.ndarray): Grey reference image, (H, W), any real dtype.

    Shapes:
        ``align(image)``: image (H, W) -> Alignment. H, W >= 8; from ``HALVE_FROM`` on, correlated at (H/2, W/2).
    """

    def __init__(self, reference: np.ndarray):
        if reference.ndim != 2 or min(reference.shape) < 8:
            raise ValueError(
                f"phase correlation needs a grey image of at least 8x8 pixels, got shape {reference.shape}"
            )
        self.shape = reference.shape
        self.scale = 2 if min(self.shape) >= HALVE_FROM else 1  # full-resolution pixels per correlated pixel
        reference = self._reduced(reference)
        h, w = self.reduced_shape = reference.shape
        self.window = torch.from_numpy(cv2.createHanningWindow((w, h), cv2.CV_32F))
        self.fy = torch.fft.fftfreq(h)  # signed frequencies: the surface between pixels is the band-limited one
        self.fx = torch.fft.rfftfreq(w)
        self.fine_x, self.fine_y = _fine_grid(self.fx), _fine_grid(self.fy)
        # each rfft column but the first (and the Nyquist one of an even width) stands for itself and its mirror
        multiplicity = torch.full((w // 2 + 1,), 2.0)
        multiplicity[0] = 1.0
        if w % 2 == 0:
            multiplicity[-1] = 1.0
        sigma = LOWPASS * self.scale  # in cycles per correlated pixel
        self.lowpass = torch.exp(-(self.fy[:, None] ** 2 + self.fx[None, :] ** 2) / (2 * sigma**2))  # (H, W/2+1)
        self.multiplicity = multiplicity
        self.total = float((self.lowpass * multiplicity).sum())  # the full spectrum's weight: an exact copy scores 1
        self.spectrum = self._spectrum(reference)

    def _reduced(self, image: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image, dtype=np.float32)
        return cv2.pyrDown(image) if self.scale == 2 else image

    def _spectrum(self, image: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(image)
        return torch.fft.rfft2((x - x.mean()) * self.window)  # (H, W/2+1) complex

    def align(self, image: np.ndarray, min_response: float = MIN_RESPONSE) -> Alignment:
        """Estimate the shift of ``image`` relative to the reference; see :class:`Alignment`."""
        if image.shape != self.shape:
            raise ValueError(f"image of shape {image.shape} cannot be aligned to a reference of shape {self.shape}")
        with _one_thread():
            return self._align(self._reduced(image), min_response)

    def _align(self, image: np.ndarray, min_response: float) -> Alignment:
        h, w = self.reduced_shape
        cross = self._spectrum(image) * self.spectrum.conj()  # (H, W/2+1) complex64
        magnitude_sq = torch.view_as_real(cross).square().sum(-1).clamp_min(1e-24)
        cross = cross * (magnitude_sq.rsqrt() * self.lowpass)  # whitened, then weighted
        py, px = divmod(int(torch.argmax(torch.fft.irfft2(cross, s=(h, w)))), w)  # the peak to the whole pixel
        py, px = py - h * (py > h // 2), px - w * (px > w // 2)  # wrap to signed shifts
        cross = cross * self.multiplicity  # from here on sums over the rfft half stand for the full spectrum
        row = _phase(self.fy, py) @ cross  # (W/2+1,): the surface along x through row py, as a spectrum
        col = cross @ _phase(self.fx, px)  # (H,): along y through column px
        dx = px + _peak(row * _phase(self.fx, px), self.fine_x)  # in correlated pixels
        dy = py + _peak(col * _phase(self.fy, py), self.fine_y)
        response = float((_phase(self.fy, dy) @ cross @ _phase(self.fx, dx)).real) / self.total
        dx, dy = (round(d * self.scale * GRID) / GRID for d in (dx, dy))  # full-resolution pixels, on the warp grid
        applied = response >= min_response and max(abs(dx), abs(dy)) <= MAX_SHIFT * min(self.shape)
        return Alignment(dx, dy, response, applied)


@contextlib.contextmanager
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _phase(freq: torch.Tensor, position: float) -> torch.Tensor:
    """exp(2 pi i f x) for every frequency f (cycles per pixel) at position x (pixels), complex64."""
    return torch.exp(2j * torch.pi * freq.double() * position).to(torch.complex64)


def _fine_grid(freq: torch.Tensor) -> torch.Tensor:
    """(2 UPSAMPLE + 1, len(freq)) phases of the sub-pixel offsets -1 ... +1 px."""
    offsets = torch.linspace(-1, 1, 2 * UPSAMPLE + 1, dtype=torch.float64)
    return torch.exp(2j * torch.pi * offsets[:, None] * freq.double()[None, :]).to(torch.complex64)


def _peak(line: torch.Tensor, fine: torch.Tensor) -> float:
    """Sub-pixel offset in [-1, 1] of the maximum of the surface whose spectrum along one axis is ``line``."""
    values = (fine @ line).real  # the surface at the offsets of the fine grid
    j = int(torch.argmax(values))
    offset = 0.0
    if 0 < j < len(values) - 1:  # parabola through the best grid point and its neighbours
        left, mid, right = (float(v) for v in values[j - 1 : j + 2])
        curvature = left - 2 * mid + right
        offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return (j - UPSAMPLE + offset) / UPSAMPLE
