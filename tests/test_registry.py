"""Registration with Ultralytics: bare names, scales, channel inference, errors, version guard, autoload."""

import logging
import subprocess
import sys

import pytest
import torch
from helpers import assert_fused
from ultralytics import YOLO
from ultralytics.nn import tasks
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils import LOGGER

import yolo_freq
from yolo_freq import registry
from yolo_freq.nn import C2fDSLKConv, DDConv, DSLKConv, GLAAttention

SCALES = "nslmx"


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def ul_log():
    handler = _Capture()
    LOGGER.addHandler(handler)
    yield handler.messages
    LOGGER.removeHandler(handler)


def test_blocks_are_names_in_ultralytics_parser():
    for cls in (DDConv, DSLKConv, GLAAttention, C2fDSLKConv):
        assert getattr(tasks, cls.__name__) is cls
    assert not hasattr(tasks, "FrFTConv")  # a part of DDConv with a (c, ...) signature, not a YAML name


def test_bare_name_is_the_paper_s_scale_without_warning(ul_log, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing named pcb-fs.yaml here: the bundled file must be found
    model = YOLO("pcb-fs.yaml")
    assert model.model.yaml["scale"] == "s"
    assert not [m for m in ul_log if "scale" in m.lower()], ul_log


@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_builds_with_yolov8_widths(scale, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ours = DetectionModel(f"pcb-fs-{scale}.yaml", verbose=False)
    base = DetectionModel(f"yolov8{scale}.yaml", verbose=False)
    assert ours.yaml["scale"] == scale
    # C2f-DSLKConv takes C2f's place in the backbone: same output widths and repeat counts per stage.
    for i in (2, 4, 6, 8):
        m, ref = ours.model[i], base.model[i]
        assert isinstance(m, C2fDSLKConv)
        assert m.cv2.conv.out_channels == ref.cv2.conv.out_channels
        assert len(m.m) == len(ref.m)
    ddconv = ours.model[10]
    assert isinstance(ddconv, DDConv) and ddconv.add  # c1 == c2 after width scaling: residual as in the paper
    for i, j in ((17, 15), (21, 18), (25, 21)):  # GLA-Attention before each detection input keeps its width
        assert isinstance(ours.model[i], GLAAttention)
        assert ours.model[i].c1 == base.model[j].cv2.conv.out_channels
    assert torch.equal(ours.stride, base.stride)


@pytest.mark.parametrize("imgsz", [64, 96, 160, 224, 320, 640, 1280])
def test_model_any_multiple_of_32(imgsz):
    model = DetectionModel("pcb-fs-n.yaml", nc=6, verbose=False).eval()
    with torch.no_grad():
        y = model(torch.zeros(1, 3, imgsz, imgsz))
    y = y[0] if isinstance(y, (list, tuple)) else y
    anchors = sum((imgsz // s) ** 2 for s in (8, 16, 32))
    assert y.shape == (1, 4 + 6, anchors)


def test_fuse_reparameterises_blocks_and_keeps_outputs():
    model = DetectionModel("pcb-fs-n.yaml", nc=6, verbose=False).eval()
    x = torch.rand(1, 3, 128, 96)
    with torch.no_grad():
        ref = model(x)[0]
        n_before = len(list(model.modules()))
        model.fuse(verbose=False)
        out = model(x)[0]
    assert len(list(model.modules())) < n_before
    assert any(isinstance(m, DDConv) for m in model.modules()) and any(isinstance(m, DSLKConv) for m in model.modules())
    assert_fused(model)  # the patched BaseModel.fuse reached our blocks
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-3)


def test_ultralytics_own_names_still_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert YOLO("yolov8n.yaml").model.yaml["scale"] == "n"
    with pytest.raises(FileNotFoundError):
        YOLO("pcb-fs-q.yaml")


def test_user_yaml_in_cwd_takes_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (registry.MODELS_DIR / "pcb-fs.yaml").read_text().replace("default_scale: s", "default_scale: n")
    (tmp_path / "pcb-fs.yaml").write_text(text)
    assert YOLO("pcb-fs.yaml").model.yaml["scale"] == "n"
    assert YOLO("pcb-fs-m.yaml").model.yaml["scale"] == "m"  # scale suffix applies to the user's file too


@pytest.mark.parametrize("name", ["pcb-fs-n.yaml", "mynet-n.yaml"])
def test_a_file_saved_under_a_scale_name_builds_that_scale(name, tmp_path, monkeypatch):
    """A copy of pcb-fs.yaml saved as `<name>-n.yaml` is the n scale, not its default_scale s."""
    monkeypatch.chdir(tmp_path)
    n_scale = DetectionModel("pcb-fs-n.yaml", verbose=False)  # the bundled file, before the copy exists
    (tmp_path / name).write_text((registry.MODELS_DIR / "pcb-fs.yaml").read_text())
    model = DetectionModel(name, verbose=False)
    assert model.yaml["scale"] == "n"
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in n_scale.parameters())


def _yaml_with_row(tmp_path, old, new):
    text = (registry.MODELS_DIR / "pcb-fs.yaml").read_text()
    assert old in text
    f = tmp_path / "broken.yaml"
    f.write_text(text.replace(old, new))
    return str(f)


@pytest.mark.parametrize(
    "old, new, match",
    [
        ("DDConv, [1024]]", "DDConvv, [1024]]", r"unknown module 'DDConvv' in layer 10"),
        ("GLAAttention, [256]]", "GLAAttention, [256, 0]]", r"layer 17 .*'heads' must be an integer >= 1, got 0"),
        ("GLAAttention, [512]]", "GLAAttention, [512, 4, 16, 99]]", r"layer 21 .*takes from 3 to 5 positional"),
        ("C2fDSLKConv, [128, True]]", "C2fDSLKConv, [128, True, 0.5, 4]]", r"layer 2 .*'k' must be an odd integer"),
    ],
)
def test_malformed_yaml_row_names_the_layer(tmp_path, old, new, match):
    with pytest.raises(registry.ModelYAMLError, match=match):
        DetectionModel(_yaml_with_row(tmp_path, old, new), verbose=False)


def test_dslkconv_row_gets_channel_inference(tmp_path):
    """A DSLKConv row takes (c2, ...) like Conv: c1 from the input, c2 width-scaled (pcb-fs, scale s: 1024 -> 512)."""
    model = DetectionModel(_yaml_with_row(tmp_path, "DDConv, [1024]]", "DSLKConv, [1024]]"), verbose=False)
    block = model.model[10]
    assert isinstance(block, DSLKConv) and block.c1 == 512 and block.pw.conv.out_channels == 512
    assert model.eval()(torch.zeros(1, 3, 64, 64))[0].shape[1] == 4 + model.model[-1].nc


@pytest.mark.parametrize(
    "old, new, match",
    [
        ("DDConv, [1024]]", "DWT2d, []]", r"unknown module 'DWT2d' in layer 10"),  # a part of FDSA, not a layer
        ("DDConv, [1024]]", "5, [1024]]", r"cannot build layer 10 .*'int' object has no attribute"),
        ("head:", "neck:", r"no 'head' list of layer rows"),
    ],
)
def test_yaml_that_is_not_buildable_says_why(tmp_path, old, new, match):
    with pytest.raises(registry.ModelYAMLError, match=match):
        DetectionModel(_yaml_with_row(tmp_path, old, new), verbose=False)


def test_multi_input_block_with_one_input_names_the_layer(tmp_path):
    text = (registry.MODELS_DIR / "sd-gasnet.yaml").read_text()
    row = next(line for line in text.splitlines() if ", MFA," in line)
    broken = row.replace(row[row.index("[[") : row.index("]") + 1], "[9")  # 'from' list -> single index
    (tmp_path / "broken.yaml").write_text(text.replace(row, broken))
    with pytest.raises(registry.ModelYAMLError, match=r"MFA: takes .* 'from' must be a list"):
        DetectionModel(str(tmp_path / "broken.yaml"), verbose=False)


def test_string_argument_that_is_not_a_literal_names_the_layer(tmp_path):
    text = (registry.MODELS_DIR / "yolov8-fdsa.yaml").read_text()
    row = next(line for line in text.splitlines() if "FDSA," in line)
    args = row[row.index("FDSA, [") + len("FDSA, [") : row.index("]", row.index("FDSA, ["))]
    (tmp_path / "broken.yaml").write_text(text.replace(row, row.replace(args, args.split(",")[0] + ", bior2.2")))
    with pytest.raises(registry.ModelYAMLError, match=r"cannot build layer \d+"):
        DetectionModel(str(tmp_path / "broken.yaml"), verbose=False)


def test_version_guard_names_the_supported_range():
    registry.check_ultralytics_version("8.4.190")
    for bad in ("8.3.200", "8.5.0", "9.0.1"):
        with pytest.raises(ImportError, match=r"ultralytics>=8\.4\.112,<8\.5"):
            registry.check_ultralytics_version(bad)


def test_parse_model_transform_fails_loudly_when_ultralytics_changes(tmp_path, monkeypatch):
    """A release whose parse_model lacks the channel-inference sets must fail at import, not mis-build models."""
    (tmp_path / "fake_tasks.py").write_text("def parse_model(d, ch, verbose=True):\n    modules = frozenset({1})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fake_tasks

    from yolo_freq.patch.parse_model import extended_parse_model

    with pytest.raises(ImportError, match=r"base_modules.*use ultralytics>=8\.4\.112,<8\.5"):
        extended_parse_model(fake_tasks)


def test_blocks_are_safe_load_allow_listed():
    safe = set(torch.serialization.get_safe_globals())
    assert {DDConv, GLAAttention, C2fDSLKConv} <= safe


def test_register_is_idempotent():
    parse_model = tasks.parse_model
    yolo_freq.register()
    assert tasks.parse_model is parse_model


@pytest.mark.parametrize("flag, expected", [("1", "True"), ("0", "False")])
def test_autoload_hook_and_opt_out(offline_env, flag, expected):
    code = "import ultralytics.nn.tasks as t, sys; print(hasattr(t, 'DDConv'), 'yolo_freq' in sys.modules)"
    env = {**offline_env, "YOLO_FREQ_AUTOLOAD": flag}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [expected, expected]


def test_startup_hook_does_not_import_torch(offline_env):
    code = "import sys; print('torch' in sys.modules, 'yolo_freq_autoload' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=offline_env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(
    "name", ["rtdetr-l.yaml", "yolov8n.yaml", "yolo11s.yaml", "yolov8-cls.yaml", "yolov8n-p2.yaml"]
)
def test_stock_yamls_load_as_without_yolo_freq(name):
    """The <name>-<scale>.yaml rule and default_scale are for yolo-freq's and users' YAMLs, not Ultralytics' own."""
    from ultralytics.nn import tasks

    assert tasks.yaml_model_load(name) == tasks.yaml_model_load.__wrapped__(name)
