"""AFMM (S2-AMNet's adaptive frequency mixing): the complex MLP against a direct complex-tensor reference, the export
path (DFT matrices, real arithmetic) against the FFT path, and an ONNX export with dynamic H, W against PyTorch."""

import pytest
import torch
from helpers import HW, onnx_session

from yolo_freq.nn.afmm import AFMM

SIZES = [(1, 1), (2, 3), (3, 2), (2, 2), (7, 7), (6, 9), (13, 25), (40, 40)]  # even, odd, mixed and tiny


def randomised(c: int = 16, groups: int = 4, seed: int = 0) -> AFMM:
    """An AFMM with unit-scale weights and biases: the 0.02 init makes the mask nearly constant, hiding errors."""
    torch.manual_seed(seed)
    m = AFMM(c, c, groups).eval()
    for p in m.parameters():
        p.data.normal_()
    return m


def reference(m: AFMM, x: torch.Tensor) -> torch.Tensor:
    """The block written with complex tensors and one einsum per layer over the groups, in float64."""
    g = m.groups
    cplx = lambda p: torch.complex(p[0].double(), p[1].double())
    spec = torch.fft.rfft2(x.double(), norm="ortho").unflatten(1, (g, -1))  # (B, G, C/G, H, W')
    h1 = torch.einsum("bgihw,gio->bgohw", spec, cplx(m.w1)) + cplx(m.b1)[..., None, None]
    o1 = torch.complex(h1.real.relu(), h1.imag.relu())
    mask = torch.einsum("bgihw,gio->bgohw", o1, cplx(m.w2)) + cplx(m.b2)[..., None, None]
    return torch.fft.irfft2((mask * spec).flatten(1, 2), s=x.shape[-2:], norm="ortho")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


@pytest.mark.parametrize("hw", SIZES)
def test_fft_path_equals_the_complex_reference(hw):
    m, x = randomised(), torch.randn(2, 16, *hw)
    with torch.no_grad():
        assert rel_err(m(x), reference(m, x)) < 1e-5


@pytest.mark.parametrize("hw", SIZES)
def test_export_path_equals_the_fft_path(hw):
    """The biases and ReLUs make M * X non-Hermitian: the DFT path must drop the imaginary parts irfft2 drops."""
    m, x = randomised(seed=1), torch.randn(2, 16, *hw)
    with torch.no_grad():
        y = m(x)
        assert y.shape == x.shape and rel_err(m.forward_dft(x), y) < 1e-5


def test_the_mlp_is_block_diagonal_in_groups():
    m, x = randomised(c=12, groups=3), torch.randn(1, 12, 8, 9)
    x2 = x.clone()
    x2[:, 5] += 1.0  # a channel of group 1 (channels 4..7)
    with torch.no_grad():
        changed = (m(x2) - m(x)).abs().amax((0, 2, 3)) > 1e-6
    assert changed.tolist() == [False] * 4 + [True] * 4 + [False] * 4


@pytest.mark.parametrize("c, groups", [(16, 4), (12, 3), (8, 1)])
def test_parameter_count(c, groups):
    m = AFMM(c, c, groups)
    assert sum(p.numel() for p in m.parameters()) == 4 * c * c // groups + 4 * c
    assert m.w1.shape == m.w2.shape == (2, groups, c // groups, c // groups)
    assert m.b1.shape == m.b2.shape == (2, groups, c // groups)
    assert 0.005 < m.w1.std().item() < 0.05  # the authors' 0.02 * randn


def test_gradients_reach_every_parameter():
    m = randomised().train()
    m(torch.randn(2, 16, 9, 11)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_clear_errors():
    with pytest.raises(ValueError, match="AFMM: c2=24 must equal c1=16"):
        AFMM(16, 24)
    with pytest.raises(ValueError, match="AFMM: c1=18 must be divisible by 4"):
        AFMM(18, 18)
    with pytest.raises(ValueError, match="AFMM was built for input"):
        AFMM(16, 16)(torch.randn(1, 8, 4, 4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_bf16_autocast_computes_in_float32_and_returns_the_input_dtype(dtype):
    m, x = randomised(), torch.randn(2, 16, 13, 7).to(dtype)
    with torch.no_grad():
        ref = m(x.float())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y, y_dft = m(x), m.forward_dft(x)
    for out in (y, y_dft):
        assert out.dtype == dtype and torch.isfinite(out.float()).all()
        assert rel_err(out, ref) < (1e-5 if dtype == torch.float32 else 1e-2)  # only the final cast rounds


def test_half_parameters_and_input():
    """Ultralytics' validator calls model.half(); the block still computes in float32 and returns float16."""
    m, x = randomised(), torch.randn(1, 16, 6, 5)
    with torch.no_grad():
        ref = m(x)
        y = m.half()(x.half())
    assert y.dtype == torch.float16 and rel_err(y, ref) < 1e-2


class _Wrapper(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 1)
        self.afmm = AFMM(8, 8, groups=2)

    def forward(self, x):
        return self.afmm(self.conv(x))


@pytest.mark.filterwarnings("ignore")  # the legacy exporter's deprecation and tracer warnings
def test_onnx_export_with_dynamic_axes_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = _Wrapper().eval()
    for p in model.afmm.parameters():
        p.data.normal_()
    session = onnx_session(model, {"x": torch.randn(1, 3, 10, 12)}, tmp_path / "afmm.onnx", {"x": HW, "y": HW})
    for hw in [(16, 14), (9, 13), (7, 10)]:  # even, odd, mixed; none the traced size
        x = torch.randn(1, 3, *hw)
        with torch.no_grad():
            ref = model(x)
        out = torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
        assert out.shape == ref.shape and rel_err(out, ref) < 1e-4
