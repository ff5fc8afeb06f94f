"""Every bundled model family (the models folder): every scale, every input size, bf16, fusion, ONNX parity, safe-load
reload; and the SD-GASNet, YOLOv8 + FDSA and flagship layouts."""

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import randomise
from ultralytics.nn.modules import SPPF
from ultralytics.nn.tasks import DetectionModel

from yolo_freq import nn as blocks
from yolo_freq.nn import (
    CS,
    DGAE,
    FADSF,
    FDSA,
    FGPEM,
    MFA,
    BottleRep,
    DeformConv,
    DWT2d,
    HaarDown,
    IDWT2d,
    Inject,
    LayerNorm2d,
)
from yolo_freq.patch.export import ExportFormatError, check_export_format
from yolo_freq.registry import MODELS_DIR, ModelYAMLError

MODELS = sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))  # every bundled family: a new YAML cannot skip these
RESAMPLING = {"sd-gasnet", "yolo-freq"}  # MFA and Inject resample each axis separately


def anchors(h, w):
    return sum(-(-h // s) * -(-w // s) for s in (8, 16, 32))


def trained_looking(model):
    """Randomised BN statistics and retention factors, class biases zeroed (scores near 0.5, not 1e-4)."""
    randomise(model)
    for seq in model.model[-1].cv3:
        seq[-1].bias.data.zero_()
    return model


@pytest.fixture(scope="module")
def models_n():
    torch.manual_seed(0)
    return {name: trained_looking(DetectionModel(f"{name}-n.yaml", verbose=False)).eval() for name in MODELS}


def test_blocks_are_registered_with_the_right_channel_rules():
    from ultralytics.nn import tasks

    new = (MFA, FGPEM, Inject, CS, FDSA, HaarDown, FADSF)
    parts = (
        BottleRep,
        DWT2d,
        IDWT2d,
        LayerNorm2d,
        DeformConv,
    )  # parts of blocks, with (c, ...) signatures: not YAML names
    assert all(getattr(tasks, cls.__name__) is cls for cls in new)
    assert not any(hasattr(tasks, cls.__name__) for cls in parts)
    assert {FGPEM, CS, FDSA, HaarDown} <= set(blocks.BASE_BLOCKS) and {MFA, Inject, FADSF} == set(
        blocks.MULTI_INPUT_BLOCKS
    )
    assert {*new, *parts} <= set(torch.serialization.get_safe_globals())  # parts too: checkpoints pickle them


def test_sd_gasnet_layout(models_n):
    """AES-FPN per modules.md: MFA over P2..P5, FGPEM low / high, low into P3, high into P4, CS on P5, Detect."""
    layers = models_n["sd-gasnet"].model
    mfa = next(m for m in layers if isinstance(m, MFA))
    assert mfa.f == [2, 4, 6, 9] and mfa.ref == 2
    fgpem = [m for m in layers if isinstance(m, FGPEM)]
    assert [(m.band, m.f) for m in fgpem] == [("low", mfa.i), ("high", mfa.i)]
    inject = [m for m in layers if isinstance(m, Inject)]
    assert [m.f for m in inject] == [[4, fgpem[0].i], [6, fgpem[1].i]]
    cs = next(m for m in layers if isinstance(m, CS))
    assert layers[-1].f == [inject[0].i + 1, cs.i - 4, cs.i]


def test_yolov8_fdsa_layout(models_n):
    """One FDSA, on the SPPF output (the placement study's result, docs/benchmarks.md); the neck reads it as P5."""
    layers = models_n["yolov8-fdsa"].model
    assert [(m.i, m.f, m.c1) for m in layers if isinstance(m, FDSA)] == [(10, -1, 256)]
    assert isinstance(layers[9], SPPF) and layers[-1].f == [16, 19, 22]


def test_flagship_layout(models_n):
    """yolo-freq: FDSA on backbone P3, P4, P5; AES-FPN over P2 and the refined levels; Detect as in SD-GASNet."""
    layers = models_n["yolo-freq"].model
    fdsa = [m for m in layers if isinstance(m, FDSA)]
    assert [m.f for m in fdsa] == [4, 6, 9]
    mfa = next(m for m in layers if isinstance(m, MFA))
    assert mfa.f == [2, *(m.i for m in fdsa)]
    inject = [m for m in layers if isinstance(m, Inject)]
    fgpem = [m for m in layers if isinstance(m, FGPEM)]
    assert [m.f for m in inject] == [[fdsa[0].i, fgpem[0].i], [fdsa[1].i, fgpem[1].i]]
    assert not any(type(m).__name__ in ("C2fDSLKConv", "DDConv", "GLAAttention") for m in layers)


def test_dynawave_layout(models_n):
    """DynaWave-Net: DGAE on P5 before SPPF; FDSA on P5 (after SPPF), P4 and P3; FADSF for both top-down steps,
    each decoding onto an FDSA lateral at that lateral's width (what kd_freq compares); Detect as in YOLOv8."""
    layers = models_n["dynawave"].model
    assert [m.i for m in layers if isinstance(m, DGAE)] == [9] and isinstance(layers[10], SPPF)
    fdsa = [m for m in layers if isinstance(m, FDSA)]
    assert [m.f for m in fdsa] == [-1, 6, 4] and fdsa[0].i == 11
    fadsf = [m for m in layers if isinstance(m, FADSF)]
    assert [m.f for m in fadsf] == [[11, 12], [-1, 13]] and [m.i for m in fadsf] == [14, 16]
    assert all(m.cv.conv.out_channels == m.c1[1] for m in fadsf)
    assert not any(isinstance(m, torch.nn.Upsample) for m in layers) and layers[-1].f == [17, 20, 23]


@pytest.mark.parametrize(
    "scale, widths",
    [("n", (32, 64, 128, 256)), ("s", (48, 96, 192, 384)), ("m", (64, 128, 256, 512)), ("l", (96, 192, 384, 768))],
)
def test_s2_amnet_scales_are_the_authors_backbones(scale, widths):
    """n, s, m, l = SSAMNet-T, S, B, L: stem to P2, 2 MPBlocks, then grouped Haar downsampling opening stages of
    4 MPBlocks (P3), 4 SSAM blocks (P4), 2 SSAM blocks (P5), whatever the depth multiplier; the YOLO11 head reads
    P3, P4 and the C2PSA output."""
    layers = DetectionModel(f"s2-amnet-{scale}.yaml", verbose=False).model
    stages = ["SSAMStem", *["MPBlock"] * 2, "HaarDown", *["MPBlock"] * 4, "HaarDown", *["SSAMBlock"] * 4]
    stages += ["HaarDown", *["SSAMBlock"] * 2, "SPPF", "C2PSA"]
    assert [type(m).__name__ for m in layers[:18]] == stages
    assert [layers[i].c1 for i in (1, 4, 9, 14)] == list(widths)
    assert all(m.form == "grouped" for m in layers if isinstance(m, HaarDown))
    assert layers[-1].f == [23, 26, 29] and [layers[i].f for i in (19, 22)] == [[-1, 12], [-1, 7]]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("scale", ["n", "s", "m", "l", "x"])
def test_every_scale_builds_and_runs(name, scale):
    model = DetectionModel(f"{name}-{scale}.yaml", verbose=False).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, 64, 64))[0]
    assert y.shape == (1, 84, anchors(64, 64)) and torch.isfinite(y).all()
    if scale == "s":
        bare = DetectionModel(f"{name}.yaml", verbose=False)  # bare name builds the paper's s scale
        assert sum(p.numel() for p in bare.parameters()) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("imgsz", [64, 96, 320])
def test_forward_at_small_and_medium_sizes(models_n, name, imgsz):
    with torch.no_grad():
        y = models_n[name](torch.rand(1, 3, imgsz, imgsz))[0]
    assert y.shape == (1, 84, anchors(imgsz, imgsz)) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", MODELS)
def test_every_side_multiple_of_32_from_64_to_1280(models_n, name):
    """Every imgsz 64..1280 (step 32) as the height, and with MFA also as the width (P5 2..40, odd included).

    FDSA treats both axes alike; MFA and Inject resample each axis separately, so models with them get both sweeps.
    """
    model = models_n[name]
    with torch.no_grad():
        for side in range(64, 1281, 32):
            for h, w in ((side, 64), (64, side)) if name in RESAMPLING else ((side, 64),):
                y = model(torch.rand(1, 3, h, w))[0]
                assert y.shape == (1, 84, anchors(h, w)) and torch.isfinite(y).all(), (h, w)


@pytest.mark.parametrize("name", MODELS)
def test_training_step_and_bf16_autocast(models_n, name):
    model = copy.deepcopy(models_n[name]).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(2, 3, 96, 128))
    loss = sum(o.float().square().mean() for o in (out["boxes"], out["scores"]) if torch.is_tensor(o))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]  # DFL conv is fixed
    assert not missing, f"no gradient for {missing[:5]}"
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(torch.rand(1, 3, 96, 96))[0]
    assert torch.isfinite(y.float()).all()


@pytest.mark.parametrize("name", MODELS)
def test_fused_model_equals_unfused(models_n, name):
    model = copy.deepcopy(models_n[name])
    x = torch.rand(1, 3, 320, 256)
    with torch.no_grad():
        ref = model(x)[0]
        before = sum(1 for _ in model.modules())
        model.fuse(verbose=False)
        out = model(x)[0]
    assert sum(1 for _ in model.modules()) < before
    assert model.is_fused()
    rel = ((out - ref).abs().max() / ref.abs().max()).item()
    assert rel <= 1e-4, f"fused differs from unfused by {rel:.2e} relative"
    assert (out[:, 4:] - ref[:, 4:]).abs().max() <= 1e-4  # scores, not only the large box coordinates


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_matches_pytorch(models_n, tmp_path, monkeypatch, name, dynamic):
    """Stock Ultralytics export (it fuses first), then onnxruntime vs the fused PyTorch model on the same input.

    With dynamic axes the graph must follow the input size: FGPEM rebuilds its bases, FDSA pads odd sizes by the
    traced parity, MFA / Inject interpolate to the traced size.
    """
    ort = pytest.importorskip("onnxruntime")
    from ultralytics import YOLO

    monkeypatch.chdir(tmp_path)
    yolo = YOLO(f"{name}-n.yaml")
    yolo.model.load_state_dict(models_n[name].state_dict())
    path = yolo.export(format="onnx", imgsz=320, dynamic=dynamic, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = copy.deepcopy(models_n[name]).fuse(verbose=False)
    for h, w in [(320, 320), (352, 224)] if dynamic else [(320, 320)]:  # 352: P5 = 11, odd, unlike at 320
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        onnx_out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            torch_out = model(x)[0].numpy()
        assert onnx_out.shape == torch_out.shape == (1, 84, anchors(h, w))
        box_err = np.abs(onnx_out[:, :4] - torch_out[:, :4]).max()
        score_err = np.abs(onnx_out[:, 4:] - torch_out[:, 4:]).max()
        assert torch_out[:, 4:].max() > 0.1  # scores are not all ~0, so the comparison means something
        assert box_err <= 1e-2, f"boxes differ by {box_err} px at {h}x{w}"
        assert score_err <= 1e-4, f"scores differ by {score_err} at {h}x{w}"


def _run_torchscript(path, x: torch.Tensor) -> torch.Tensor:
    y = torch.jit.load(str(path))(x)
    return y[0] if isinstance(y, (list, tuple)) else y


def _run_openvino(path, x: torch.Tensor) -> torch.Tensor:
    import openvino as ov

    core = ov.Core()  # f32 asked for: on CPUs with AMX, OpenVINO's default inference precision is bf16
    compiled = core.compile_model(
        core.read_model(next(Path(path).glob("*.xml"))), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    return torch.from_numpy(compiled(x.numpy())[0])


RUNTIMES = {"torchscript": _run_torchscript, "openvino": _run_openvino}


@pytest.mark.parametrize("fmt", RUNTIMES)
@pytest.mark.parametrize("name", MODELS)
def test_export_matches_pytorch(models_n, tmp_path, monkeypatch, name, fmt):
    """Stock Ultralytics TorchScript and OpenVINO exports (traced, so AFMM, ADSCDC and DAC take their export forms),
    run by their own runtimes, against the fused PyTorch model."""
    from ultralytics import YOLO

    monkeypatch.chdir(tmp_path)
    yolo = YOLO(f"{name}-n.yaml")
    yolo.model.load_state_dict(models_n[name].state_dict())
    x = torch.rand(1, 3, 320, 320, generator=torch.Generator().manual_seed(0))
    out = RUNTIMES[fmt](yolo.export(format=fmt, imgsz=320, verbose=False), x)
    model = copy.deepcopy(models_n[name]).fuse(verbose=False)
    with torch.no_grad():
        torch_out = model(x)[0]
    assert out.shape == torch_out.shape == (1, 84, anchors(320, 320)) and torch_out[:, 4:].max() > 0.1
    assert (out[:, :4] - torch_out[:, :4]).abs().max() <= 1e-2
    assert (out[:, 4:] - torch_out[:, 4:]).abs().max() <= 1e-4


def test_export_to_an_unverified_format_stops_before_it_runs_naming_the_blocks(tmp_path, monkeypatch):
    from ultralytics import YOLO

    monkeypatch.chdir(tmp_path)
    yolo, stock = YOLO("dynawave-n.yaml"), DetectionModel("yolov8n.yaml", verbose=False)
    for fmt in ("coreml", "ENGINE", "litert"):
        message = rf"format={fmt.lower()} is not verified for this model's yolo-freq blocks \(DGAE, FADSF, FDSA\)"
        with pytest.raises(ExportFormatError, match=message):
            yolo.export(format=fmt)
        check_export_format(stock, fmt)  # stock models: Ultralytics' own checks
    assert not any(tmp_path.iterdir())  # nothing written
    for verified in ("onnx", "TorchScript", "openvino"):
        check_export_format(yolo.model, verified)


def test_checkpoint_reloads_in_fresh_process_under_safe_load(models_n, tmp_path, offline_env):
    """Checkpoints hold the blocks by import path; ULTRALYTICS_SAFE_LOAD=1 must accept all of them."""
    from ultralytics import YOLO

    x = torch.rand(1, 3, 96, 64, generator=torch.Generator().manual_seed(1))
    np.save(tmp_path / "x.npy", x.numpy())
    refs = {}
    for name in MODELS:
        yolo = YOLO(f"{name}-n.yaml")
        yolo.model.load_state_dict(models_n[name].state_dict())
        yolo.save(tmp_path / f"{name}.pt")  # saved in fp16, like Ultralytics' own checkpoints
        with torch.no_grad():
            refs[name] = copy.deepcopy(models_n[name]).half().float()(x)[0].numpy()
    code = (
        "import sys, numpy as np, torch\n"
        "from ultralytics import YOLO\n"
        "x = torch.from_numpy(np.load('x.npy'))\n"
        "for name in sys.argv[1:]:\n"
        "    model = YOLO(name + '.pt').model.float().eval()\n"
        "    with torch.no_grad():\n"
        "        np.save(name + '.out.npy', model(x)[0].numpy())\n"
    )
    env = {**offline_env, "ULTRALYTICS_SAFE_LOAD": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, *MODELS],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in MODELS:
        out = np.load(tmp_path / f"{name}.out.npy")
        assert np.abs(out - refs[name]).max() <= 1e-4 * np.abs(refs[name]).max(), name


def _yaml(name: str) -> dict:
    d = yaml.safe_load((MODELS_DIR / f"{name}.yaml").read_text())
    d["scale"], d["yaml_file"] = "n", f"{name}-n.yaml"
    return d


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["head"][0][3].__setitem__(1, "dmey"), r"layer 10 .*FDSA: wavelet 'dmey' has FIR filters"),
        (lambda d: d["head"][0][3].__setitem__(1, "sym1"), r"layer 10 .*FDSA: wavelet 'sym1' is not a PyWavelets"),
        (lambda d: d["head"][0][3].__setitem__(1, "db2"), None),  # another orthogonal wavelet by name works
    ],
)
def test_fdsa_wavelet_from_yaml(edit, match):
    d = _yaml("yolov8-fdsa")
    edit(d)
    if match is None:
        model = DetectionModel(d, verbose=False)
        assert model.model[10].dwt.wavelet == "db2"
        return
    with pytest.raises(ModelYAMLError, match=match):
        DetectionModel(d, verbose=False)


@pytest.mark.parametrize(
    "row, value, match",
    [
        (0, [[9], 1, "MFA", [256]], r"layer 10 .*MFA: takes 2 or more inputs"),
        (1, [10, 1, "FGPEM", [256, "mid"]], r"layer 11 .*FGPEM: argument 'band' must be one of"),
        (3, [[4, 11, 12], 1, "Inject", [256]], r"layer 13 .*Inject: takes 2 inputs"),
        (0, [[2, 4, 6, 9], 6, "MFA", [256]], r"layer 10 .*MFA takes several inputs and cannot be repeated"),
        (3, [[4, 11], 6, "Inject", [256]], r"layer 13 .*Inject takes several inputs and cannot be repeated"),
    ],
)
def test_sd_gasnet_yaml_errors_name_the_row(row, value, match):
    d = _yaml("sd-gasnet")
    d["head"][row] = value
    with pytest.raises(ModelYAMLError, match=match):
        DetectionModel(d, verbose=False)


def test_haar_down_is_a_drop_in_for_strided_convs():
    import ultralytics

    d = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / "yolov8.yaml").read_text())
    replaced = 0
    for row in d["backbone"]:
        if row[2] == "Conv" and row[3][1:] == [3, 2] and row[0] == -1 and replaced < 4 and row is not d["backbone"][0]:
            row[2], row[3] = "HaarDown", row[3][:1]
            replaced += 1
    d["scale"] = "n"
    model = DetectionModel(d, verbose=False).eval()
    assert sum(isinstance(m, HaarDown) for m in model.modules()) == replaced == 4
    with torch.no_grad():
        for h, w in [(64, 64), (96, 160), (224, 128)]:  # odd feature sizes (P5 of 96 = 3, of 224 = 7) included
            assert model(torch.rand(1, 3, h, w))[0].shape == (1, 84, anchors(h, w))


@pytest.mark.parametrize(
    "variant, fdsa_at, detect_from", [("backbone", [10, 11, 12], [18, 21, 24]), ("head", [16, 20, 24], [16, 20, 24])]
)
def test_fdsa_placement_variants_of_the_study(variant, fdsa_at, detect_from):
    """The FDSA placements docs/benchmarks.md compares (examples/fdsa_placement/) build, run and sit where stated."""
    path = Path(__file__).resolve().parents[1] / "examples" / "fdsa_placement" / f"yolov8-fdsa-{variant}-n.yaml"
    model = DetectionModel(str(path), verbose=False).eval()
    assert [m.i for m in model.model if isinstance(m, FDSA)] == fdsa_at
    assert model.model[-1].f == detect_from
    with torch.no_grad():
        assert model(torch.rand(1, 3, 96, 160))[0].shape == (1, 84, anchors(96, 160))
