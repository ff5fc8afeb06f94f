"""ADSCDC: the exportable form against the dynamic one, the central-difference identity, the expert mixing, ONNX
export, any feature size and the block contract (also in test_blocks.py once registered)."""

import pytest
import torch
import torch.nn.functional as F
from helpers import HW, onnx_session

from yolo_freq.nn.adscdc import ADSCDC, adaptive_avg_pool

SIZES = [(1, 1), (2, 3), (7, 7), (13, 25), (40, 40)]


def randomised(d: int = 8, seed: int = 0, **kwargs) -> ADSCDC:
    """An ADSCDC with random weights and BatchNorm statistics, so that mixing and gate are far from uniform."""
    gen = torch.Generator().manual_seed(seed)
    m = ADSCDC(d, d, **kwargs).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
        bn = m.mix[0].bn
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen) * 0.2)
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
    return m


@pytest.mark.parametrize("k", [3, 5])
def test_pooling_by_slices_equals_adaptive_pooling(k):
    """Including sides that k does not divide and sides smaller than k, where PyTorch's bins repeat pixels."""
    for h, w in [(1, 1), (2, 3), (4, 4), (7, 11), (13, 25), (40, 40), (9, 2)]:
        x = torch.randn(2, 3, h, w)
        assert torch.allclose(adaptive_avg_pool(x, k), F.adaptive_avg_pool2d(x, k), atol=1e-6), (h, w)


@pytest.mark.parametrize("hw", [*SIZES, (3, 9)])
def test_exportable_form_equals_the_dynamic_form(hw):
    m = randomised()
    x = torch.randn(2, 8, *hw)
    with torch.no_grad():
        ref = m.forward_dynamic(x)
        assert torch.allclose(m.forward_export(x), ref, atol=1e-5 * (1 + ref.abs().max().item()))


def test_the_forward_is_the_central_difference_of_the_mixed_kernel():
    """y = conv(x, K) - x * sum_t K_t + theta * K_centre * x, computed here without the module's folding."""
    m = randomised()
    x = torch.randn(2, 8, 9, 7)
    with torch.no_grad():
        kern, theta = m.kernel(F.adaptive_avg_pool2d(x, 3)), m.theta(x)  # (B, d, 3, 3), (B, d, 1, 1)
        conv = torch.cat([F.conv2d(x[i : i + 1], kern[i, :, None], padding=1, groups=8) for i in range(2)])
        expected = conv - x * kern.sum((2, 3), keepdim=True) + theta * kern[:, :, 1:2, 1:2] * x
        assert torch.allclose(m(x), expected, atol=1e-5)


def test_a_constant_image_gives_theta_times_the_centre_tap():
    """Away from the zero padding the differences vanish: only theta * K_centre * x is left."""
    m = randomised(k=5)
    x = torch.randn(2, 8, 1, 1).expand(2, 8, 11, 12).contiguous()
    with torch.no_grad():
        kern, theta = m.kernel(F.adaptive_avg_pool2d(x, 5)), m.theta(x)
        expected = theta * kern[:, :, 2:3, 2:3] * x
        for y in (m.forward_dynamic(x), m.forward_export(x)):
            assert torch.allclose(y[..., 2:-2, 2:-2], expected[..., 2:-2, 2:-2], atol=1e-5)
            assert not torch.allclose(y[..., :2, :], expected[..., :2, :], atol=1e-3)  # the border sees the padding
    assert theta.std() > 0.05  # the gate differs between channels: the test sees it


def test_expert_weights_are_a_softmax_over_experts():
    m = randomised()
    a = m.mixing(F.adaptive_avg_pool2d(torch.randn(2, 8, 13, 25), 3))
    assert a.shape == (2, 4, 8, 3, 3) and (a > 0).all()
    assert torch.allclose(a.sum(1), torch.ones(2, 8, 3, 3), atol=1e-6)
    assert a.max() > 0.6  # not uniform: the mixing depends on the image


@pytest.mark.parametrize("form", ["forward", "forward_export"])
@pytest.mark.parametrize("hw", SIZES)
def test_any_feature_size(form, hw):
    m = ADSCDC(8, 8).eval()
    y = getattr(m, form)(torch.randn(2, 8, *hw))
    assert y.shape == (2, 8, *hw) and torch.isfinite(y).all()


@pytest.mark.parametrize("form", ["forward", "forward_export"])
def test_bf16_autocast_and_channels_last(form):
    m = ADSCDC(8, 8).eval()
    x = torch.randn(2, 8, 13, 7)
    ref = getattr(m, form)(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = getattr(m, form)(x)
    assert torch.isfinite(y.float()).all()
    assert (y.float() - ref).abs().max() <= 0.1 * ref.abs().max() + 0.1
    m.to(memory_format=torch.channels_last)
    assert torch.allclose(getattr(m, form)(x.to(memory_format=torch.channels_last)), ref, atol=1e-5)


@pytest.mark.parametrize("form", ["forward", "forward_export"])
def test_gradients_reach_every_parameter(form):
    m = ADSCDC(8, 8).train()
    getattr(m, form)(torch.randn(2, 8, 9, 11)).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


def test_bad_arguments_and_the_wrong_input_width_are_clear_errors():
    with pytest.raises(ValueError, match=r"^ADSCDC was built for input \(B, 8, H, W\)"):
        ADSCDC(8, 8)(torch.randn(1, 4, 8, 8))
    for kwargs, match in [
        (dict(c1=8, c2=16), "c2=16 must equal c1=8"),
        (dict(c1=8, c2=8, k=4), "'k' must be an odd integer >= 3"),
        (dict(c1=8, c2=8, experts=0), "'experts' must be an integer >= 1"),
        (dict(c1=8, c2=8, r=0), "'r' must be an integer >= 1"),
    ]:
        with pytest.raises(ValueError, match=match):
            ADSCDC(**kwargs)


def test_onnx_export_matches_pytorch_at_other_sizes(tmp_path):
    """Traced at 12 x 9 (divisible by 3), run where 3 divides neither side, and at sizes smaller than the kernel."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    m = randomised()
    session = onnx_session(m, {"x": torch.randn(2, 8, 12, 9)}, tmp_path / "adscdc.onnx", {"x": HW, "y": HW})
    for hw in [(13, 25), (20, 14), (2, 1)]:
        x = torch.randn(2, 8, *hw)
        with torch.no_grad():
            ref = m(x).numpy()
        y = session.run(None, {"x": x.numpy()})[0]
        assert y.shape == ref.shape and abs(y - ref).max() <= 1e-4, hw
