"""What models with yolo-freq's blocks need beyond their YAML rows: ``fuse()`` reparameterises the blocks that have
an inference form before Ultralytics folds Conv+BN, and the blocks are allow-listed for ``ULTRALYTICS_SAFE_LOAD=1``
checkpoint loading."""

from __future__ import annotations

import torch

from yolo_freq import nn as blocks


def _make_fuse(fuse, fusable):
    def fuse_with_plugin_blocks(self, *args, **kwargs):
        for m in self.modules():
            if isinstance(m, fusable):
                m.fuse()
        return fuse(self, *args, **kwargs)

    fuse_with_plugin_blocks.__wrapped__ = fuse
    return fuse_with_plugin_blocks


def register(tasks) -> None:
    """Wrap ``BaseModel.fuse`` and allow-list every block class (parts included) for safe loading."""
    tasks.BaseModel.fuse = _make_fuse(tasks.BaseModel.fuse, blocks.FUSABLE_BLOCKS)
    torch.serialization.add_safe_globals(
        [cls for cls in vars(blocks).values() if isinstance(cls, type) and issubclass(cls, torch.nn.Module)]
    )
