"""Export formats: a model holding yolo-freq blocks exports only to the formats whose outputs are tested against
PyTorch (:data:`yolo_freq.nn.EXPORT_FORMATS`); any other format stops before the exporter runs, naming the blocks
and the format, instead of writing a model that may run and compute something else (an operator a converter maps
differently, an export form a block takes only under tracing).
"""

from __future__ import annotations

import torch

from yolo_freq import nn as blocks


class ExportFormatError(ValueError):
    """An export format not verified for the yolo-freq blocks of the model; the message says what to do instead."""


def check_export_format(model: torch.nn.Module, fmt: str) -> None:
    """Raise :class:`ExportFormatError` when ``model`` holds yolo-freq blocks and ``fmt`` is not a verified format.

    Args:
        model (torch.nn.Module): The model to export.
        fmt (str): Ultralytics' ``format`` argument, any case.
    """
    fmt = str(fmt).lower()
    if fmt in blocks.EXPORT_FORMATS:
        return
    names = sorted({type(m).__name__ for m in model.modules() if isinstance(m, blocks.YAML_BLOCKS)})
    if names:
        verified = ", ".join(blocks.EXPORT_FORMATS)
        raise ExportFormatError(
            f"format={fmt} is not verified for this model's yolo-freq blocks ({', '.join(names)}): their exports are "
            f"tested to match PyTorch only as {verified}. Export to one of these (e.g. format=onnx, then convert with "
            f"the target's own tools and compare its outputs with PyTorch's)."
        )


def _make_export(export, default_format: str):
    def export_verified_formats(self, **kwargs):
        check_export_format(self.model, kwargs.get("format", self.overrides.get("format", default_format)))
        return export(self, **kwargs)

    export_verified_formats.__wrapped__ = export
    return export_verified_formats


def register() -> None:
    """Wrap ``Model.export`` (Python and the ``yolo export`` CLI both go through it) with the format check."""
    from ultralytics.engine.model import Model
    from ultralytics.utils import DEFAULT_CFG

    Model.export = _make_export(Model.export, DEFAULT_CFG.format)
