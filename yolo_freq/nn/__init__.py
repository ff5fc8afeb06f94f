"""yolo-freq's network blocks, one paper concept per file."""

from .adscdc import ADSCDC
from .afmm import AFMM
from .cs import CS, BottleRep
from .dac import DAC
from .ddconv import DDConv, FrFTConv
from .dgae import DGAE, DeformConv
from .dslk_conv import C2fDSLKConv, DSLKConv
from .fadsf import FADSF
from .fdsa import FDSA
from .fgpem import FGPEM
from .gla_attention import GLAAttention
from .haar_down import HaarDown
from .inject import Inject
from .mfa import MFA
from .mp_block import MPBlock, MPConv
from .pconv import PConv
from .samm import SAMM
from .ssam_block import LayerNorm2d, SSAMBlock
from .ssam_stem import SSAMStem
from .wavelet import DWT2d, IDWT2d

# Blocks whose YAML rows get Ultralytics' (c1, c2, ...) channel inference and width scaling.
BASE_BLOCKS = (
    *(DDConv, DSLKConv, GLAAttention, C2fDSLKConv),  # PCB-FS
    *(FGPEM, CS),  # SD-GASNet
    *(FDSA, DGAE),  # DynaWave-Net (and FADSF, below)
    *(SSAMStem, MPConv, MPBlock, HaarDown, PConv, DAC, ADSCDC, SAMM, AFMM, SSAMBlock),  # S2-AMNet
)
# Of those, the ones that also take a repeat count n as their third argument.
REPEAT_BLOCKS = (C2fDSLKConv,)
# Blocks with a list of inputs (YAML `from: [i, j, ...]`), built as (c1_list, c2, ...) with c2 width-scaled.
MULTI_INPUT_BLOCKS = (MFA, Inject, FADSF)
# The names a model YAML row may use. The other classes (FrFTConv, BottleRep, DWT2d, IDWT2d, LayerNorm2d, DeformConv) are parts
# of these, with signatures (c, ...) that Ultralytics' channel bookkeeping cannot follow, so they are not YAML names.
YAML_BLOCKS = (*BASE_BLOCKS, *MULTI_INPUT_BLOCKS)
# Blocks with an inference-time reparameterisation, applied by model.fuse(). MFA and CS (BottleRep) are built from
# Ultralytics' RepConv, which BaseModel.fuse() folds itself, so they need no entry here.
FUSABLE_BLOCKS = (DDConv, DSLKConv)
# Export formats every YAML block goes to with outputs tested against PyTorch (tests/test_models_extra.py, each
# bundled family); `yolo export` to any other format stops before it runs for a model holding one of these blocks.
EXPORT_FORMATS = ("torchscript", "onnx", "openvino")

__all__ = (
    "ADSCDC",
    "AFMM",
    "DAC",
    "DGAE",
    "DeformConv",
    "SAMM",
    "LayerNorm2d",
    "MPBlock",
    "MPConv",
    "PConv",
    "SSAMBlock",
    "SSAMStem",
    "CS",
    "FADSF",
    "FDSA",
    "FGPEM",
    "MFA",
    "BottleRep",
    "C2fDSLKConv",
    "DDConv",
    "DSLKConv",
    "DWT2d",
    "FrFTConv",
    "GLAAttention",
    "HaarDown",
    "IDWT2d",
    "Inject",
)
