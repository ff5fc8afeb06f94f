"""Wavelet blocks: DWT2d / IDWT2d against PyWavelets, perfect reconstruction, FDSA (DynaWave-Net) and HaarDown."""

import numpy as np
import pytest
import pywt
import torch

from yolo_freq.nn import FDSA, DWT2d, HaarDown, IDWT2d
from yolo_freq.nn.wavelet import check_wavelet, filter_bank, orthogonal_wavelets

WAVELETS = ["haar", "db2", "db4", "sym5", "coif3", "db10"]
SIZES = [(1, 1), (2, 3), (7, 7), (13, 25), (25, 3), (16, 10)]  # odd, tiny and even feature maps


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("hw", SIZES)
def test_dwt_equals_pywavelets_periodization(wavelet, hw):
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    ours = DWT2d(wavelet)(x.float())
    ca, (ch, cv, cd) = pywt.dwt2(x.numpy(), wavelet, mode="periodization")
    ref = np.stack([ca, ch, cv, cd], 2)
    assert ours.shape == ref.shape == (2, 3, 4, -(-hw[0] // 2), -(-hw[1] // 2))
    assert np.abs(ours.numpy() - ref).max() < 1e-5


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("hw", SIZES)
def test_idwt_of_dwt_reconstructs_the_input(wavelet, hw):
    x = torch.randn(2, 5, *hw)
    y = IDWT2d(wavelet)(DWT2d(wavelet)(x), size=hw)
    assert y.shape == x.shape
    assert (y - x).abs().max() < 1e-5


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_dwt_is_orthogonal(wavelet):
    """Energy is preserved (Parseval) on even sizes, and IDWT is exactly the transpose (adjoint) of DWT."""
    x = torch.randn(1, 2, 12, 18, dtype=torch.float64)
    y = DWT2d(wavelet)(x)
    assert torch.allclose(y.square().sum(), x.square().sum(), rtol=1e-5)
    c = torch.randn_like(y)
    assert torch.allclose((y * c).sum(), (x * IDWT2d(wavelet)(c)).sum(), rtol=1e-5)


def test_every_listed_wavelet_reconstructs():
    names = orthogonal_wavelets()
    assert "haar" in names and "db38" in names and "sym20" in names and "coif17" in names and "dmey" not in names
    x = torch.randn(1, 1, 9, 6)
    worst = max((IDWT2d(n)(DWT2d(n)(x), (9, 6)) - x).abs().max().item() for n in names)
    assert worst < 1e-4  # long filters (db38: 76 taps) wrap many times around a 10 x 6 map


@pytest.mark.parametrize(
    "name, match",
    [
        ("bior2.2", "not orthogonal"),
        ("dmey", "approximately orthonormal"),
        ("db99", "not a PyWavelets discrete wavelet"),
        ("morl", "not a PyWavelets discrete wavelet"),
        (3, "not a PyWavelets discrete wavelet"),
    ],
)
def test_invalid_wavelets_are_clear_errors(name, match):
    with pytest.raises(ValueError, match=rf"FDSA: wavelet .* {match}.*choose an orthogonal one: haar, .*db1\.\.db38"):
        FDSA(8, 8, name)
    with pytest.raises(ValueError, match=match):
        check_wavelet("DWT2d", name)


def test_filters_stay_exact_under_half_precision_casts():
    """Decision: Ultralytics halves models (validator, checkpoints); the fixed filters must not be rounded by it."""
    m = DWT2d("db4").half().float()
    assert m.filters.dtype == torch.float32
    assert torch.equal(m.filters, filter_bank("db4"))
    assert m(torch.randn(1, 1, 8, 8).half()).dtype == torch.float16


def test_idwt_rejects_non_subband_input():
    with pytest.raises(ValueError, match=r"IDWT2d expects \(B, C, 4, h, w\)"):
        IDWT2d("haar")(torch.randn(1, 3, 3, 4, 4))


@pytest.mark.parametrize("size", [(12, 12), (8, 6), (7, 10)])
def test_idwt_rejects_a_size_its_subbands_cannot_have_come_from(size):
    """4x4 subbands come from 7 or 8 rows and columns; any other size would be silently cropped or short."""
    y = torch.randn(1, 2, 4, 4, 4)
    assert IDWT2d("haar")(y, size=(7, 8)).shape[-2:] == (7, 8)
    with pytest.raises(ValueError, match=r"IDWT2d: size .* cannot come from 4x4 subbands; H must be 7 or 8"):
        IDWT2d("haar")(y, size=size)


# FDSA ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wavelet", ["haar", "db2", "sym4"])
@pytest.mark.parametrize("hw", SIZES)
def test_fdsa_shapes_any_size(wavelet, hw):
    m = FDSA(16, 24, wavelet).eval()
    y = m(torch.randn(2, 16, *hw))
    assert y.shape == (2, 24, *hw)
    assert torch.isfinite(y).all()


def test_fdsa_reweights_subbands_and_synthesises_them_back():
    """z_wave = IDWT(alpha_s * z_s): with a zero MLP every alpha is sigmoid(0) = 0.5, so z_wave = 0.5 z exactly."""
    m = FDSA(8, 8, "db2").eval()
    torch.nn.init.zeros_(m.mlp[2].weight)
    seen = {}
    m.idwt.register_forward_hook(lambda mod, inp, out: seen.setdefault("z_wave", out))
    z = torch.randn(2, 8, 11, 6)
    m(z)
    assert seen["z_wave"].shape == z.shape
    assert torch.allclose(seen["z_wave"], 0.5 * z, atol=1e-5)


def test_fdsa_alpha_is_per_subband_and_channel_from_one_shared_mlp():
    m = FDSA(16, 16)
    assert m.mlp[0].in_features == m.mlp[2].out_features == 16  # one MLP over channels, applied to all 4 subbands
    seen = {}
    m.mlp.register_forward_hook(lambda mod, inp, out: seen.setdefault("a", out))
    m(torch.randn(3, 16, 8, 8))
    assert seen["a"].shape == (3, 4, 16)


@pytest.mark.parametrize("residual", [True, False])
def test_fdsa_gradients_reach_every_parameter(residual):
    m = FDSA(16, 16, "db2", residual=residual).train()
    if residual:  # the zero-initialised BN scale of the residual form blocks the branch at initialisation
        torch.nn.init.ones_(m.cv.bn.weight)
    m(torch.randn(2, 16, 9, 7)).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"
    assert not list(m.dwt.parameters()) and not list(m.idwt.parameters())  # filter banks are fixed buffers


def test_fdsa_residual_form_starts_as_identity_and_the_paper_form_does_not():
    z = torch.randn(2, 16, 9, 7)
    assert torch.equal(FDSA(16, 16).eval()(z), z)
    paper = FDSA(16, 16, residual=False).eval()
    assert not paper.residual and not torch.allclose(paper(z), z)
    assert not FDSA(16, 24).residual  # no identity path between different widths
    legacy = FDSA(16, 16).eval()
    torch.nn.init.ones_(legacy.cv.bn.weight)
    branch = legacy(z) - z
    del legacy.residual  # a module unpickled from an older checkpoint has no such attribute: the paper's form
    assert torch.allclose(legacy(z), branch, atol=1e-6)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: FDSA(0, 8), "FDSA: argument 'c1'"),
        (lambda: FDSA(8, 8, "haar", r=0), "FDSA: argument 'r'"),
        (lambda: HaarDown(8, 2.5), "HaarDown: argument 'c2'"),
    ],
)
def test_bad_arguments_name_the_block(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# HaarDown --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hw", SIZES + [(64, 40)])
def test_haar_down_halves_like_a_stride_2_conv(hw):
    x = torch.randn(2, 8, *hw)
    ref = torch.nn.Conv2d(8, 8, 3, 2, 1)(x)
    y = HaarDown(8, 12).eval()(x)
    assert y.shape == (2, 12, *ref.shape[-2:])


def test_haar_down_keeps_all_four_haar_subbands():
    x = torch.randn(1, 3, 6, 8)
    m = HaarDown(3, 5)
    seen = {}
    m.cv.register_forward_hook(lambda mod, inp, out: seen.setdefault("in", inp[0]))
    m(x)
    a, b, c, d = x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    bands = torch.stack([a + b + c + d, a + b - c - d, a - b + c - d, a - b - c + d], 2) / 2  # LL, LH, HL, HH
    assert torch.allclose(seen["in"], bands.flatten(1, 2), atol=1e-6)


def test_haar_down_gradients_reach_every_parameter():
    m = HaarDown(8, 16).train()
    m(torch.randn(2, 8, 7, 9)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
