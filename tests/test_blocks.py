"""The contract every block a model YAML may name must keep, from one table: any feature size, gradients to every
parameter, bf16 autocast, channels-last, fused equal to unfused, and a clear error for the wrong input width.

The table must list exactly ``yolo_freq.nn.YAML_BLOCKS``: a new block cannot skip these tests. Each family's own
decisions (paper formulas, departures) are tested in its own file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from helpers import assert_fused, model_fuse, randomise
from ultralytics.nn.modules import Conv, RepConv

from yolo_freq import nn as blocks
from yolo_freq.nn import (
    ADSCDC,
    AFMM,
    CS,
    DAC,
    DGAE,
    FADSF,
    FDSA,
    FGPEM,
    MFA,
    SAMM,
    C2fDSLKConv,
    DDConv,
    DSLKConv,
    GLAAttention,
    HaarDown,
    Inject,
    MPBlock,
    MPConv,
    PConv,
    SSAMBlock,
    SSAMStem,
)

SIZES = [(1, 1), (2, 3), (7, 7), (13, 25), (40, 40)]  # odd and tiny maps occur at P5 for imgsz 64..1280


def half(n: int) -> int:
    return -(-n // 2)  # YOLOv8's stride-2 convs round up


@dataclass
class Contract:
    """How to build a block, feed it at a feature size (h, w), and what comes out."""

    build: Callable[[], torch.nn.Module]
    inputs: Callable[[tuple[int, int]], torch.Tensor | list[torch.Tensor]]
    out: Callable[[tuple[int, int]], tuple[int, ...]]
    narrow: Callable[[], torch.Tensor | list[torch.Tensor]]  # an input of the wrong width
    open_gates: Callable[[torch.nn.Module], None] = lambda m: None  # zero-initialised gates that block gradients


def _ones(*params):
    for p in params:
        torch.nn.init.ones_(p)


CONTRACTS = {
    "DDConv-proj": Contract(
        lambda: DDConv(16, 24),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 24, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    "GLAAttention-proj": Contract(
        lambda: GLAAttention(16, 8, heads=2),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 8, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    "FGPEM-low": Contract(
        lambda: FGPEM(16, 16, "low"),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    DDConv: Contract(
        lambda: DDConv(16, 16),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
        lambda m: _ones(m.scale),
    ),
    DSLKConv: Contract(
        lambda: DSLKConv(16, 16),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    GLAAttention: Contract(
        lambda: GLAAttention(16, 16, heads=2),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
        lambda m: _ones(m.detail[-1].bn.weight),
    ),
    C2fDSLKConv: Contract(
        lambda: C2fDSLKConv(16, 24, 2, True),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 24, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    FGPEM: Contract(
        lambda: FGPEM(16, 24, "high"),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 24, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    CS: Contract(
        lambda: CS(16, 24), lambda hw: torch.randn(2, 16, *hw), lambda hw: (2, 24, *hw), lambda: torch.randn(1, 8, 8, 8)
    ),
    FDSA: Contract(
        lambda: FDSA(16, 16, "db2"),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
        lambda m: _ones(m.cv.bn.weight),
    ),
    HaarDown: Contract(
        lambda: HaarDown(16, 24),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 24, half(hw[0]), half(hw[1])),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    DGAE: Contract(
        lambda: DGAE(16, 16),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
        lambda m: _ones(m.cv.bn.weight),
    ),
    "DGAE-proj": Contract(
        lambda: DGAE(16, 24),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 24, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    "HaarDown-grouped": Contract(
        lambda: HaarDown(16, 32, "grouped"),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 32, half(hw[0]), half(hw[1])),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    SSAMStem: Contract(
        lambda: SSAMStem(3, 16),
        lambda hw: torch.randn(2, 3, *hw),
        lambda hw: (2, 16, half(half(hw[0])), half(half(hw[1]))),
        lambda: torch.randn(1, 4, 8, 8),
    ),
    MPConv: Contract(
        lambda: MPConv(16, 16),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    MPBlock: Contract(
        lambda: MPBlock(16, 16),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    PConv: Contract(
        lambda: PConv(16, 24),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 24, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    DAC: Contract(
        lambda: DAC(8, 8, morph=0),
        lambda hw: torch.randn(2, 8, *hw),
        lambda hw: (2, 8, *hw),
        lambda: torch.randn(1, 4, 8, 8),
    ),
    "DAC-vertical": Contract(
        lambda: DAC(8, 8, morph=1),
        lambda hw: torch.randn(2, 8, *hw),
        lambda hw: (2, 8, *hw),
        lambda: torch.randn(1, 4, 8, 8),
    ),
    ADSCDC: Contract(
        lambda: ADSCDC(8, 8), lambda hw: torch.randn(2, 8, *hw), lambda hw: (2, 8, *hw), lambda: torch.randn(1, 4, 8, 8)
    ),
    SAMM: Contract(
        lambda: SAMM(32, 32),
        lambda hw: torch.randn(2, 32, *hw),
        lambda hw: (2, 32, *hw),
        lambda: torch.randn(1, 16, 8, 8),
    ),
    AFMM: Contract(
        lambda: AFMM(16, 16),
        lambda hw: torch.randn(2, 16, *hw),
        lambda hw: (2, 16, *hw),
        lambda: torch.randn(1, 8, 8, 8),
    ),
    SSAMBlock: Contract(
        lambda: SSAMBlock(32, 32),
        lambda hw: torch.randn(2, 32, *hw),
        lambda hw: (2, 32, *hw),
        lambda: torch.randn(1, 16, 8, 8),
    ),
    MFA: Contract(  # P2..P5 for a P4 of size hw; out at P4
        lambda: MFA([8, 16, 24, 32], 16),
        lambda hw: [
            torch.randn(2, c, f(hw[0]), f(hw[1]))
            for c, f in zip([8, 16, 24, 32], [lambda n: 4 * n, lambda n: 2 * n, lambda n: n, half])
        ],
        lambda hw: (2, 16, *hw),
        lambda: [torch.randn(1, 8, 8, 8)] * 4,
    ),
    FADSF: Contract(  # [deeper at half size, lateral]
        lambda: FADSF([16, 8], 12),
        lambda hw: [torch.randn(2, 16, half(hw[0]), half(hw[1])), torch.randn(2, 8, *hw)],
        lambda hw: (2, 12, *hw),
        lambda: [torch.randn(1, 8, 4, 4), torch.randn(1, 8, 8, 8)],
    ),
    Inject: Contract(  # [local, global at half size]
        lambda: Inject([8, 16], 12),
        lambda hw: [torch.randn(2, 8, *hw), torch.randn(2, 16, half(hw[0]), half(hw[1]))],
        lambda hw: (2, 12, *hw),
        lambda: [torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)],
    ),
}
NAMES = {key if isinstance(key, str) else key.__name__: key for key in CONTRACTS}  # test ids


def test_the_table_covers_every_yaml_block():
    built = {type(c.build()) for c in CONTRACTS.values()}
    assert built == set(blocks.YAML_BLOCKS) and {k for k in CONTRACTS if not isinstance(k, str)} == built


def _to(x, **kw):
    return [t.to(**kw) for t in x] if isinstance(x, list) else x.to(**kw)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hw", SIZES)
def test_any_feature_size(name, hw):
    c = CONTRACTS[NAMES[name]]
    y = c.build().eval()(c.inputs(hw))
    assert y.shape == c.out(hw) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    c = CONTRACTS[NAMES[name]]
    m = c.build().train()
    c.open_gates(m)
    m(c.inputs((9, 11))).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast(name):
    c = CONTRACTS[NAMES[name]]
    m = c.build().eval()
    c.open_gates(m)  # identity-initialised blocks would compare x with x
    x = c.inputs((13, 7))
    ref = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert torch.isfinite(y.float()).all()
    assert (y.float() - ref).abs().max() <= 0.1 * ref.abs().max() + 0.1  # bf16 keeps ~3 significant digits


@pytest.mark.parametrize("name", NAMES)
def test_channels_last(name):
    """Ultralytics' AutoBackend converts models (and inputs) to channels_last; results must not change."""
    c = CONTRACTS[NAMES[name]]
    m = c.build().eval()
    c.open_gates(m)
    x = c.inputs((9, 7))
    ref = m(x)
    m.to(memory_format=torch.channels_last)
    assert torch.allclose(m(_to(x, memory_format=torch.channels_last)), ref, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_unfused(name):
    c = CONTRACTS[NAMES[name]]
    m = randomise(c.build()).eval()
    c.open_gates(m)
    for sub in m.modules():
        if isinstance(sub, DSLKConv):
            sub.beta.data.normal_()
    x = c.inputs((13, 7))
    ref, before = m(x), sum(1 for _ in m.modules())
    foldable = any(isinstance(b, (Conv, RepConv)) for b in m.modules())
    y = model_fuse(m)(x)
    assert_fused(m)  # a reparameterisable block is in its fused form
    assert sum(1 for _ in m.modules()) < before or not foldable  # and BatchNorms / RepVGG branches were folded
    assert torch.allclose(y, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


@pytest.mark.parametrize("name", NAMES)
def test_the_wrong_input_width_is_a_clear_error(name):
    c = CONTRACTS[NAMES[name]]
    with pytest.raises(ValueError, match=f"{type(c.build()).__name__} was built for input"):
        c.build()(c.narrow())
