"""Golden-template inspection: align each inspected image to its defect-free reference and compose the two.

:mod:`.align` registers an image to its reference (phase correlation, sub-pixel translation); :mod:`.compose` makes
the model input from the pair, the one function used by dataset conversion, prediction and the ONNX helper.
"""

from .align import MIN_RESPONSE, Alignment, PhaseCorrelator
from .compose import COMPOSITES, CompositeSpec, Golden, ReferenceError, compose, read_image, write_composite

__all__ = (
    "COMPOSITES",
    "MIN_RESPONSE",
    "Alignment",
    "CompositeSpec",
    "Golden",
    "PhaseCorrelator",
    "ReferenceError",
    "compose",
    "read_image",
    "write_composite",
)
