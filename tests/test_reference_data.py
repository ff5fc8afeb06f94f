"""Golden-template inspection in datasets: `yolo-freq convert --reference`, its report, `deeppcb-ref.yaml`, and what
Ultralytics' trainer does with composites (augmentations that mix channels off, the spec recorded in the model)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from helpers import _zip, issue_counts, make_image, tree_state, ultralytics_reads, voc_xml

from yolo_freq import cli
from yolo_freq.data import ConversionError, ProblemsFound, convert, prepare
from yolo_freq.reference import CompositeSpec, Golden, ReferenceError, compose, read_image, write_composite
from yolo_freq.reference.patches import CHANNEL_MIXING, keep_channels_apart, reference_spec
from yolo_freq.registry import find_bundled

SAMPLE = Path(__file__).resolve().parent / "data" / "deeppcb-sample"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The real DeepPCB sample converted with its paired templates (grey3, aligned), through the CLI."""
    out = tmp_path_factory.mktemp("ref") / "grey3"
    before = tree_state(SAMPLE)
    code = cli.main(["convert", str(SAMPLE), "--out", str(out), "--reference", "paired"])
    assert code == 0 and tree_state(SAMPLE) == before
    return out


def test_paired_deeppcb_writes_composites_that_ultralytics_reads(converted):
    data = yaml.safe_load((converted / "data.yaml").read_text())
    assert data["channels"] == 3 and data["reference"] == CompositeSpec().to_dict()
    assert sorted(p.name for p in (converted / "images" / "train").iterdir()) == [
        "00041187.png",
        "13000000.png",
        "13000010.png",
        "13000038.png",
    ]
    assert ultralytics_reads(converted / "data.yaml") == {"train": (4, 30), "val": (2, 12)}


def test_conversion_composes_bitwise_as_prediction_does(converted):
    """The training image is exactly what compose() makes from the two files, as the predictor calls it."""
    for png in (converted / "images").rglob("*.png"):
        test = next(SAMPLE.rglob(f"{png.stem}_test.jpg"))
        expected, _ = compose(read_image(test, 3), Golden.read(test.with_name(f"{png.stem}_temp.jpg")), CompositeSpec())
        assert np.array_equal(cv2.imread(str(png), cv2.IMREAD_UNCHANGED), expected), png.name


def test_report_lists_every_alignment_and_the_weak_one(converted):
    report = json.loads((converted / "report.json").read_text())
    alignments = {Path(a["image"]).stem: a for a in report["alignments"]}
    assert len(alignments) == 6 and all(set(a) == {"image", "reference", "dx", "dy", "response", "applied"}
                                        for a in alignments.values())  # fmt: skip
    assert not alignments["13000038_test"]["applied"] and alignments["13000038_test"]["response"] < 0.2
    assert all(a["applied"] for k, a in alignments.items() if k != "13000038_test")
    assert issue_counts(converted) == {"alignment_weak": 1}
    text = (converted / "report.txt").read_text()
    assert "5 of 6 shifts applied" in text and "13000038_test.jpg: shift" in text and "not applied" in text
    # the weak pair is composed with the template as shipped
    weak = cv2.imread(str(converted / "images" / "train" / "13000038.png"), cv2.IMREAD_UNCHANGED)
    shipped = cv2.imread(str(next(SAMPLE.rglob("13000038_temp.jpg"))), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(weak[..., 1], shipped)


def test_strict_fails_on_a_weak_alignment(tmp_path):
    with pytest.raises(ProblemsFound, match="1 problems"):
        convert(SAMPLE, tmp_path / "out", reference="paired", strict=True)
    assert not (tmp_path / "out" / "images").exists() and (tmp_path / "out" / "report.txt").is_file()
    # a lower threshold accepts it (and applies its implausible shift? no: beyond the limit it is never applied)
    report = convert(SAMPLE, tmp_path / "low", reference="paired", spec=CompositeSpec(min_response=0.0), strict=True)
    assert report.problems == 0


def test_colour6_and_unaligned_forms(tmp_path):
    out = tmp_path / "c6"
    assert cli.main(["convert", str(SAMPLE), "--out", str(out), "--reference", "paired", "--composite", "colour6"]) == 0
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["channels"] == 6 and data["reference"]["form"] == "colour6"
    tif = out / "images" / "val" / "77000001.tif"
    assert read_image(tif, 6).shape == (640, 640, 6)
    assert ultralytics_reads(out / "data.yaml") == {"train": (4, 30), "val": (2, 12)}

    raw = tmp_path / "raw"
    assert cli.main(["convert", str(SAMPLE), "--out", str(raw), "--reference", "paired", "--no-align"]) == 0
    report = json.loads((raw / "report.json").read_text())
    assert report["alignments"] == [] and "without alignment" in " ".join(report["notes"])
    composite = cv2.imread(str(raw / "images" / "val" / "77000001.png"), cv2.IMREAD_UNCHANGED)
    shipped = cv2.imread(str(next(SAMPLE.rglob("77000001_temp.jpg"))), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(composite[..., 1], shipped)


# ------------------------------------------------------------------------- references for VOC, COCO, plain folders


@pytest.fixture
def boards(tmp_path):
    """A VOC folder of four 96x128 boards and a folder of golden images for them, one missing, one of another size,
    one unreadable."""
    src, golden = tmp_path / "boards", tmp_path / "golden"
    for k in range(4):
        make_image(src / f"b{k}.jpg", seed=k)
        voc_xml(src / f"b{k}.xml", f"b{k}.jpg", (128, 96), [("scratch", 10, 10, 40, 40)])
    make_image(golden / "b0.png", seed=0)  # matched by stem
    make_image(golden / "b1.jpg", w=64, seed=1)  # another size
    (golden / "b2.jpg").write_bytes(b"not an image")  # unreadable
    return src, golden


def test_a_folder_of_references_and_every_fault_reported(boards, tmp_path):
    src, golden = boards
    out = tmp_path / "out"
    report = convert(src, out, reference=golden, val=0)
    assert issue_counts(out) == {"reference_size": 1, "reference_unreadable": 1, "reference_missing": 1}
    assert report.images == {"train": 1, "val": 0} and (out / "images" / "train" / "b0.png").is_file()
    lines = (out / "report.txt").read_text()
    assert "b3.jpg: no image named b3.* in" in lines and "is 64x96" in lines and "cannot be read" in lines


@pytest.mark.parametrize("kind", ["image", "csv", "json"])
def test_one_golden_image_or_a_mapping_file(boards, tmp_path, kind):
    src, golden = boards
    make_image(golden / "line.png", seed=7)
    if kind == "image":
        reference = golden / "line.png"
    elif kind == "csv":
        reference = tmp_path / "pairs.csv"
        with reference.open("w", newline="") as f:
            csv.writer(f).writerows([["image", "reference"], *[[f"b{k}.jpg", "golden/line.png"] for k in range(3)]])
    else:
        reference = tmp_path / "pairs.json"
        reference.write_text(json.dumps({f"b{k}.jpg": "golden/line.png" for k in range(3)}))
    out = tmp_path / "out"
    report = convert(src, out, reference=reference, val=0, spec=CompositeSpec(align=False))  # one unrelated golden
    expected_missing = {} if kind == "image" else {"reference_missing": 1}
    assert issue_counts(out) == expected_missing and report.images["train"] == (4 if kind == "image" else 3)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"reference": "paired"}, ConversionError, "only DeepPCB pairs"),
        ({"reference": "nowhere/golden.png"}, ReferenceError, "no such file"),
        ({"spec": CompositeSpec("colour6")}, ConversionError, "without a reference"),
    ],
)
def test_reference_input_errors(boards, tmp_path, kwargs, error, match):
    src, _ = boards
    with pytest.raises(error, match=match):
        convert(src, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_reference_cli_errors_exit_2(boards, tmp_path, capsys):
    src, golden = boards
    (golden / "pairs.txt").write_text("b0.jpg b0.png\n")
    assert cli.main(["convert", str(src), "--out", str(tmp_path / "o"), "--reference", str(golden / "pairs.txt")]) == 2
    assert "mapping file" in capsys.readouterr().err
    assert cli.main(["convert", str(src), "--out", str(tmp_path / "o"), "--composite", "colour6"]) == 2
    assert "add --reference" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("b0.jpg\n")
    assert cli.main(["convert", str(src), "--out", str(tmp_path / "o"), "--reference", str(bad)]) == 2
    assert "two columns" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ deeppcb-ref.yaml


def test_deeppcb_ref_yaml_downloads_and_converts_with_references(tmp_path, monkeypatch):
    from ultralytics.data.utils import check_det_dataset

    repo = tmp_path / "build" / "DeepPCB-master"
    shutil.copytree(SAMPLE / "PCBData", repo / "PCBData")
    monkeypatch.setattr(prepare, "DEEPPCB_URL", str(_zip(repo, tmp_path / "master.zip")))
    text = find_bundled("deeppcb-ref.yaml").read_text().replace("path: DeepPCB-ref", f"path: {tmp_path / 'D'}")
    (tmp_path / "deeppcb-ref.yaml").write_text(text)
    data = check_det_dataset(str(tmp_path / "deeppcb-ref.yaml"))  # runs the download: script
    assert reference_spec(data) == CompositeSpec()
    assert sorted(p.name for p in (tmp_path / "D" / "images" / "val").iterdir()) == ["77000001.png", "77000006.png"]
    assert "5 of 6 shifts applied" in (tmp_path / "D" / "report.txt").read_text()


# ------------------------------------------------------------------------------ what Ultralytics does with composites


def test_channel_mixing_augmentations_are_off_for_composites_only(converted):
    import ultralytics.models.yolo  # noqa: F401  (as every trainer does; yolo-freq's trainer-side patches follow it)
    from ultralytics.cfg import get_cfg
    from ultralytics.data.augment import Format, RandomHSV
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    def transforms(data_yaml):
        data = check_det_dataset(str(data_yaml))
        cfg = get_cfg(overrides={"imgsz": 64, "workers": 0, "bgr": 0.5})
        ds = build_yolo_dataset(cfg, data["train"], 4, data, mode="train")
        hsv = next(t for t in ds.transforms.transforms if isinstance(t, RandomHSV))
        fmt = next(t for t in ds.transforms.transforms if isinstance(t, Format))
        return (hsv.hgain, hsv.sgain, hsv.vgain, fmt.bgr), cfg

    plain = converted.parent / "plain"
    assert convert(SAMPLE, plain).problems == 0
    assert transforms(plain / "data.yaml")[0] == (0.015, 0.7, 0.4, 0.5)
    gains, cfg = transforms(converted / "data.yaml")
    assert gains == (0, 0, 0, 0)
    assert (cfg.hsv_h, cfg.bgr) == (0.015, 0.5)  # the run's own arguments keep what was asked


def test_keep_channels_apart_names_what_it_switched_off():
    from types import SimpleNamespace

    hyp = SimpleNamespace(hsv_h=0.015, hsv_s=0.0, hsv_v=0.4, bgr=0.0, augmentations=None)
    changed = keep_channels_apart(hyp)
    assert changed[:2] == ["hsv_h=0.015", "hsv_v=0.4"] and all(getattr(hyp, k) == 0 for k in CHANNEL_MIXING)


def test_reference_entry_must_agree_with_channels():
    assert reference_spec({"names": {0: "a"}}) is None
    with pytest.raises(ReferenceError, match="channels: is 3"):
        reference_spec({"reference": {"form": "colour6"}})
    with pytest.raises(ReferenceError, match="unknown keys"):
        reference_spec({"reference": {"composite": "grey3"}})


@pytest.mark.parametrize("form", ["grey3", "colour6"])
def test_training_augmentation_keeps_every_channel_of_a_composite_in_place(tmp_path, form):
    """Through the whole training pipeline (mosaic, affine, flips; HSV and the BGR flip asked for), each output channel
    carries its own input channel: flat channels of distinct values come out as the same mix of value and padding."""
    import ultralytics.models.yolo  # noqa: F401  (as every trainer does; yolo-freq's trainer-side patches follow it)
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    spec = CompositeSpec(form=form)
    values = np.array([200, 50, 150, 30, 90, 240][: spec.channels], dtype=np.float64)  # one flat value per channel
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
        for i in range(4):
            composite = np.ones((96, 96, spec.channels), np.uint8) * values.astype(np.uint8)
            write_composite(tmp_path / "images" / split / f"{i}", composite)
            (tmp_path / "labels" / split / f"{i}.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    data = {"path": str(tmp_path), "train": "images/train", "val": "images/val", "names": {0: "defect"}}
    data.update(channels=spec.channels, reference=spec.to_dict())
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    data = check_det_dataset(str(tmp_path / "data.yaml"))
    cfg = get_cfg(overrides={"imgsz": 64, "workers": 0, "bgr": 0.5, "hsv_h": 0.5, "degrees": 10})
    ds = build_yolo_dataset(cfg, data["train"], 4, data, mode="train")
    pad = 114.0
    received = values[::-1] if spec.channels == 3 else values  # Ultralytics feeds 3-channel images as RGB, always
    for i in range(12):
        img = ds[i % len(ds)]["img"].numpy().astype(np.float64)  # (C, H, W) as the model receives it
        weight = (img - pad) / (received - pad)[:, None, None]  # share of the channel's own value at each pixel
        assert np.abs(weight - weight[0]).max() < 0.05, f"sample {i}: channels of the {form} composite were mixed"
