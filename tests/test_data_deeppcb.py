"""`yolo-freq convert` on DeepPCB's raw layout (yolo_freq.data.deeppcb): the real trainval set and crafted faults.

The real DeepPCB trainval layout in ../shared/data is converted whole (skipped where absent); every report line the
DeepPCB reader gives is triggered by a crafted layout generated in tmp_path (helpers._deeppcb_layout); Ultralytics'
own dataset loader checks that what is written is what `yolo train` reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import _deeppcb_layout, issue_counts, label_rows, tree_state, ultralytics_reads

from yolo_freq import cli
from yolo_freq.data import convert
from yolo_freq.registry import DATASETS_DIR

# The project keeps its shared data beside the repository (../shared); CI clones with shared/ beside it too.
DEEPPCB = Path(
    os.environ.get("YOLO_FREQ_DEEPPCB", Path(__file__).resolve().parents[2] / "shared/data/DeepPCB-trainval")
)


@pytest.fixture(scope="module")
def deeppcb_converted(tmp_path_factory):
    if not (DEEPPCB / "PCBData" / "trainval.txt").is_file():
        pytest.skip(f"DeepPCB raw layout not found at {DEEPPCB} (set YOLO_FREQ_DEEPPCB)")
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in DEEPPCB.rglob("*")}
    out = tmp_path_factory.mktemp("deeppcb") / "yolo"
    code = cli.main(["convert", str(DEEPPCB), "--out", str(out)])
    after = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in DEEPPCB.rglob("*")}
    return code, out, before == after


def test_deeppcb_real_trainval_converts_completely(deeppcb_converted, capsys):
    code, out, source_untouched = deeppcb_converted
    assert code == 0 and source_untouched
    report = json.loads((out / "report.json").read_text())
    assert report["format"] == "deeppcb"
    assert report["images_written"] == {"train": 800, "val": 200}
    assert report["boxes_read"] == 6873 == sum(sum(c.values()) for c in report["boxes_written"].values())
    assert report["problems"] == 0 and report["issues"] == []
    assert report["names"] == ["open", "short", "mousebite", "spur", "copper", "pin-hole"]
    assert any("trainval.txt 1000 pairs" in n for n in report["notes"])
    assert any("1000 defect-free template images" in n for n in report["notes"])
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert Path(data["path"]).is_absolute() and data["train"] == "images/train" and data["val"] == "images/val"
    # the same conversion as the hand-made labels of the bundled demo set (same images, type - 1, /640)
    demo = DATASETS_DIR / "pcb-demo" / "labels"
    for f in sorted(demo.glob("*/*.txt")):
        converted = next(out.glob(f"labels/*/{f.name}"))
        assert converted.read_text() == f.read_text(), f.name
    assert not list(out.glob("images/*/*_temp.jpg")) and not list(out.glob("images/*/*_test.jpg"))
    written = {s: sum(c.values()) for s, c in report["boxes_written"].items()}
    assert ultralytics_reads(out / "data.yaml") == {"train": (800, written["train"]), "val": (200, written["val"])}


def test_deeppcb_split_is_stratified_and_seeded(deeppcb_converted):
    _, out, _ = deeppcb_converted
    report = json.loads((out / "report.json").read_text())
    train, val = report["boxes_written"]["train"], report["boxes_written"]["val"]
    for name in report["names"]:  # every class keeps about 20 % of its boxes in val
        assert 0.15 < val[name] / (train[name] + val[name]) < 0.25, name


def test_deeppcb_quirks_and_every_fault_reported(tmp_path):
    pcb = _deeppcb_layout(tmp_path / "src")
    before = tree_state(tmp_path / "src")
    out = tmp_path / "out"
    report = convert(tmp_path / "src", out)  # the repository root above PCBData, format detected
    assert tree_state(tmp_path / "src") == before
    assert report.fmt == "deeppcb"
    assert issue_counts(out) == {
        "malformed_annotation": 2,  # the list line and 10000003.txt line 2
        "label_without_image": 1,  # 10000004
        "not_in_split": 1,  # 10000006
        "image_without_labels": 1,  # 10000007_test.jpg
        "unreadable_image": 1,  # 10000008
        "duplicate_image": 1,  # 10000009 = 10000005
        "unknown_class": 1,
        "box_outside_clipped": 1,
        "box_outside_rejected": 1,
        "zero_area_box": 1,
        "duplicate_box": 1,
    }
    text = (out / "report.txt").read_text()
    assert "trainval.txt line 6" in text and "10000003.txt: line 2" in text and "'type 7'" in text
    # official split: trainval -> train, test -> val; both separators read
    assert report.images == {"train": 3, "val": 1}
    assert sorted(p.stem for p in (out / "images" / "train").iterdir()) == ["10000000", "10000001", "10000002"]
    assert [p.name for p in (out / "images" / "val").iterdir()] == ["10000005.jpg"]
    expected = np.array([[2, 35, 50, 50, 60], [5, 230, 225, 60, 50]]) / [1, 640, 640, 640, 640]
    np.testing.assert_allclose(label_rows(out, "train", "10000001"), expected, atol=1e-6)
    rows = label_rows(out, "train", "10000002")  # the clipped box (600..640 x 600..640), then the kept duplicate
    expected = np.array([[3, 620, 620, 40, 40], [1, 320, 315, 40, 30]]) / [1, 640, 640, 640, 640]
    np.testing.assert_allclose(rows, expected, atol=1e-6)
    assert (rows[:, 1:] >= 0).all() and (rows[:, 1:] <= 1).all()
    assert ultralytics_reads(out / "data.yaml") == {"train": (3, 6), "val": (1, 1)}

    rejected = convert(pcb, tmp_path / "out_reject", outside="reject")
    assert rejected.counts()["box_outside_rejected"] == 2 and not rejected.counts()["box_outside_clipped"]
