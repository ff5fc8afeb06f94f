"""FADSF (DynaWave-Net's decoding fusion, Eqs. 26-28): shapes at odd and tiny sizes, the computation against a direct
functional reference, gradients, bf16 and channels_last, an ONNX export with dynamic sizes against PyTorch, the
errors, and a YOLOv8-style model whose top-down Upsample + Concat pairs are FADSFs."""

import pytest
import torch
import torch.nn.functional as F
from helpers import HW, onnx_session, randomise
from ultralytics.nn.tasks import DetectionModel

from yolo_freq.nn.fadsf import FADSF
from yolo_freq.nn.fdsa import FDSA

SIZES = [(1, 1), (2, 3), (7, 7), (13, 25), (40, 40)]  # lateral H x W: tiny, odd, mixed, a P3 of 320


def half(n: int) -> int:
    return -(-n // 2)  # YOLO's next level: ceil(n / 2)


def inputs(hw, c_high=16, c_lat=8, b=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h, w = hw
    return [torch.randn(b, c_high, half(h), half(w), generator=gen), torch.randn(b, c_lat, h, w, generator=gen)]


def randomised(c_high=16, c_lat=8, c2=12, seed=0) -> FADSF:
    """An FADSF with unit-scale random weights and trained-looking BN statistics and affines."""
    torch.manual_seed(seed)
    m = FADSF([c_high, c_lat], c2)
    for p in m.parameters():
        if p.dim() > 1:
            p.data.normal_(0, p[0].numel() ** -0.5)  # fan-in scaling keeps SiLU off its flat tail
    return randomise(m, seed).eval()


def bn(x, b):
    return F.batch_norm(x, b.running_mean, b.running_var, b.weight, b.bias, False, 0.0, b.eps)


def reference(m: FADSF, deep: torch.Tensor, wave: torch.Tensor) -> torch.Tensor:
    """Eqs. 26-28 written out: conv_transpose2d(k=2, s=2) + BN + SiLU, crop, cat of the three terms, 1x1 Conv-BN-SiLU."""
    up = F.silu(bn(F.conv_transpose2d(deep, m.up.conv_transpose.weight, stride=2), m.up.bn))
    up = up[:, :, : wave.shape[2], : wave.shape[3]]
    return F.silu(bn(F.conv2d(torch.cat([up, wave, up * wave], 1), m.cv.conv.weight), m.cv.bn))


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


@pytest.mark.parametrize("hw", SIZES)
def test_shapes(hw):
    with torch.no_grad():
        y = FADSF([16, 8], 12).eval()(inputs(hw))
    assert y.shape == (2, 12, *hw) and torch.isfinite(y).all()


@pytest.mark.parametrize("hw", SIZES)
def test_equals_the_functional_reference(hw):
    m = randomised().double()
    deep, wave = (x.double() for x in inputs(hw, seed=1))
    with torch.no_grad():
        assert rel_err(m([deep, wave]), reference(m, deep, wave)) < 1e-12


def test_output_pixel_i_comes_from_coarse_pixel_i_over_2():
    """The crop keeps the top-left: changing the last coarse row/column changes only the outputs it covers."""
    m, (deep, wave) = randomised(), inputs((7, 5), b=1)
    deep2 = deep.clone()
    deep2[..., -1, :] += 1.0
    with torch.no_grad():
        changed = ((m([deep2, wave]) - m([deep, wave])).abs().amax((0, 1, 3)) > 1e-6).tolist()
    assert changed == [False] * 6 + [True]  # coarse row 3 feeds output row 6 only (row 7 is cropped)


def test_parameters_and_fuse_layout():
    m = FADSF([16, 8], 12)
    assert m.up.conv_transpose.weight.shape == (16, 8, 2, 2) and m.up.conv_transpose.bias is None
    assert m.cv.conv.weight.shape == (12, 24, 1, 1) and m.cv.conv.bias is None
    assert sum(p.numel() for p in m.parameters()) == 16 * 8 * 4 + 2 * 8 + 24 * 12 + 2 * 12


def test_gradients_reach_every_parameter():
    m = randomised().train()
    m(inputs((9, 11))).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


def test_bf16_autocast_is_finite_and_close():
    m, x = randomised(), inputs((13, 7))
    with torch.no_grad():
        ref = m(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(x)
    assert torch.isfinite(y.float()).all() and rel_err(y, ref) < 0.05  # bf16 keeps ~3 significant digits


def test_channels_last_gives_the_same_result():
    m, x = randomised(), inputs((9, 7))
    with torch.no_grad():
        ref = m(x)
        y = m.to(memory_format=torch.channels_last)([t.to(memory_format=torch.channels_last) for t in x])
    assert torch.allclose(y, ref, atol=1e-5, rtol=1e-5)


class _Wrapper(torch.nn.Module):
    """Two tensors in (ONNX inputs cannot be a list)."""

    def __init__(self, m: FADSF):
        super().__init__()
        self.m = m

    def forward(self, deep, wave):
        return self.m([deep, wave])


@pytest.mark.filterwarnings("ignore")  # the legacy exporter's deprecation and tracer warnings
def test_onnx_export_with_dynamic_sizes_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    model = _Wrapper(randomised()).eval()
    deep, wave = inputs((10, 12), b=1)
    dynamic = {"deep": {2: "hd", 3: "wd"}, "wave": HW, "y": HW}
    session = onnx_session(model, {"deep": deep, "wave": wave}, tmp_path / "fadsf.onnx", dynamic)
    for hw in [(16, 14), (13, 25)]:  # even, and odd sides (the crop); neither the traced size
        deep, wave = inputs(hw, b=1, seed=2)
        with torch.no_grad():
            ref = model(deep, wave)
        out = torch.from_numpy(session.run(None, {"deep": deep.numpy(), "wave": wave.numpy()})[0])
        assert out.shape == ref.shape == (1, 12, *hw) and rel_err(out, ref) < 1e-4


def test_clear_errors():
    for c1 in ([8], [8, 8, 8], 8):  # a 'from' of one or three layers, or a single index
        with pytest.raises(ValueError, match=r"FADSF: takes 2 inputs \[deeper, lateral\]"):
            FADSF(c1, 8)
    with pytest.raises(ValueError, match=r"FADSF: argument 'c1\[1\]'"):
        FADSF([8, 0], 8)
    for c2 in (0, 1.5, None):
        with pytest.raises(ValueError, match="FADSF: argument 'c2'"):
            FADSF([8, 8], c2)
    m = FADSF([16, 8], 12)
    deep, wave = inputs((6, 6))
    with pytest.raises(ValueError, match=r"FADSF was built for 2 inputs with channels \[16, 8\] but got 1 inputs"):
        m([deep])
    with pytest.raises(ValueError, match="FADSF was built for 2 inputs .* but got a single Tensor"):
        m(deep)
    with pytest.raises(ValueError, match=r"FADSF was built for input \(B, 16, H, W\) but got \(2, 8, 6, 6\)"):
        m([wave, deep])  # swapped 'from' order
    with pytest.raises(ValueError, match=r"ceil\(H/2\) x ceil\(W/2\) .* 6 x 6, i.e. 3 x 3, but got 2 x 2"):
        m([torch.randn(2, 16, 2, 2), wave])  # deeper map two levels up


_YAML = """
nc: 3
backbone:
  - [-1, 1, Conv, [8, 3, 2]] # 0-P1/2
  - [-1, 1, Conv, [16, 3, 2]] # 1-P2/4
  - [-1, 1, Conv, [16, 3, 2]] # 2-P3/8
  - [-1, 1, FDSA, [16]] # 3 wavelet-refined P3
  - [-1, 1, Conv, [32, 3, 2]] # 4-P4/16
  - [-1, 1, FDSA, [32]] # 5 wavelet-refined P4
  - [-1, 1, Conv, [32, 3, 2]] # 6-P5/32
  - [-1, 1, SPPF, [32, 5]] # 7
head:
  - [[-1, 5], 1, FADSF, [32]] # 8 replaces [-1, 1, nn.Upsample, ...] + [[-1, 5], 1, Concat, [1]]
  - [-1, 1, C2f, [32]] # 9
  - [[-1, 3], 1, FADSF, [16]] # 10 the same with P3
  - [-1, 1, C2f, [16]] # 11 (P3/8)
  - [-1, 1, Conv, [16, 3, 2]]
  - [[-1, 9], 1, Concat, [1]]
  - [-1, 1, C2f, [32]] # 14 (P4/16)
  - [-1, 1, Conv, [32, 3, 2]]
  - [[-1, 7], 1, Concat, [1]]
  - [-1, 1, C2f, [32]] # 17 (P5/32)
  - [[11, 14, 17], 1, Detect, [nc]]
"""


def test_built_inside_a_yolo_model(tmp_path):
    path = tmp_path / "yolov8-fadsf-tiny.yaml"
    path.write_text(_YAML)
    model = DetectionModel(str(path), verbose=False)
    layers = model.model
    assert [type(layers[i]) for i in (3, 5, 8, 10)] == [FDSA, FDSA, FADSF, FADSF]
    assert (layers[8].c1, layers[8].cv.conv.out_channels) == ([32, 32], 32)  # [SPPF, FDSA(P4)] -> 32
    assert (layers[10].c1, layers[10].cv.conv.out_channels) == ([32, 16], 16)  # [C2f, FDSA(P3)] -> 16
    assert layers[8].f == [-1, 5] and layers[10].f == [-1, 3]
    assert not any(isinstance(m, torch.nn.Upsample) for m in model.modules())
    randomise(model).eval()
    x = torch.randn(1, 3, 96, 200)  # P3..P5 = 12 x 25, 6 x 13, 3 x 7: odd sides at every FADSF
    with torch.no_grad():
        y = model(x)[0]
        assert y.shape == (1, 4 + 3, 12 * 25 + 6 * 13 + 3 * 7)
        fused = model.fuse(verbose=False)(x)[0]  # folds the ConvTranspose's BN as well
    assert not hasattr(layers[8].up, "bn") and rel_err(fused, y) < 1e-4
