"""DGAE: each deformable branch against torchvision's deform_conv2d and, at zero offsets, a plain dilated conv; the
identity start, any feature size, gradients, bf16, channels_last, fusing, ONNX export and argument errors (also in
test_blocks.py once registered)."""

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import HW, model_fuse, onnx_session, randomise

from yolo_freq.nn.dgae import DGAE, DeformConv, kernel_taps

SIZES = [(1, 1), (2, 3), (7, 7), (13, 25), (40, 40)]


def opened(m: DGAE, seed: int = 0) -> DGAE:
    """Open the zero-initialised parts: a non-zero output BN scale and offsets of about two pixels."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m.cv.bn.weight.copy_(torch.rand(m.cv.bn.weight.shape, generator=gen) + 0.5)
        for b in m.branches:
            fan_in = b.offset.weight[0].numel()
            b.offset.weight.copy_(torch.randn(b.offset.weight.shape, generator=gen) * 2 / math.sqrt(fan_in))
            b.offset.bias.copy_(torch.randn(b.offset.bias.shape, generator=gen))
    return m


def plain_kernel(b: DeformConv) -> torch.Tensor:
    """The branch's 1x1 weight over the stacked taps as the (c2, c1, k, k) kernel it holds."""
    w = b.cv.conv.weight
    return w.reshape(w.shape[0], -1, b.k, b.k)


def test_kernel_taps_are_row_major_dy_dx():
    assert kernel_taps(3, 2).tolist() == [[dy, dx] for dy in (-2, 0, 2) for dx in (-2, 0, 2)]


@pytest.mark.parametrize("d", [1, 2, 3])
def test_branch_equals_torchvision_deform_conv2d(d):
    ops = pytest.importorskip("torchvision.ops")
    m = opened(DGAE(4, 6), seed=d)
    b = m.branches[d - 1].eval()
    assert b.d == d
    x = torch.randn(2, 4, 13, 11)
    with torch.no_grad():
        off = b.offset(x)  # torchvision's layout: (B, 2*k*k, H, W), (dy, dx) per tap in row-major order
        grid = b.grid(off)
        y = b.cv.conv(b.sample(x, off))
        ref = ops.deform_conv2d(x, off, plain_kernel(b), padding=d * (b.k // 2), dilation=d)
        out, ref_out = b(x), b.cv.act(b.cv.bn(ref))
    assert off.abs().mean() > 1 and (off - off.round()).abs().mean() > 0.1  # a few pixels, between pixels
    assert (grid.abs() > 1).float().mean() > 0.1  # a good share of the samples leave the image (zero padded)
    assert torch.allclose(y, ref, atol=1e-4)
    assert torch.allclose(out, ref_out, atol=1e-4)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("hw", [(1, 1), (2, 3), (13, 11)])
def test_zero_offsets_give_a_plain_dilated_conv(d, hw):
    b = DGAE(4, 6).branches[d - 1]  # as initialised: the offset conv is zero
    x = torch.randn(2, 4, *hw)
    with torch.no_grad():
        off = b.offset(x)
        y = b.cv.conv(b.sample(x, off))
    assert not off.any()
    plain = F.conv2d(x, plain_kernel(b), padding=d * (b.k // 2), dilation=d)
    assert torch.allclose(y, plain, atol=1e-5 * plain.abs().max().item())  # float32 coordinates: 1e-6 px off


@pytest.mark.parametrize("hw", SIZES)
def test_starts_as_the_identity_and_keeps_any_size(hw):
    x = torch.randn(2, 8, *hw)
    m = DGAE(8, 8)
    assert torch.equal(m.train()(x), x) and torch.equal(m.eval()(x), x)
    y = opened(DGAE(8, 8)).eval()(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and not torch.equal(y, x)
    y = DGAE(8, 16, k=5, e=0.75).eval()(x)
    assert y.shape == (2, 16, *hw) and torch.isfinite(y).all()


def test_widths():
    assert DGAE(64, 64).c_ == 16 and DGAE(512, 512).c_ == 88 and DGAE(16, 16).c_ == 8  # make_divisible(c2*e/3, 8)
    m = DGAE(64, 96)
    assert not m.add and m.branches[0].cv.conv.weight.shape == (16, 64 * 9, 1, 1)
    assert m.gate[2].weight.shape == (48, 48, 1, 1) and m.cv.conv.weight.shape == (96, 48, 1, 1)


@pytest.mark.parametrize("open_offsets", [False, True])
def test_gradients_reach_every_parameter(open_offsets):
    m = DGAE(8, 8).train()
    if open_offsets:
        opened(m)
    else:  # only the output BN scale blocks gradients; zero offsets still get them (bilinear sampling)
        torch.nn.init.ones_(m.cv.bn.weight)
    m(torch.randn(2, 8, 9, 11)).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


def test_bf16_autocast_and_channels_last():
    m = opened(DGAE(8, 8)).eval()
    x = torch.randn(2, 8, 13, 7)
    ref = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
        assert m.branches[1].sample(x, m.branches[1].offset(x)).dtype == x.dtype  # sampled in float32, cast back
    assert y.dtype == x.dtype and torch.isfinite(y).all()  # the residual keeps the input's dtype
    assert (y - ref).abs().max() <= 0.1 * ref.abs().max() + 0.1
    m.to(memory_format=torch.channels_last)
    assert torch.allclose(m(x.to(memory_format=torch.channels_last)), ref, atol=1e-5)


def test_fused_equals_unfused():
    m = opened(randomise(DGAE(8, 8))).eval()
    x = torch.randn(2, 8, 13, 7)
    ref = m(x)
    y = model_fuse(m)(x)
    assert not any(hasattr(c, "bn") for c in (m.cv, *(b.cv for b in m.branches)))
    assert torch.allclose(y, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_bad_arguments_and_the_wrong_input_width_are_clear_errors():
    with pytest.raises(ValueError, match=r"^DGAE was built for input \(B, 8, H, W\)"):
        DGAE(8, 8)(torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"^DGAE was built for input"):
        DGAE(8, 8)(torch.randn(8, 8, 8))
    for kwargs, match in [
        (dict(c1=0, c2=8), "'c1' must be an integer >= 1"),
        (dict(c1=8, c2=8.0), "'c2' must be an integer >= 1"),
        (dict(c1=8, c2=8, k=4), "'k' must be an odd integer >= 3"),
        (dict(c1=8, c2=8, k=1), "'k' must be an odd integer >= 3"),
        (dict(c1=8, c2=8, e=0), r"'e' must be a number in \(0, 4\]"),
        (dict(c1=8, c2=8, e="0.5"), r"'e' must be a number in \(0, 4\]"),
        (dict(c1=8, c2=8, e=True), r"'e' must be a number in \(0, 4\]"),
    ]:
        with pytest.raises(ValueError, match=f"^DGAE: argument {match}"):
            DGAE(**kwargs)


def test_onnx_export_matches_pytorch_at_other_sizes(tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    m = opened(randomise(DGAE(4, 4))).eval()
    session = onnx_session(m, {"x": torch.randn(1, 4, 10, 12)}, tmp_path / "dgae.onnx", {"x": HW, "y": HW})
    ops = {n.op_type for n in onnx.load(str(tmp_path / "dgae.onnx")).graph.node}
    assert "GridSample" in ops and "DeformConv" not in ops
    for hw in [(13, 11), (16, 20), (1, 1)]:
        x = torch.randn(1, 4, *hw)
        with torch.no_grad():
            ref = m(x).numpy()
        y = session.run(None, {"x": x.numpy()})[0]
        assert y.shape == ref.shape and abs(y - ref).max() <= 1e-4, hw
