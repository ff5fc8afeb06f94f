"""SD-GASNet AES-FPN blocks: MFA, FGPEM (PDCT bases), Inject, CS / BottleRep; shapes, fusion, paper decisions, errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import model_fuse as fuse
from helpers import randomise
from ultralytics.nn.modules import RepConv
from ultralytics.nn.tasks import parse_model, yaml_model_load

from yolo_freq.nn import CS, FGPEM, MFA, BottleRep, Inject
from yolo_freq.nn._resample import resize_to
from yolo_freq.nn.fgpem import dct_index, pdct_basis, preset_positions

SIZES = [(1, 1), (2, 3), (7, 7), (13, 25), (40, 40)]


def levels(h: int, w: int, n: int = 4):
    """Sizes of P2..P5 for an h x w image, as YOLOv8's stride-2 3x3 convs produce them (ceil halving)."""
    sizes = []
    for _ in range(n + 1):
        h, w = -(-h // 2), -(-w // 2)
        sizes.append((h, w))
    return sizes[1:]


def count(module):
    return sum(1 for _ in module.modules())


# resize_to ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("imgsz", range(64, 1281, 32))
def test_levels_align_exactly_for_every_imgsz(imgsz):
    """Every imgsz multiple of 32 from 64 to 1280: P2, P3, P5 resample to P4's size by integer pooling / bilinear."""
    p2, p3, p4, p5 = levels(imgsz, 64)
    for s in (p2, p3, p5):
        assert resize_to(torch.zeros(1, 1, *s), p4).shape[-2:] == p4
    x = torch.randn(1, 2, *p2)
    assert torch.allclose(resize_to(x, p4), F.avg_pool2d(x, 4), atol=1e-6)  # P2 / P4 = 4 exactly


@pytest.mark.parametrize("hw", [(100, 100), (17, 17), (33, 70), (1, 1)])
def test_levels_align_for_sizes_that_are_not_multiples_of_32(hw):
    """With ceil halving, pooling with ceil_mode averages the partial last window over its valid samples."""
    p2, _, p4, _ = levels(*hw)
    x = torch.randn(1, 2, *p2)
    y = resize_to(x, p4)
    assert y.shape[-2:] == p4
    k = 4
    for i in range(p4[0]):
        for j in range(p4[1]):
            assert torch.allclose(y[..., i, j], x[..., i * k : i * k + k, j * k : j * k + k].mean((-2, -1)), atol=1e-6)


def test_resize_falls_back_to_bilinear_for_other_size_pairs():
    x = torch.randn(1, 2, 10, 10)
    assert resize_to(x, (7, 7)).shape[-2:] == (7, 7)  # 10 -> 7 is no pooling ratio
    assert resize_to(x, (5, 20)).shape[-2:] == (5, 20)  # one side shrinks, the other grows
    assert resize_to(x, (10, 10)) is x


# MFA ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(64, 64), (96, 160), (100, 100), (1280, 64)])
def test_mfa_output_is_at_the_reference_level(hw):
    c1 = [8, 16, 24, 32]
    m = MFA(c1, 16).eval()
    xs = [torch.randn(2, c, *s) for c, s in zip(c1, levels(*hw))]
    y = m(xs)
    assert y.shape == (2, 16, *levels(*hw)[2])
    assert torch.isfinite(y).all()


def test_mfa_has_three_repvgg_blocks_that_fuse():
    c1 = [8, 16, 24, 32]
    m = randomise(MFA(c1, 16)).eval()
    assert sum(isinstance(b, RepConv) and b.bn is not None for b in m.m) == 3  # 3x3 + 1x1 + identity-BN branches
    xs = [torch.randn(2, c, *s) for c, s in zip(c1, levels(96, 128))]
    ref, before = m(xs), count(m)
    fuse(m)
    assert count(m) < before
    assert all(isinstance(b.conv, torch.nn.Conv2d) and b.conv.kernel_size == (3, 3) for b in m.m)
    assert torch.allclose(m(xs), ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_mfa_reference_level_is_selectable():
    c1 = [4, 4, 4]
    xs = [torch.randn(1, 4, s, s) for s in (16, 8, 4)]
    assert MFA(c1, 8, ref=0)(xs).shape[-1] == 16 and MFA(c1, 8, ref=-1)(xs).shape[-1] == 4


# FGPEM ----------------------------------------------------------------------------------------------------------


def test_paper_positions_map_to_themselves_on_the_10x10_grid():
    assert preset_positions("low") == ((0, 0), (0, 1), (1, 0), (1, 1))
    assert preset_positions("high") == ((9, 9), (9, 8), (8, 9), (8, 8))
    assert [dct_index(u, 10, 10) for u in (0, 1, 8, 9)] == [0, 1, 8, 9]
    assert [dct_index(u, 40, 10) for u in (0, 1, 8, 9)] == [0, 4, 32, 36]  # u * H / G


def test_basis_is_the_textbook_dct_ii_at_the_grid_size():
    basis = pdct_basis(preset_positions("high"), 10, 10)
    y = torch.arange(10.0)[:, None]
    x = torch.arange(10.0)[None, :]
    u, v = preset_positions("high")[1]  # (9, 8): u = 9 along the width, v = 8 along the height
    ref = math.sqrt(2 / 10) ** 2 * torch.cos(math.pi * v * (y + 0.5) / 10) * torch.cos(math.pi * u * (x + 0.5) / 10)
    assert (u, v) == (9, 8)
    assert torch.allclose(basis[1], ref, atol=1e-6)
    dc = pdct_basis(preset_positions("low"), 10, 10)[0]
    assert torch.allclose(dc, torch.full((10, 10), 0.1), atol=1e-7)  # c(0)^2 = 1 / 10


@pytest.mark.parametrize("band", ["low", "high"])
@pytest.mark.parametrize("hw", [(10, 10), (13, 25), (20, 20), (40, 30), (80, 80), (11, 97)])
def test_each_band_basis_is_orthonormal(band, hw):
    b = pdct_basis(preset_positions(band), *hw).reshape(4, -1).double()
    assert torch.allclose(b @ b.T, torch.eye(4, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize("hw", [(2, 2), (3, 5), (4, 4), (7, 9)])
def test_low_band_is_orthonormal_from_2x2(hw):
    b = pdct_basis(preset_positions("low"), *hw).reshape(4, -1).double()
    assert torch.allclose(b @ b.T, torch.eye(4, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize("band", ["low", "high"])
@pytest.mark.parametrize("hw", [(1, 1), (1, 4), (2, 2), (4, 4), (6, 6), (7, 7)])
def test_tiny_maps_keep_unit_norm_bases_and_finite_outputs(band, hw):
    """Below the grid size indices are clamped to existing frequencies: unit norm, finite, never NaN."""
    b = pdct_basis(preset_positions(band), *hw).reshape(4, -1)
    assert torch.isfinite(b).all()
    assert torch.allclose(b.norm(dim=1), torch.ones(4), atol=1e-5)
    y = FGPEM(16, 16, band).eval()(torch.randn(2, 16, *hw))
    assert torch.isfinite(y).all()


def test_traced_sizes_build_the_same_basis():
    """ONNX export passes sizes as 0-dim tensors; the tensor path (dynamic axes) must equal the int path."""
    for band in ("low", "high"):
        for h, w in [(1, 1), (4, 7), (13, 40)]:
            a = pdct_basis(preset_positions(band), h, w)
            b = pdct_basis(preset_positions(band), torch.tensor(h), torch.tensor(w))
            assert torch.allclose(a, b, atol=1e-6)


def test_fgpem_channel_groups_respond_to_their_own_frequency():
    """Each quarter of the channels reads one preset frequency; the DC response equals global average pooling."""
    m = FGPEM(8, 8, "high").eval()
    basis = m.basis(20, 20)
    seen = {}
    m.fc.register_forward_hook(lambda mod, inp, out: seen.setdefault("resp", inp[0]))
    x = basis[[3, 0, 1, 2, 3, 0, 1, 2]][None]  # channels 2g, 2g + 1 form group g; each holds one of the 4 bases
    m(x)
    resp = seen["resp"].reshape(4, 2) * 20  # undo the 1 / sqrt(H W) scaling
    group_of_basis = torch.tensor([[3, 0], [1, 2], [3, 0], [1, 2]])  # which basis each channel holds
    for g in range(4):
        for j in range(2):
            expected = 1.0 if group_of_basis[g, j] == g else 0.0
            assert abs(resp[g, j].item() - expected) < 1e-4
    seen.clear()
    low = FGPEM(4, 4, "low").eval()
    low.fc.register_forward_hook(lambda mod, inp, out: seen.setdefault("resp", inp[0]))
    x = torch.randn(1, 4, 9, 14)
    low(x)
    assert torch.allclose(seen["resp"][0, 0], x[0, 0].mean(), atol=1e-5)  # group 0 = (0, 0) = DC


@pytest.mark.parametrize("band", ["low", "high"])
@pytest.mark.parametrize("hw", SIZES)
def test_fgpem_shapes_any_size(band, hw):
    assert FGPEM(16, 16, band).eval()(torch.randn(2, 16, *hw)).shape == (2, 16, *hw)
    assert FGPEM(16, 24, band).eval()(torch.randn(2, 16, *hw)).shape == (2, 24, *hw)


# Inject ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("local_hw, global_hw", [((20, 20), (10, 10)), ((10, 10), (10, 10)), ((7, 7), (13, 13))])
def test_inject_equals_the_gated_formula(local_hw, global_hw):
    m = randomise(Inject([8, 16], 12)).eval()
    local, glob = torch.randn(2, 8, *local_hw), torch.randn(2, 16, *global_hw)
    # the formula with the global 1x1 Conv-BN at the resolution the block does not run it at (in eval they commute)
    if global_hw[0] > local_hw[0]:
        full = resize_to(m.glob(glob), local_hw)
    else:
        full = m.glob(F.interpolate(glob, size=local_hw, mode="bilinear", align_corners=False))
    gate, embed = full.split(12, 1)
    ref = m.local(local) * gate.sigmoid() + embed
    assert torch.allclose(m([local, glob]), ref, atol=1e-5)


def test_inject_conv_commutes_with_resampling():
    """Decision: 1x1 Conv-BN runs at the smaller resolution; in eval it commutes with pooling and bilinear."""
    m = randomise(Inject([8, 16], 12)).eval()
    glob = torch.randn(1, 16, 10, 10)
    assert torch.allclose(
        m.glob(resize_to(glob, (20, 20))), resize_to(m.glob(glob), (20, 20)), atol=1e-5
    )  # up: conv first == resize first
    big = torch.randn(1, 16, 20, 20)
    assert torch.allclose(m.glob(resize_to(big, (5, 5))), resize_to(m.glob(big), (5, 5)), atol=1e-5)


# CS -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale, hidden", [("n", 192), ("s", 384), ("m", 432), ("l", 384), ("x", 480)])
def test_cs_hidden_width_scales_with_the_model(scale, hidden):
    """0.75 x the P5 width: 384 at the s scale as in the paper (YOLOv8s P5 width 512), 432 at m (P5 576)."""
    layers, _ = parse_model(yaml_model_load(f"sd-gasnet-{scale}.yaml"), ch=3, verbose=False)
    (cs,) = [m for m in layers if isinstance(m, CS)]
    assert 3 * cs.c == hidden and cs.c % 8 == 0


def test_cs_splits_in_three_bottlerep_blocks():
    m = CS(40, 64).eval()
    assert len(m.m) == 3 and all(isinstance(b, BottleRep) for b in m.m)
    assert m(torch.randn(2, 40, 5, 7)).shape == (2, 64, 5, 7)


def test_bottlerep_alpha_is_channel_wise_in_0_1():
    b = BottleRep(8).eval()
    b.alpha_logit.data = torch.tensor([-100.0, -1, 0, 1, 2, 3, 4, 100])
    alpha = b.alpha_logit.sigmoid()
    assert alpha.shape == (8,)
    x = torch.randn(1, 8, 4, 4)
    assert torch.allclose(b(x), b.conv2(b.conv1(x)) + alpha[None, :, None, None] * x)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: MFA(32, 16), "MFA: takes 2 or more inputs"),
        (lambda: MFA([8, 16], 16, ref=2), "MFA: argument 'ref'"),
        (lambda: MFA([8, 0], 16), r"MFA: argument 'c1\[1\]'"),
        (lambda: Inject([8, 16, 4], 16), r"Inject: takes 2 inputs \[local, global\]"),
        (lambda: FGPEM(18, 18), "FGPEM: c1=18 must be divisible by 4"),
        (lambda: FGPEM(16, 16, "mid"), "FGPEM: argument 'band' must be one of"),
        (lambda: FGPEM(16, 16, "low", grid=2), "FGPEM: argument 'grid'"),
        (lambda: CS(16, 16, e=0), "CS: argument 'e'"),
        (lambda: BottleRep(0), "BottleRep: argument 'c'"),
    ],
)
def test_bad_arguments_name_the_block(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_wrong_inputs_are_clear_errors():
    m = MFA([8, 16, 24, 32], 16)
    with pytest.raises(ValueError, match="MFA was built for 4 inputs with channels"):
        m([torch.randn(1, 8, 8, 8)] * 3)
    with pytest.raises(ValueError, match="MFA was built for 4 inputs .* but got a single Tensor"):
        m(torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match=r"MFA was built for input \(B, 16, H, W\)"):
        m([torch.randn(1, 8, 8, 8)] * 4)
    with pytest.raises(ValueError, match="Inject was built for input"):
        Inject([8, 16], 8)([torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)])
    with pytest.raises(ValueError, match="FGPEM was built for input"):
        FGPEM(16, 16)(torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match="CS was built for input"):
        CS(16, 16)(torch.randn(1, 8, 8, 8))
