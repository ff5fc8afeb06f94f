"""yolo-freq's network blocks, one paper concept per file."""

from .ddconv import DDConv, FrFTConv
from .dslk_conv import C2fDSLKConv, DSLKConv
from .gla_attention import GLAAttention

# Blocks whose YAML rows get Ultralytics' (c1, c2, ...) channel inference and width scaling.
BASE_BLOCKS = (DDConv, GLAAttention, C2fDSLKConv)
# Of those, the ones that also take a repeat count n as their third argument.
REPEAT_BLOCKS = (C2fDSLKConv,)
# Blocks with a list of inputs (YAML `from: [i, j, ...]`), built as (c1_list, c2, ...) with c2 width-scaled.
MULTI_INPUT_BLOCKS = ()
# Blocks with an inference-time reparameterisation, applied by model.fuse().
FUSABLE_BLOCKS = (DDConv, DSLKConv)

__all__ = ("C2fDSLKConv", "DDConv", "DSLKConv", "FrFTConv", "GLAAttention")
