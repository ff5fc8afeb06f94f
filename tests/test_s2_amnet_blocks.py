"""S2-AMNet blocks: the paper's decisions (Haar downsampling, multi-path and pinwheel receptive fields, the SSAM
block's parts) and their errors. The generic block contract is in test_blocks.py; DAC, ADSCDC and AFMM against
their references in test_dac.py, test_adscdc.py and test_afmm.py."""

import pytest
import torch
import torch.nn.functional as F
from helpers import randomise

from yolo_freq.nn import SAMM, HaarDown, IDWT2d, LayerNorm2d, MPBlock, MPConv, PConv, SSAMBlock, SSAMStem


@pytest.mark.parametrize("hw", [(8, 12), (7, 9), (1, 1)])
def test_grouped_haar_down_is_exactly_invertible_from_its_subbands(hw):
    """The subbands the grouped form mixes hold the whole (zero-padded) input: the inverse DWT gives it back."""
    x = torch.randn(2, 4, *hw, dtype=torch.float64)
    m = HaarDown(4, 8, "grouped").double()
    sub = m.subbands(x)  # (B, 4 * c1, h, w), interleaved per input channel
    padded = F.pad(x, (0, hw[1] % 2, 0, hw[0] % 2))
    back = IDWT2d("haar").double()(sub.unflatten(1, (4, 4)), padded.shape[-2:])
    assert torch.allclose(back, padded, atol=1e-12)


def test_grouped_haar_down_uses_the_papers_filters_and_zero_padding():
    x = torch.tensor([[1.0, 2.0, 5.0], [3.0, 4.0, 7.0]]).reshape(1, 1, 2, 3)
    sub = HaarDown(1, 2, "grouped").subbands(x).reshape(4, 2)  # [LL, LH, HL, HH] x two 2x2 blocks
    assert torch.allclose(sub[0], torch.tensor([0.5 * (1 + 2 + 3 + 4), 0.5 * (5 + 7)]))  # LL = 0.5 * sum
    # orthonormal filters and zero padding keep each block's energy (replicating the odd column would add to it)
    assert torch.allclose(sub.square().sum(0), torch.stack([x[..., :2].square().sum(), x[..., 2:].square().sum()]))


def test_grouped_haar_down_mixes_each_input_channel_on_its_own():
    m = HaarDown(4, 8, "grouped").eval()
    assert sum(p.numel() for p in m.cv.conv.parameters()) == 4 * 8  # 4 * c2 weights, no bias
    x = torch.randn(1, 4, 6, 6)
    x2 = x.clone()
    x2[:, 1] += 1.0  # input channel 1 reaches output channels 2 and 3 only
    changed = (m(x2) - m(x)).abs().amax((0, 2, 3)) > 0
    assert changed.tolist() == [False, False, True, True, False, False, False, False]


def _support(module, c, hw, at):
    """Input pixels that output pixel `at` depends on (any channel), by autograd."""
    x = torch.randn(1, c, *hw, requires_grad=True)
    module(x)[0, :, at[0], at[1]].sum().backward()
    return {tuple(p) for p in (x.grad[0].abs().sum(0) > 0).nonzero().tolist()}


def test_mp_conv_paths_see_3_5_7_9_pixels():
    m = randomise(MPConv(16, 16)).eval()
    for i, radius in enumerate((1, 2, 3, 4)):
        chunk = torch.nn.Module()
        chunk.forward = lambda x, i=i: m(x)[:, 4 * i : 4 * i + 4]
        support = _support(chunk, 16, (15, 15), (7, 7))
        assert support == {(y, x) for y in range(7 - radius, 8 + radius) for x in range(7 - radius, 8 + radius)}, i


def test_mp_block_is_residual():
    m = MPBlock(16, 16).eval()
    torch.nn.init.zeros_(m.cv2.bn.weight)
    torch.nn.init.zeros_(m.cv2.bn.bias)
    x = torch.randn(1, 16, 5, 6)
    assert torch.equal(m(x), x)


def test_pconv_reads_a_pinwheel():
    """Four 4x2 / 2x4 strips around the output pixel, each leaning its own way (modules.md: the four pads)."""
    m = randomise(PConv(16, 16)).eval()
    y, x = 7, 8
    strips = [
        [(r, c) for r in (y - 1, y) for c in range(x - 3, x + 1)],  # (3,0,1,0): left and up, 1x3
        [(r, c) for r in (y, y + 1) for c in range(x, x + 4)],  # (0,3,0,1): right and down, 1x3
        [(r, c) for r in range(y - 3, y + 1) for c in (x, x + 1)],  # (0,1,3,0): up and right, 3x1
        [(r, c) for r in range(y, y + 4) for c in (x - 1, x)],  # (1,0,0,3): down and left, 3x1
    ]
    assert _support(m, 16, (15, 17), (y, x)) == set().union(*map(set, strips))


def test_samm_modulates_its_input():
    m = randomise(SAMM(32, 32)).eval()
    x = torch.randn(1, 32, 9, 7)
    x[:, 5] = 0.0
    y = m(x)
    assert torch.equal(y[:, 5], torch.zeros_like(y[:, 5]))  # GELU(proj(...)) * x: a zero channel stays zero
    assert [type(op).__name__ for op in m.ops] == ["PConv", "DAC", "DAC", "ADSCDC"]
    assert [op.morph for op in m.ops[1:3]] == [0, 1]


def test_layer_norm_2d_is_layer_norm_over_channels():
    m = LayerNorm2d(8)
    m.weight.data.normal_(), m.bias.data.normal_()
    x = torch.randn(2, 8, 5, 3)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (8,), m.weight, m.bias, 1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(m(x), ref, atol=1e-5)


def test_ssam_block_is_two_pre_norm_residual_steps():
    m = randomise(SSAMBlock(32, 32)).eval()
    x = torch.randn(1, 32, 6, 5)
    mid = x + m.samm(m.norm1(x))
    assert torch.allclose(m(x), mid + m.afmm(m.norm2(mid)), atol=1e-6)


def test_stem_reaches_stride_4_without_a_final_activation():
    m = SSAMStem(3, 16).eval()
    assert m(torch.randn(1, 3, 64, 48)).shape == (1, 16, 16, 12)
    assert isinstance(m.cv1.act, torch.nn.GELU) and isinstance(m.cv2.act, torch.nn.Identity)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: SAMM(24, 24), "SAMM: c1=24 must be divisible by 16"),
        (lambda: SSAMBlock(40, 40), "SSAMBlock: c1=40 must be divisible by 16"),
        (lambda: SSAMBlock(32, 64), "SSAMBlock: c2=64 must equal c1=32 \\(it is residual"),
        (lambda: MPBlock(16, 32), "MPBlock: c2=32 must equal c1=16"),
        (lambda: MPConv(18, 18), "MPConv: c1=18 must be divisible by 4"),
        (lambda: PConv(6, 8), "PConv: c1=6 must be divisible by 4"),
        (lambda: HaarDown(16, 24, "grouped"), "HaarDown: c2=24 must be divisible by 16"),
        (lambda: HaarDown(16, 32, "group"), "HaarDown: argument 'form' must be one of"),
        (lambda: SSAMStem(3, 15), "SSAMStem: c2=15 must be divisible by 2"),
    ],
)
def test_widths_the_blocks_cannot_take_are_clear_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()
