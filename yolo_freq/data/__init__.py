"""Dataset tools: annotation conversion to YOLO layout with a validation report, public PCB dataset preparation and
the fine-tuning transfer count.

``convert`` is what ``yolo-freq convert`` runs; ``prepare_deeppcb`` and ``prepare_dspcbsd`` are what the bundled
``deeppcb.yaml`` and ``dspcbsd.yaml`` run (as their ``download:`` script) when the dataset is missing.
"""

from .convert import convert, detect_format
from .finetune import transferred_tensors
from .prepare import prepare_deeppcb, prepare_dspcbsd
from .records import Box, ConversionError, ProblemsFound, Record
from .report import ConversionReport

__all__ = (
    "Box",
    "ConversionError",
    "ConversionReport",
    "ProblemsFound",
    "Record",
    "convert",
    "detect_format",
    "prepare_deeppcb",
    "prepare_dspcbsd",
    "transferred_tensors",
)
