"""Layer-aligned weight transfer from YOLOv8 checkpoints (made here, no downloads) into every yolo-freq model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import randomise
from ultralytics.nn.tasks import DetectionModel

from yolo_freq import cli
from yolo_freq.engine.transfer import match_layers, summary, transfer_table
from yolo_freq.registry import MODELS_DIR

SAMPLE = Path(__file__).resolve().parent / "data" / "deeppcb-sample"
FAMILIES = sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))
YOLO11_BASED = {"s2-amnet"}  # SPPF + C2PSA + YOLO11's head: their source is a YOLO11 checkpoint


@pytest.fixture(scope="module")
def yolov8s():
    """A YOLOv8s with trained-looking weights and BatchNorm statistics, 6 DeepPCB classes."""
    torch.manual_seed(0)
    model = DetectionModel("yolov8s.yaml", nc=6, verbose=False)
    model.names = {i: n for i, n in enumerate(("open", "short", "mousebite", "spur", "copper", "pin-hole"))}
    return randomise(model).eval()


def loaded(source, cfg, nc=6):
    target = DetectionModel(cfg, nc=nc, verbose=False)
    target.load(source, verbose=False)
    return target.eval()


@pytest.mark.parametrize("family", FAMILIES)
def test_every_tensor_of_every_shared_layer_lands_in_that_layer(yolov8s, family):
    target = loaded(yolov8s, f"{family}-s.yaml")
    plan = match_layers(yolov8s, target)
    assert plan[-1].source == len(yolov8s.model) - 1 or family in YOLO11_BASED  # Detect, in every YOLOv8-based family
    for m in plan:
        if m.source is None or not yolov8s.model[m.source].state_dict():  # new, or nothing to load (Concat...)
            continue
        src = yolov8s.model[m.source]
        theirs = (
            {f"{p}.{k}": v for p in m.parts for k, v in getattr(src, p).state_dict().items()}
            if m.parts
            else src.state_dict()
        )
        mine = target.model[m.target].state_dict()
        assert theirs and all(torch.equal(mine[k], v) for k, v in theirs.items()), (family, m)


def test_coverage_from_yolov8s(yolov8s):
    """yolov8-fdsa takes all of YOLOv8s; the others every layer they share with it (the README's table)."""
    share = {}
    for family in FAMILIES:
        rows, totals = transfer_table(yolov8s, f"{family}-s.yaml")
        share[family] = totals["source_used"] / totals["source_values"]
        new = {r["type"] for r in rows if not r["source"]}
        partly = {r["type"] for r in rows if r["source"] and r["source"].split()[1] != r["type"]}
        assert not any(r["source"] and r["values"] == 0 and r["tensors"] != "0/0" for r in rows), family
        if family == "yolov8-fdsa":
            assert new == {"FDSA"} and not partly
        if family == "pcb-fs":
            assert new == {"DDConv", "GLAAttention"} and partly == {"C2fDSLKConv"}
        if family == "dynawave":  # the neck C2fs after FADSF keep all but their first conv (narrower input)
            assert new == {"DGAE", "FDSA", "FADSF"} and not partly
            assert [(r["type"], r["tensors"]) for r in rows if r["layer"] in (15, 17)] == [("C2f", "18/24")] * 2
    assert share["yolov8-fdsa"] == 1.0
    assert share["pcb-fs"] > 0.8 and share["sd-gasnet"] > 0.9 and share["yolo-freq"] > 0.9
    assert share["dynawave"] > 0.97


@pytest.fixture(scope="module")
def real_images():
    images = [cv2.imread(str(p))[..., ::-1] for p in sorted(SAMPLE.rglob("*_test.jpg"))[:3]]
    x = np.stack([cv2.resize(im, (320, 320)) for im in images]).transpose(0, 3, 1, 2) / 255.0
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _glas_yaml(tmp_path):
    """YOLOv8 with a GLA-Attention inserted before each detection input (insertion only)."""
    text = (MODELS_DIR.parent.parent / "cfg" / "models" / "pcb-fs.yaml").read_text()
    text = text.replace("C2fDSLKConv", "C2f").replace(
        "  - [-1, 1, DDConv, [1024]] # 10 dual-domain conv after SPPF\n", ""
    )
    text = text.replace("[[-1, 10], 1, Concat, [1]]", "[[-1, 9], 1, Concat, [1]]")
    for a, b in (("[16, 1, Conv", "[15, 1, Conv"), ("[[-1, 13], 1, Concat", "[[-1, 12], 1, Concat"),
                 ("[20, 1, Conv", "[19, 1, Conv"), ("[[17, 21, 25], 1, Detect", "[[16, 20, 24], 1, Detect")):  # fmt: skip
        text = text.replace(a, b)
    path = tmp_path / "yolov8-gla-s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("cfg", ["yolov8-fdsa-s.yaml", "gla"])
def test_insertion_only_models_compute_what_their_source_computes(yolov8s, real_images, tmp_path, cfg):
    cfg = _glas_yaml(tmp_path) if cfg == "gla" else cfg
    target = loaded(yolov8s, cfg)
    assert len(target.model) > len(yolov8s.model)  # something was inserted
    with torch.no_grad():
        want, got = yolov8s(real_images), target(real_images)
    want, got = (y[0] if isinstance(y, (list, tuple)) else y for y in (want, got))
    assert (got - want).abs().max() <= 1e-4


def test_a_tensor_never_lands_in_another_layer(yolov8s, tmp_path):
    """One layer inserted after layer 4: Ultralytics' key/shape rule put SPPF's BN statistics into a C2f there."""
    text = (MODELS_DIR / "yolov8-fdsa.yaml").read_text()
    text = text.replace('  - [-1, 1, FDSA, [1024, "haar"]] # 10 frequency-refined P5\n', "")
    text = text.replace(
        "  - [-1, 6, C2f, [256, True]] # 4\n", "  - [-1, 6, C2f, [256, True]] # 4\n  - [-1, 1, FDSA, [256]]\n"
    )
    path = tmp_path / "inserted-s.yaml"
    path.write_text(text)
    target = loaded(yolov8s, path)
    plan = match_layers(yolov8s, target)
    assert [m.target for m in plan if m.source is None] == [5]
    by_value = {}
    for i, layer in enumerate(yolov8s.model):
        for v in layer.state_dict().values():
            if v.is_floating_point() and v.numel() > 1:
                by_value.setdefault((tuple(v.shape), float(v.double().sum())), set()).add(i)
    for m in plan:
        for k, v in target.model[m.target].state_dict().items():
            owners = by_value.get((tuple(v.shape), float(v.double().sum())), set())
            assert not owners or m.source in owners, (m, k, owners)  # equal to a source tensor: only its own layer's


def test_class_count_changes_as_ultralytics_handles_them(yolov8s):
    target = loaded(yolov8s, "pcb-fs-s.yaml", nc=2)
    head, src = target.model[-1], yolov8s.model[-1]
    assert torch.equal(head.cv2[0][0].conv.weight, src.cv2[0][0].conv.weight)  # box branch whole
    assert torch.equal(head.cv3[0][0].conv.weight, src.cv3[0][0].conv.weight)  # class branch hidden layers
    assert head.cv3[0][-1].out_channels == 2  # class outputs new


def test_another_scale_is_reported_not_silently_loaded(yolov8s):
    plan = match_layers(yolov8s, DetectionModel("pcb-fs-n.yaml", nc=6, verbose=False))
    with_tensors = [m for m in plan if m.source is not None and yolov8s.model[m.source].state_dict()]
    assert with_tensors == []  # only tensor-free layers (Upsample, Concat) line up
    text = summary(plan, len(yolov8s.model))
    assert "new:" in text and "checkpoint layers unused" in text


def test_yolo_freq_transfer_prints_the_table(yolov8s, tmp_path, capsys):
    ckpt = tmp_path / "yolov8s.pt"
    torch.save({"model": yolov8s, "train_args": {}}, ckpt)
    assert cli.main(["transfer", str(ckpt), "yolov8-fdsa-s.yaml"]) == 0
    out = capsys.readouterr().out
    assert "| 10 | FDSA |" in out and "new: no source layer here (inserted)" in out
    assert "checkpoint values used: 100.0%" in out and "| 23 | Detect | 22 Detect |" in out


def test_stock_to_stock_loads_are_ultralytics_own(yolov8s):
    from ultralytics.nn.tasks import BaseModel

    target = DetectionModel("yolov8s.yaml", nc=6, verbose=False)
    BaseModel.load.__wrapped__(target, yolov8s, verbose=False)
    ultralytics_own = {k: v.clone() for k, v in target.state_dict().items()}
    assert all(torch.equal(v, ultralytics_own[k]) for k, v in loaded(yolov8s, "yolov8s.yaml").state_dict().items())


@pytest.mark.parametrize("scale", ["n", "m", "l", "x"])
def test_every_scale_takes_all_of_its_yolov8(scale):
    """The s scale is covered above; the same holds at every scale for the insertion-only model."""
    torch.manual_seed(0)
    source = DetectionModel(f"yolov8{scale}.yaml", nc=6, verbose=False)
    rows, totals = transfer_table(source, f"yolov8-fdsa-{scale}.yaml")
    assert totals["source_used"] == totals["source_values"]
    assert [r["type"] for r in rows if not r["source"]] == ["FDSA"]


def test_a_yolo_freq_checkpoint_into_a_stock_yaml(yolov8s):
    """pcb-fs-s's checkpoint into YOLOv8s: its YOLOv8 layers land where they belong; its own blocks are left over."""
    torch.manual_seed(1)
    source = randomise(DetectionModel("pcb-fs-s.yaml", nc=6, verbose=False)).eval()
    target = loaded(source, "yolov8s.yaml")
    plan = match_layers(source, target)
    assert all(m.source is not None for m in plan)  # every YOLOv8s layer has a counterpart, C2f in part (cv1, cv2)
    assert {type(source.model[i]).__name__ for i in set(range(len(source.model))) - {m.source for m in plan}} == {
        "DDConv",
        "GLAAttention",
    }
    for m in plan:
        src, mine = source.model[m.source], target.model[m.target].state_dict()
        theirs = (
            {f"{p}.{k}": v for p in m.parts for k, v in getattr(src, p).state_dict().items()}
            if m.parts
            else src.state_dict()
        )
        assert all(torch.equal(mine[k], v) for k, v in theirs.items()), m


def test_a_yolo11_checkpoint_into_s2_amnet():
    """S2-AMNet is YOLO11-based: from yolo11n.pt its n scale takes SPPF, C2PSA, the neck and Detect, each tensor into
    its own layer, except the first convolution of the neck block that reads P3 (64 channels in SSAMNet-T, 128 in
    YOLO11n); the SSAMNet backbone is new."""
    torch.manual_seed(2)
    source = randomise(DetectionModel("yolo11n.yaml", nc=6, verbose=False)).eval()
    target = loaded(source, "s2-amnet-n.yaml")
    plan = {m.target: m for m in match_layers(source, target)}
    assert [i for i, m in plan.items() if m.source is not None] == list(range(16, len(target.model)))
    for i in range(16, len(target.model)):
        m = plan[i]
        src = source.model[m.source]
        theirs = (
            {f"{p}.{k}": v for p in m.parts for k, v in getattr(src, p).state_dict().items()}
            if m.parts
            else src.state_dict()
        )
        assert m.source == i - 7 and all(torch.equal(target.model[i].state_dict()[k], v) for k, v in theirs.items())
    assert [i for i, m in plan.items() if m.parts] == [23] and plan[23].parts == ("cv2", "m")
    rows, totals = transfer_table(source, "s2-amnet-n.yaml")
    assert {r["type"] for r in rows if not r["source"]} == {"SSAMStem", "MPBlock", "HaarDown", "SSAMBlock"}
