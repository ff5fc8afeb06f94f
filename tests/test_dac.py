"""DAC: the deformable axial convolution against a per-tap reference, its running-sum offsets, border clamping, the
plain-conv limit, ONNX export, any feature size and the block contract (also in test_blocks.py once registered)."""

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import HW, onnx_session

from yolo_freq.nn.dac import DAC, cumulative_taps

SIZES = [(1, 1), (2, 3), (7, 7), (13, 25), (40, 40)]


def randomised(morph: int, d: int = 3, k: int = 9, seed: int = 0) -> DAC:
    """A DAC with random weights everywhere, GroupNorm affine included, so that offsets are large and varied."""
    gen = torch.Generator().manual_seed(seed)
    m = DAC(d, d, morph=morph, k=k).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return m


def running_sums(o: torch.Tensor, k: int) -> torch.Tensor:
    """Tap shifts by the explicit loop: centre 0, each further tap adds its own offset to its inner neighbour's."""
    c = k // 2
    per_tap = torch.cat((o[:, :c], torch.zeros_like(o[:, :1]), o[:, c:]), 1)  # (B, k, H, W), centre offset 0
    delta = [per_tap[:, c] * 0] * k
    for j in range(1, c + 1):
        delta[c + j] = delta[c + j - 1] + per_tap[:, c + j]
        delta[c - j] = delta[c - j + 1] + per_tap[:, c - j]
    return torch.stack(delta, 1)


def bilinear(img: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """img (C, H, W) at (y, x) after clamping into the image, interpolated by hand."""
    h, w = img.shape[-2:]
    y, x = min(max(y, 0.0), h - 1.0), min(max(x, 0.0), w - 1.0)
    y0, x0, y1, x1 = math.floor(y), math.floor(x), math.ceil(y), math.ceil(x)
    fy, fx = y - y0, x - x0
    return (
        (1 - fy) * (1 - fx) * img[:, y0, x0]
        + (1 - fy) * fx * img[:, y0, x1]
        + fy * (1 - fx) * img[:, y1, x0]
        + fy * fx * img[:, y1, x1]
    )


def per_tap_reference(m: DAC, x: torch.Tensor) -> torch.Tensor:
    """Every pixel and tap: the coordinate from the module's own offsets, clamped, sampled by hand, times the tap."""
    b, d, h, w = x.shape
    k, c = m.k, m.k // 2
    delta = running_sums(m.offsets(x), k).double()
    taps = m.conv.weight.reshape(d, k).double()
    xd, y = x.double(), torch.zeros(b, d, h, w, dtype=torch.float64)
    for n in range(b):
        for i in range(h):
            for j in range(w):
                for t in range(k):
                    s = delta[n, t, i, j].item()
                    yy, xx = (i + s, j + t - c) if m.morph == 0 else (i + t - c, j + s)
                    y[n, :, i, j] += taps[:, t] * bilinear(xd[n], yy, xx)
    return y


@pytest.mark.parametrize("morph", [0, 1])
def test_equals_a_per_tap_reference(morph):
    m = randomised(morph)
    x = torch.randn(2, 3, 5, 7)
    with torch.no_grad():
        o, delta = m.offsets(x), m.shifts(x)
        y = m(x)
    assert o.abs().mean() > 0.3 and delta.abs().max() > 1.5  # bent kernels, sub-pixel and clamped samples
    assert (delta - delta.round()).abs().max() > 0.1
    assert torch.allclose(y.double(), per_tap_reference(m, x), atol=1e-4)


@pytest.mark.parametrize("k", [3, 5, 9])
def test_shifts_are_the_running_sums_of_the_offsets(k):
    o = torch.randn(2, k - 1, 4, 6)
    matrix = torch.einsum("tu,buhw->bthw", cumulative_taps(k), o)
    assert torch.allclose(matrix, running_sums(o, k), atol=1e-6)
    m = randomised(0, k=k)
    x = torch.randn(1, 3, 6, 5)
    assert torch.allclose(m.shifts(x), running_sums(m.offsets(x), k), atol=1e-6)


@pytest.mark.parametrize("morph", [0, 1])
def test_border_sampling_equals_an_explicit_clamp(morph):
    """grid_sample's border mode (the module) equals clamping the coordinates, then sampling (the reference)."""
    m = randomised(morph, seed=1)
    x = torch.randn(1, 3, 3, 4)
    grid = m.grid(m.shifts(x) * 3)  # up to 12 px: most taps leave the 3 x 4 image
    assert (grid.abs() > 1).float().mean() > 0.3
    border = F.grid_sample(x, grid, padding_mode="border", align_corners=True)
    clamped = F.grid_sample(x, grid.clamp(-1, 1), padding_mode="zeros", align_corners=True)
    assert torch.allclose(border, clamped, atol=1e-6)


@pytest.mark.parametrize("morph", [0, 1])
@pytest.mark.parametrize("hw", SIZES)
def test_zero_offsets_give_a_plain_depthwise_conv_with_border_replication(morph, hw):
    m = randomised(morph)
    with torch.no_grad():
        m.offset[1].weight.zero_()
        m.norm.bias.zero_()
    x = torch.randn(2, 3, *hw)
    c = m.k // 2
    pad, shape = ((c, c, 0, 0), (3, 1, 1, m.k)) if morph == 0 else ((0, 0, c, c), (3, 1, m.k, 1))
    plain = F.conv2d(F.pad(x, pad, mode="replicate"), m.conv.weight.reshape(shape), groups=3)
    assert torch.allclose(m(x), plain, atol=1e-5 * plain.abs().max().item())  # float32 coordinates: 1e-6 px off


@pytest.mark.parametrize("morph", [0, 1])
@pytest.mark.parametrize("hw", SIZES)
def test_any_feature_size(morph, hw):
    y = DAC(8, 8, morph=morph).eval()(torch.randn(2, 8, *hw))
    assert y.shape == (2, 8, *hw) and torch.isfinite(y).all()


@pytest.mark.parametrize("morph", [0, 1])
def test_bf16_autocast_and_channels_last(morph):
    m = DAC(8, 8, morph=morph).eval()
    x = torch.randn(2, 8, 13, 7)
    ref = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert torch.isfinite(y.float()).all()
    assert (y.float() - ref).abs().max() <= 0.1 * ref.abs().max() + 0.1
    m.to(memory_format=torch.channels_last)
    assert torch.allclose(m(x.to(memory_format=torch.channels_last)), ref, atol=1e-5)


@pytest.mark.parametrize("morph", [0, 1])
def test_gradients_reach_every_parameter(morph):
    m = DAC(8, 8, morph=morph).train()
    m(torch.randn(2, 8, 9, 11)).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


def test_bad_arguments_and_the_wrong_input_width_are_clear_errors():
    with pytest.raises(ValueError, match=r"^DAC was built for input \(B, 8, H, W\)"):
        DAC(8, 8)(torch.randn(1, 4, 8, 8))
    for kwargs, match in [
        (dict(c1=8, c2=16), "c2=16 must equal c1=8"),
        (dict(c1=8, c2=8, morph=2), "'morph' must be 0"),
        (dict(c1=8, c2=8, k=8), "'k' must be an odd integer >= 3"),
        (dict(c1=8, c2=8, k=1), "'k' must be an odd integer >= 3"),
    ]:
        with pytest.raises(ValueError, match=match):
            DAC(**kwargs)


@pytest.mark.parametrize("morph", [0, 1])
def test_onnx_export_matches_pytorch_at_other_sizes(morph, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    m = randomised(morph, d=4)
    session = onnx_session(m, {"x": torch.randn(2, 4, 10, 12)}, tmp_path / "dac.onnx", {"x": HW, "y": HW})
    for hw in [(13, 25), (20, 14), (1, 1)]:
        x = torch.randn(2, 4, *hw)
        with torch.no_grad():
            ref = m(x).numpy()
        y = session.run(None, {"x": x.numpy()})[0]
        assert y.shape == ref.shape and abs(y - ref).max() <= 1e-4, hw
