"""`yolo-freq convert`, the report, the split, the dataset YAMLs' download hooks and fine-tuning.

The real DeepPCB trainval layout in ../shared/data is converted whole (skipped where absent); every report line
is triggered by crafted inputs generated in tmp_path (DeepPCB layout, LabelImg VOC folders, COCO files, DsPCBSD+-like
archives); Ultralytics' own dataset loader checks that what is written is what `yolo train` reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from yolo_freq import cli
from yolo_freq.data import ConversionError, ProblemsFound, convert, prepare
from yolo_freq.data.records import Record
from yolo_freq.data.report import ISSUE_KINDS, ConversionReport
from yolo_freq.data.split import stratified_split
from yolo_freq.registry import DATASETS_DIR, find_bundled

ROOT = Path(__file__).resolve().parents[1]
# The project keeps its shared data beside the repository (../shared); CI clones with shared/ beside it too.
DEEPPCB = Path(
    os.environ.get("YOLO_FREQ_DEEPPCB", Path(__file__).resolve().parents[2] / "shared/data/DeepPCB-trainval")
)
DSPCBSD_NAMES = ["SH", "SP", "SC", "OP", "MB", "HB", "CS", "CFO", "BMFO"]


# ---------------------------------------------------------------------------------------------------- helpers


def make_image(path: Path, w: int = 128, h: int = 96, seed: int = 0, mode: str = "RGB") -> Path:
    """A small image with random rectangles; different seeds give different content."""
    rng = np.random.default_rng(seed)
    im = Image.new(mode, (w, h), 0)
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x, y = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        draw.rectangle(
            [x, y, x + int(rng.integers(4, 30)), y + int(rng.integers(4, 30))], fill=int(rng.integers(60, 255))
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def voc_xml(
    path: Path, filename: str, size: tuple[int, int] | None, objects: list[tuple], raw: str | None = None
) -> None:
    """A LabelImg-style Pascal VOC file; objects are (name, xmin, ymin, xmax, ymax)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_text(raw)
        return
    objs = "".join(
        f"<object><name>{n}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>"
        for n, a, b, c, d in objects
    )
    sz = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ""
    path.write_text(
        f"<annotation><folder>boards</folder><filename>{filename}</filename>"
        f"<path>C:\\Users\\labeller\\boards\\{filename}</path><source><database>Unknown</database></source>"
        f"{sz}<segmented>0</segmented>{objs}</annotation>"
    )


def tree_state(folder: Path) -> dict:
    """Every file under a folder with its content hash, to prove a conversion left the source alone."""
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def issue_counts(out: Path) -> Counter:
    return Counter(json.loads((out / "report.json").read_text())["counts"])


def ultralytics_reads(data_yaml: Path) -> dict:
    """Load both splits with Ultralytics' own dataset builder (what `yolo train` does); images and boxes per split."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(data_yaml))
    cfg = get_cfg(overrides={"imgsz": 64, "workers": 0})
    seen = {}
    for split in ("train", "val"):
        ds = build_yolo_dataset(cfg, data[split], 4, data, mode="val")
        seen[split] = (len(ds.labels), sum(len(lb["cls"]) for lb in ds.labels))
    return seen


def label_rows(out: Path, split: str, stem: str) -> np.ndarray:
    """A written label file as an (n, 5) array; globbed over splits when ``split`` is '*'."""
    f = next(out.glob(f"labels/{split}/{stem}.txt"))
    return np.array([[float(v) for v in line.split()] for line in f.read_text().splitlines()]).reshape(-1, 5)


# ---------------------------------------------------------------------------------------------------- real DeepPCB


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


# ---------------------------------------------------------------------------------------------------- crafted DeepPCB


def _deeppcb_layout(root: Path) -> Path:
    """A DeepPCB PCBData folder with one of each quirk and fault; returns the PCBData folder."""
    pcb = root / "PCBData"
    img, ann = pcb / "group10000" / "10000", pcb / "group10000" / "10000_not"
    ann.mkdir(parents=True)
    for k in range(10):
        if k not in (4, 8, 9):
            make_image(img / f"1000000{k}_test.jpg", 640, 640, seed=k, mode="L")
            make_image(img / f"1000000{k}_temp.jpg", 640, 640, seed=100 + k, mode="L")
    (img / "10000008_test.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")  # unreadable
    (img / "10000009_test.jpg").write_bytes((img / "10000005_test.jpg").read_bytes())  # duplicate of 10000005
    (ann / "10000000.txt").write_text("10 20 60 80 1\n100 100 150 140 2\n")  # spaces, as the files are
    (ann / "10000001.txt").write_text("10,20,60,80,3\n200,200,260,250,6")  # commas, as the README says
    (ann / "10000002.txt").write_text(
        "10 20 60 80 7\n"  # unknown type
        "600 600 700 650 4\n"  # partly outside 640x640: clipped
        "10 10 10 40 5\n"  # zero width
        "300 300 340 330 2\n300 300 340 330 2\n"  # the same box twice
        "700 700 800 800 1\n"  # entirely outside
    )
    (ann / "10000003.txt").write_text("10 20 60 80 1\n12 13 abc 20 1\n")  # corrupt line
    (ann / "10000004.txt").write_text("10 20 60 80 1\n")  # its image is missing
    (ann / "10000005.txt").write_text("30 30 90 90 4\n")
    (ann / "10000006.txt").write_text("30 30 90 90 4\n")  # in no split list
    (ann / "10000008.txt").write_text("30 30 90 90 4\n")
    (ann / "10000009.txt").write_text("30 30 90 90 4\n")
    (pcb / "trainval.txt").write_text(
        "".join(f"group10000/10000/1000000{k}.jpg group10000/10000_not/1000000{k}.txt\n" for k in (0, 1, 2, 3, 8))
        + "group10000/10000/one_field_only.jpg\n"
    )
    (pcb / "test.txt").write_text(
        "".join(f"group10000/10000/1000000{k}.jpg,group10000/10000_not/1000000{k}.txt\n" for k in (4, 5, 9))
    )
    return pcb


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


def test_strict_fails_with_report_and_writes_no_dataset(tmp_path, capsys):
    _deeppcb_layout(tmp_path / "src")
    out = tmp_path / "out"
    assert cli.main(["convert", str(tmp_path / "src"), "--out", str(out), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "12 problems found under --strict" in err and "report.txt" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.txt"]
    with pytest.raises(ProblemsFound) as e:
        convert(tmp_path / "src", out, strict=True)
    assert e.value.report.problems == 12


def test_failed_conversion_leaves_an_earlier_dataset_as_it_was(tmp_path, capsys):
    """--exist-ok replaces an earlier dataset only once the new one is ready; a failed attempt reports beside it."""
    _deeppcb_layout(tmp_path / "src")
    out = tmp_path / "out"
    convert(tmp_path / "src", out)
    before = tree_state(out)
    assert cli.main(["convert", str(tmp_path / "src"), "--out", str(out), "--strict", "--exist-ok"]) == 1
    err = capsys.readouterr().err
    assert f"every line is in {out / 'report-failed.txt'}" in err and "earlier dataset" in err and "unchanged" in err
    after = tree_state(out)
    assert {k: v for k, v in after.items() if not k.startswith("report-failed")} == before
    assert json.loads((out / "report-failed.json").read_text())["problems"] == 12
    assert cli.main(["convert", str(tmp_path / "src"), "--out", str(out), "--exist-ok"]) == 0
    assert not list(out.glob("report-failed*"))  # a successful conversion clears the failed attempt's report


def test_a_dataset_convert_did_not_write_is_never_replaced(tmp_path, capsys):
    """--exist-ok replaces only an earlier conversion (its data.yaml header says so), never another dataset."""
    _deeppcb_layout(tmp_path / "src")
    out = tmp_path / "theirs"
    for rel in ("images/train/precious.jpg", "labels/train/precious.txt"):
        (out / rel).parent.mkdir(parents=True)
        (out / rel).write_text(rel)
    (out / "data.yaml").write_text("path: .\ntrain: images/train\nnames: {0: a}\n")
    before = tree_state(out)
    assert cli.main(["convert", str(tmp_path / "src"), "--out", str(out), "--exist-ok"]) == 2
    err = capsys.readouterr().err
    assert "did not write" in err and "never replaced" in err and "Traceback" not in err
    assert tree_state(out) == before


def test_a_failed_write_leaves_the_earlier_dataset_and_reports(tmp_path, capsys, monkeypatch):
    """Disk full (or any OSError) while writing: the earlier dataset stays whole, nothing half-written is left."""
    import yolo_freq.data.writer as writer

    _deeppcb_layout(tmp_path / "src")
    out = tmp_path / "out"
    convert(tmp_path / "src", out)
    before = tree_state(out)
    copies = []

    def disk_fills(src, dst, link=False):
        if copies:
            raise OSError(28, "No space left on device")
        copies.append(dst)
        dst.write_bytes(src.read_bytes())

    monkeypatch.setattr(writer, "place_image", disk_fills)
    assert cli.main(["convert", str(tmp_path / "src"), "--out", str(out), "--exist-ok"]) == 2
    err = capsys.readouterr().err
    assert "writing the dataset failed" in err and "No space left" in err and "unchanged" in err
    assert "Traceback" not in err and copies  # it failed part-way, after one image
    after = tree_state(out)
    assert {k: v for k, v in after.items() if not k.startswith("report-failed")} == before
    assert (out / "report-failed.txt").is_file() and not list(out.glob(".convert-*"))


def test_a_staging_folder_left_by_a_killed_conversion_does_not_block_the_next(tmp_path):
    """A SIGKILL skips the cleanup: the next conversion into that folder removes the leftover instead of refusing."""
    _deeppcb_layout(tmp_path / "src")
    out = tmp_path / "out"
    leftover = out / ".convert-k1ll3d" / "images" / "train"
    leftover.mkdir(parents=True)
    make_image(leftover / "half-written.jpg")
    convert(tmp_path / "src", out)  # no --exist-ok needed: nothing of the user's is here
    assert (out / "data.yaml").is_file() and not list(out.glob(".convert-*"))


def test_an_output_folder_that_cannot_be_made_is_a_clear_error(tmp_path, capsys):
    _deeppcb_layout(tmp_path / "src")
    (tmp_path / "a_file").write_text("x")
    assert cli.main(["convert", str(tmp_path / "src"), "--out", str(tmp_path / "a_file" / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot write to --out" in err and "Traceback" not in err


def test_link_never_shares_a_jpeg_ultralytics_would_rewrite(tmp_path):
    """A JPEG without its end marker is re-saved by Ultralytics (in place in 8.4.112): --link copies it instead."""
    from yolo_freq.data.writer import place_image

    good = make_image(tmp_path / "good.jpg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:-2])  # still decodes; Ultralytics calls it corrupt and saves it again
    for src in (good, cut):
        place_image(src, tmp_path / f"placed-{src.name}", link=True)
    assert (tmp_path / "placed-good.jpg").samefile(good)
    assert not (tmp_path / "placed-cut.jpg").samefile(cut)
    assert (tmp_path / "placed-cut.jpg").read_bytes() == cut.read_bytes()


def test_summary_names_the_file_that_holds_the_lines_it_leaves_out(tmp_path):
    """The short summary points at the report actually written (report-failed.txt after a failed attempt)."""
    report = ConversionReport()
    for i in range(7):
        report.add("label_without_image", f"labels/{i}.txt")
    assert "... and 2 more annotation without its image lines in the saved report" in report.summary()
    txt = report.save(tmp_path, "report-failed")
    assert f"... and 2 more annotation without its image lines in {txt}" in report.summary()
    assert "more" not in txt.read_text()  # the file itself holds every line


def test_exist_ok_never_replaces_the_source(tmp_path, capsys):
    """A source inside an output path (e.g. ``boards/images`` with ``--out boards``) is refused, not deleted."""
    src = _deeppcb_layout(tmp_path / "boards" / "images")
    (tmp_path / "boards" / "labels").mkdir()  # looks like an earlier dataset, so --exist-ok would replace it
    before = tree_state(tmp_path / "boards")
    code = cli.main(["convert", str(src), "--out", str(tmp_path / "boards"), "--exist-ok"])
    err = capsys.readouterr().err
    assert code == 2 and "lies where the conversion writes its outputs" in err and "Traceback" not in err
    assert tree_state(tmp_path / "boards") == before


# ---------------------------------------------------------------------------------------------------- Pascal VOC


def _voc_folder(root: Path) -> Path:
    """LabelImg output: images and XML side by side, with one of each fault."""
    boards = root / "boards"
    for k in range(12):  # clean records, enough for a split
        make_image(boards / f"ok{k:02d}.jpg", seed=k)
        voc_xml(
            boards / f"ok{k:02d}.xml",
            f"ok{k:02d}.jpg",
            (128, 96),
            [("scratch" if k % 3 else "stain", 8, 8, 40, 30), ("stain", 50, 40, 90, 80)],
        )
    make_image(boards / "a.jpg", seed=50)
    voc_xml(boards / "a.xml", "a.jpg", (128, 96), [("scratch", 10, 20, 50, 60)])
    make_image(boards / "b.jpg", seed=51)
    voc_xml(boards / "b.xml", "b.jpg", (128, 96), [("stain", 100, 50, 140, 90)])  # partly outside: clipped
    make_image(boards / "c.jpg", seed=52)
    voc_xml(boards / "c.xml", "c.jpg", None, [], raw="<annotation><filename>c.jpg</filename><object><name>scr")
    voc_xml(boards / "d.xml", "missing.jpg", (128, 96), [("scratch", 1, 1, 9, 9)])  # no image
    make_image(boards / "e.jpg", seed=53)  # no XML
    make_image(boards / "f.jpg", seed=54)
    voc_xml(boards / "f.xml", "f.jpg", (999, 999), [("scratch", 1, 1, 9, 9)])  # wrong declared size
    make_image(boards / "g.jpg", seed=55)
    voc_xml(boards / "g.xml", "g.jpg", (128, 96), [])  # defect-free board
    make_image(boards / "h.jpg", seed=56)
    voc_xml(boards / "h.xml", "h.jpg", (128, 96), [("scratch", "abc", 1, 9, 9)])  # non-numeric
    make_image(boards / "i.jpg", seed=57)
    voc_xml(boards / "i.xml", "i.jpg", (128, 96), [("dust", 1, 1, 20, 20), ("scratch", 30, 30, 30, 50)])
    (boards / "j.jpg").write_bytes(b"")  # empty file
    voc_xml(boards / "j.xml", "j.jpg", (128, 96), [("scratch", 1, 1, 9, 9)])
    (boards / "k.png").write_bytes((boards / "a.jpg").read_bytes())  # same content as a.jpg, other name
    voc_xml(boards / "k.xml", "k.png", (128, 96), [("scratch", 1, 1, 9, 9)])
    voc_xml(boards / "n.xml", "", None, [], raw="<config><item/></config>")  # XML that is not VOC
    return boards


def test_voc_folder_converts_with_every_fault_reported(tmp_path):
    boards = _voc_folder(tmp_path)
    before = tree_state(boards)
    out = tmp_path / "out"
    code = cli.main(["convert", str(boards), "--out", str(out), "--classes", "scratch,stain", "--seed", "3"])
    assert code == 0 and tree_state(boards) == before
    assert issue_counts(out) == {
        "malformed_annotation": 3,  # c (broken XML), h (non-numeric), n (not <annotation>)
        "label_without_image": 1,  # d
        "image_without_labels": 1,  # e (c.jpg is reported with c.xml, not twice)
        "size_mismatch": 1,  # f
        "background": 1,  # g
        "unknown_class": 1,  # i: dust
        "zero_area_box": 1,  # i: zero width
        "box_outside_clipped": 1,  # b
        "unreadable_image": 1,  # j
        "duplicate_image": 1,  # k = a
    }
    report = json.loads((out / "report.json").read_text())
    assert report["problems"] == 11 and report["format"] == "voc"
    assert sum(report["images_written"].values()) == 12 + 5  # ok*, a, b, f, g, i
    assert report["images_written"]["val"] == round(17 * 0.2)
    np.testing.assert_allclose(label_rows(out, "*", "a"), [[0, 30 / 128, 40 / 96, 40 / 128, 40 / 96]], atol=1e-6)
    np.testing.assert_allclose(label_rows(out, "*", "b"), [[1, 114 / 128, 70 / 96, 28 / 128, 40 / 96]], atol=1e-6)
    assert label_rows(out, "*", "g").shape == (0, 5)  # background image, empty label file
    assert yaml.safe_load((out / "data.yaml").read_text())["names"] == {0: "scratch", 1: "stain"}
    seen = ultralytics_reads(out / "data.yaml")
    assert seen["train"][0] + seen["val"][0] == 17

    again = tmp_path / "again"  # same seed, same split; the classes come from the data when not given
    r = convert(boards, again, seed=3)
    assert r.names == ["dust", "scratch", "stain"]
    assert sorted(p.name for p in (again / "images" / "val").iterdir()) == sorted(
        p.name for p in (out / "images" / "val").iterdir()
    )


def test_voc_split_from_imagesets_and_folders(tmp_path):
    voc = tmp_path / "VOC"
    for k in range(6):
        make_image(voc / "JPEGImages" / f"{k}.jpg", seed=k)
        voc_xml(voc / "Annotations" / f"{k}.xml", f"{k}.jpg", (128, 96), [("spur", 5, 5, 30, 30)])
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "ImageSets" / "Main" / "train.txt").write_text("0\n1\n2\n3\n")
    (voc / "ImageSets" / "Main" / "val.txt").write_text("4\n")
    report = convert(voc, tmp_path / "out")
    assert report.images == {"train": 4, "val": 1} and report.counts() == {"not_in_split": 1}  # 5.xml in no list

    folders = tmp_path / "folders"
    for split, n in (("train", 3), ("valid", 2)):
        for k in range(n):
            make_image(folders / split / f"{split}{k}.jpg", seed=10 * n + k)
            voc_xml(folders / split / f"{split}{k}.xml", f"{split}{k}.jpg", (128, 96), [("spur", 5, 5, 30, 30)])
    assert convert(folders, tmp_path / "out2").images == {"train": 3, "val": 2}


# ---------------------------------------------------------------------------------------------------- COCO


def _coco_doc(images: list[dict], annotations: list[dict], categories: list[dict]) -> dict:
    return {"info": {}, "licenses": [], "images": images, "annotations": annotations, "categories": categories}


def test_coco_file_converts_with_every_fault_reported(tmp_path):
    src = tmp_path / "export"
    for k in range(8):
        make_image(src / "images" / f"p{k}.jpg", seed=k)
    make_image(src / "images" / "unlisted.jpg", seed=99)
    ims = [{"id": k, "file_name": f"images/p{k}.jpg", "width": 128, "height": 96} for k in range(8)]
    ims += [
        {"id": 8, "file_name": "images/gone.jpg", "width": 128, "height": 96},
        {"id": 3, "file_name": "images/p3.jpg"},
    ]
    anns = [
        {"id": 100 + k, "image_id": k, "category_id": 1 + k % 2, "bbox": [10, 10, 30, 20], "iscrowd": 0}
        for k in range(6)
    ]
    anns += [
        {"id": 200, "image_id": 0, "category_id": 2, "bbox": [100, 80, 40, 30]},  # partly outside: clipped
        {"id": 201, "image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "iscrowd": 1},  # crowd
        {"id": 202, "image_id": 2, "category_id": 99, "bbox": [5, 5, 5, 5]},  # unknown category
        {"id": 203, "image_id": 404, "category_id": 1, "bbox": [5, 5, 5, 5]},  # unknown image id
        {"id": 204, "image_id": 3, "category_id": 1, "bbox": [5, 5, 0, 5]},  # zero width
        {"id": 205, "image_id": 6, "category_id": 1, "bbox": "5 5 5 5"},  # malformed: p6 skipped
        {"id": 206, "image_id": 8, "category_id": 1, "bbox": [5, 5, 5, 5]},  # image file missing
    ]
    cats = [{"id": 2, "name": "pin-hole", "supercategory": ""}, {"id": 1, "name": "spur", "supercategory": ""}]
    (src / "coco.json").write_text(json.dumps(_coco_doc(ims, anns, cats)))
    before = tree_state(src)
    out = tmp_path / "out"
    assert cli.main(["convert", str(src / "coco.json"), "--out", str(out), "--val", "0.25"]) == 0
    assert tree_state(src) == before
    assert issue_counts(out) == {
        "duplicate_image": 1,  # image id 3 listed twice
        "box_outside_clipped": 1,
        "crowd_box": 1,
        "unknown_class": 1,
        "label_without_image": 2,  # annotation for image 404, image 8's file
        "zero_area_box": 1,
        "malformed_annotation": 1,  # p6
        "background": 1,  # p7: listed, never annotated
        "image_without_labels": 1,  # unlisted.jpg
    }
    report = json.loads((out / "report.json").read_text())
    assert report["names"] == ["spur", "pin-hole"]  # category-id order, not alphabetical
    assert sum(report["images_written"].values()) == 7 and report["images_written"]["val"] == 2
    assert next(out.glob("labels/*/p0.txt")).read_text().splitlines()[1].split() == [
        "1",
        "0.890625",
        "0.916667",
        "0.218750",
        "0.166667",
    ]
    seen = ultralytics_reads(out / "data.yaml")
    assert seen["train"][0] + seen["val"][0] == 7


def test_coco_folder_goes_on_past_a_broken_file(tmp_path):
    src = tmp_path / "coco"
    ims = [{"id": k, "file_name": f"{k}.jpg", "width": 128, "height": 96} for k in range(4)]
    anns = [{"id": k, "image_id": k, "category_id": 1, "bbox": [10, 10, 30, 20]} for k in range(4)]
    for k in range(4):
        make_image(src / "train" / f"{k}.jpg", seed=k)
    (src / "train" / "_annotations.coco.json").write_text(json.dumps(_coco_doc(ims, anns, [{"id": 1, "name": "open"}])))
    (src / "valid").mkdir()
    (src / "valid" / "_annotations.coco.json").write_text('{"images": [], "annotations": [], "categories": [')
    (src / "meta.json").write_text('{"exported_by": "tool"}')
    report = convert(src, tmp_path / "out")
    assert report.counts() == {"malformed_annotation": 1}
    assert "valid/_annotations.coco.json" in report.issues[0].where and "not valid JSON" in report.issues[0].detail
    assert any("ignored meta.json" in n for n in report.notes)
    assert report.images == {"train": 3, "val": 1}  # split name from the folder; val drawn from train


# ---------------------------------------------------------------------------------------------------- bad input


def test_bad_input_gives_clear_errors_and_no_traceback(tmp_path, capsys):
    def run(*argv):
        code = cli.main(["convert", *map(str, argv)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return code, err

    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"images": [], "annotations": [ {"id": 1,, ]}')
    not_coco = tmp_path / "list.json"
    not_coco.write_text('{"images": []}')
    (tmp_path / "empty").mkdir()
    boards = _voc_folder(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    all_bad = tmp_path / "all_bad"
    voc_xml(all_bad / "x.xml", "x.jpg", None, [], raw="<annotation><object>")

    code, err = run(tmp_path / "nowhere", "--out", tmp_path / "o1")
    assert code == 2 and "does not exist" in err
    code, err = run(bad_json, "--out", tmp_path / "o2")
    assert code == 2 and "not valid JSON" in err and "line 1, column" in err
    code, err = run(not_coco, "--out", tmp_path / "o3")
    assert code == 2 and "not a COCO detection file" in err
    code, err = run(tmp_path / "empty", "--out", tmp_path / "o4")
    assert code == 2 and "no annotations found" in err and "--format" in err
    code, err = run(boards, "--out", boards / "yolo")
    assert code == 2 and "inside the source" in err
    code, err = run(boards, "--out", tmp_path / "full")
    assert code == 2 and "not empty" in err and (tmp_path / "full" / "notes.txt").read_text() == "mine"
    code, err = run(boards, "--out", tmp_path / "o5", "--classes-file", tmp_path / "nope.txt")
    assert code == 2 and "--classes-file" in err
    code, err = run(boards, "--out", tmp_path / "o6", "--classes", "a,a")
    assert code == 2 and "without repeats" in err
    code, err = run(boards, "--out", tmp_path / "o7", "--val", "1.5")
    assert code == 2 and "fraction" in err
    code, err = run(all_bad, "--out", tmp_path / "o8")
    assert code == 2 and "nothing to convert" in err and "malformed annotation" in err
    assert (tmp_path / "o8" / "report.txt").is_file()

    assert run(boards, "--out", tmp_path / "o9")[0] == 0  # a second run into a converted folder needs --exist-ok
    code, err = run(boards, "--out", tmp_path / "o9")
    assert code == 2 and "--exist-ok" in err
    assert run(boards, "--out", tmp_path / "o9", "--exist-ok")[0] == 0
    (tmp_path / "classes.yaml").write_text("names:\n  0: stain\n  1: scratch\n")
    assert run(boards, "--out", tmp_path / "o10", "--classes-file", tmp_path / "classes.yaml")[0] == 0
    assert yaml.safe_load((tmp_path / "o10" / "data.yaml").read_text())["names"] == {0: "stain", 1: "scratch"}


# ---------------------------------------------------------------------------------------------------- split


def test_stratified_split_is_seeded_and_keeps_rare_classes_in_both():
    items = [
        (Record(f"s{k}", f"n{k}", None), ["0 0.5 0.5 0.1 0.1"] + (["1 0.2 0.2 0.1 0.1"] if k % 10 == 0 else []))
        for k in range(100)
    ]
    items += [(Record(f"bg{k}", f"bg{k}", None), []) for k in range(10)]
    train, val = stratified_split(items, 0.2, seed=0)
    assert len(val) == 22 and len(train) == 88
    assert sum(1 for r, rows in val if any(row.startswith("1 ") for row in rows)) == 2  # the 10 rare images: 2 in val
    assert sum(1 for r, rows in val if not rows) == 2
    assert [r.name for r, _ in stratified_split(items[::-1], 0.2, seed=0)[1]] == [r.name for r, _ in val]
    assert [r.name for r, _ in stratified_split(items, 0.2, seed=1)[1]] != [r.name for r, _ in val]
    assert len(stratified_split(items[:2], 0.01, seed=0)[1]) == 1  # at least one val image


def test_issue_kinds_all_documented():
    """Each kind the report can print is named in the README's "Report:" list (a new kind needs a line there)."""
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    report = readme[readme.index("**Report:**") : readme.index("**`--strict`:**")]
    phrases = {
        "malformed_annotation": "malformed annotations",
        "label_without_image": "annotations without their image",
        "image_without_labels": "images without annotations",
        "not_in_split": "outside the official split lists",
        "unreadable_image": "unreadable images",
        "duplicate_image": "duplicate images",
        "size_mismatch": "declared size different from the real size",
        "unknown_class": "unknown classes",
        "crowd_box": "crowd regions",
        "zero_area_box": "zero-area or inverted boxes",
        "box_outside_clipped": "boxes outside the image (clipped by default",
        "box_outside_rejected": "`--reject-outside` skips them",
        "duplicate_box": "duplicate boxes",
        "background": "annotated images without objects (kept as background)",
        "reference_missing": "images without a reference",
        "reference_unreadable": "unreadable references",
        "reference_size": "references of another size",
        "alignment_weak": "alignments below the response threshold (composed without shift)",
    }
    assert set(phrases) == set(ISSUE_KINDS)
    assert [kind for kind, phrase in phrases.items() if phrase not in report] == []


# ---------------------------------------------------------------------------------------------------- dataset YAMLs


def test_dataset_yamls_found_by_bare_name():
    from ultralytics.utils.checks import check_yaml

    for name, n, fn in (("deeppcb.yaml", 6, "prepare_deeppcb"), ("dspcbsd.yaml", 9, "prepare_dspcbsd")):
        path = Path(check_yaml(name))
        assert path == find_bundled(name) and path.parent == DATASETS_DIR
        d = yaml.safe_load(path.read_text())
        assert len(d["names"]) == n and d["train"] == "images/train" and d["val"] == "images/val"
        assert f"from yolo_freq.data import {fn}" in d["download"] and f"{fn}(yaml)" in d["download"]
    assert list(yaml.safe_load(find_bundled("dspcbsd.yaml").read_text())["names"].values()) == DSPCBSD_NAMES


def _zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(folder.rglob("*")):
            z.write(p, p.relative_to(folder.parent))
    return archive


def test_deeppcb_yaml_download_runs_prepare_through_ultralytics(tmp_path, monkeypatch):
    from ultralytics.data.utils import check_det_dataset

    repo = tmp_path / "build" / "DeepPCB-master"  # the layout of GitHub's archive
    pcb = repo / "PCBData"
    img, ann = pcb / "group20000" / "20000", pcb / "group20000" / "20000_not"
    for k in range(5):
        make_image(img / f"2000000{k}_test.jpg", 640, 640, seed=k, mode="L")
        make_image(img / f"2000000{k}_temp.jpg", 640, 640, seed=10 + k, mode="L")
        ann.mkdir(parents=True, exist_ok=True)
        (ann / f"2000000{k}.txt").write_text(f"{10 + k} 20 60 80 {1 + k}\n")
    (pcb / "trainval.txt").write_text(
        "".join(f"group20000/20000/2000000{k}.jpg group20000/20000_not/2000000{k}.txt\n" for k in range(3))
    )
    (pcb / "test.txt").write_text(
        "".join(f"group20000/20000/2000000{k}.jpg group20000/20000_not/2000000{k}.txt\n" for k in (3, 4))
    )
    archive = _zip(repo, tmp_path / "master.zip")
    monkeypatch.setattr(prepare, "DEEPPCB_URL", str(archive))

    text = find_bundled("deeppcb.yaml").read_text().replace("path: DeepPCB", f"path: {tmp_path / 'DeepPCB'}")
    (tmp_path / "deeppcb.yaml").write_text(text)
    data = check_det_dataset(str(tmp_path / "deeppcb.yaml"))  # runs the download: script
    root = tmp_path / "DeepPCB"
    assert Path(data["val"]) == root / "images" / "val"
    assert len(list((root / "images" / "train").iterdir())) == 3 and len(list((root / "images" / "val").iterdir())) == 2
    assert "official test -> val 2" in (root / "report.txt").read_text()
    assert (root / "raw" / "DeepPCB-master" / "PCBData" / "trainval.txt").is_file() and archive.is_file()
    assert (root / "images" / "train" / "20000000.jpg").stat().st_nlink == 2  # hard link to raw/, not a copy
    assert ultralytics_reads(tmp_path / "deeppcb.yaml") == {"train": (3, 3), "val": (2, 2)}


def _dspcbsd_coco_archive(tmp_path: Path, names: list[str]) -> Path:
    """An archive in DsPCBSD+'s published layout: Data_COCO (canonical) and Data_YOLO (copies of the images)."""
    top = tmp_path / "build" / "DsPCBSD+"
    (top / "Hash.py").parent.mkdir(parents=True, exist_ok=True)
    (top / "Hash.py").write_text("# near-duplicate check\n")
    k = 0
    for split, n in (("train", 8), ("val", 3)):
        ims, anns = [], []
        for i in range(n):
            name = f"S_{k}.jpg"
            make_image(top / "Data_COCO" / f"{split}2017" / name, 226, 226, seed=k)
            make_image(top / "Data_YOLO" / "images" / split / name, 226, 226, seed=k)
            ims.append({"id": i + 1, "file_name": name, "width": 226, "height": 226})
            anns.append(
                {
                    "id": k + 1,
                    "image_id": i + 1,
                    "category_id": 1 + k % 9,
                    "bbox": [20, 30, 40, 25],
                    "area": 1000,
                    "iscrowd": 0,
                }
            )
            k += 1
        cats = [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(names)]
        path = top / "Data_COCO" / "annotations" / f"instances_{split}2017.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_coco_doc(ims, anns, cats)))
    return _zip(top, tmp_path / "DsPCBSD+.zip")


@pytest.mark.parametrize(
    "spelling", [DSPCBSD_NAMES, [n.lower() for n in DSPCBSD_NAMES], [f"defect {i}" for i in range(9)]]
)
def test_dspcbsd_prepare_finds_coco_in_archive(tmp_path, spelling):
    archive = _dspcbsd_coco_archive(tmp_path, spelling)
    root = tmp_path / "DsPCBSD"
    report = prepare.prepare_dspcbsd({"path": root, "names": dict(enumerate(DSPCBSD_NAMES))}, source=archive)
    assert report.fmt == "coco" and report.problems == 0 and report.issues == []
    assert report.images == {"train": 8, "val": 3}  # the published split, from the JSON names
    assert Path(report.source).name == "Data_COCO"  # Data_YOLO copies are neither candidates nor "unlabelled"
    assert report.names == DSPCBSD_NAMES
    assert report.boxes["train"]["SH"] == 1 and report.boxes["train"]["BMFO"] == 0 and report.boxes["val"]["BMFO"] == 1
    assert (root / "raw").is_dir() and archive.is_file()  # a local archive is not deleted


def test_dspcbsd_prepare_finds_voc_in_archive(tmp_path):
    top = tmp_path / "build" / "DsPCBSD+"
    for k in range(10):
        make_image(top / "VOC" / "JPEGImages" / f"{k}.jpg", 226, 226, seed=k)
        voc_xml(
            top / "VOC" / "Annotations" / f"{k}.xml", f"{k}.jpg", (226, 226), [(DSPCBSD_NAMES[k % 9], 10, 10, 50, 40)]
        )
    root = tmp_path / "DsPCBSD"
    report = prepare.prepare_dspcbsd(
        {"path": root, "names": dict(enumerate(DSPCBSD_NAMES))}, source=_zip(top, tmp_path / "a.zip")
    )
    assert report.fmt == "voc" and Path(report.source).name == "VOC" and report.problems == 0
    assert report.images == {"train": 8, "val": 2} and report.names == DSPCBSD_NAMES
    # an extracted tree already in <root>/raw is converted again without downloading (how offline users provide it)
    again = prepare.prepare_dspcbsd({"path": root, "names": DSPCBSD_NAMES}, source="https://unreachable.invalid/x.zip")
    assert again.images == report.images
    with pytest.raises(ConversionError, match="neither COCO JSON nor Pascal VOC"):
        prepare.find_annotations(tmp_path / "DsPCBSD" / "images")


# ---------------------------------------------------------------------------------------------------- fine-tuning


def test_finetune_example_transfers_checkpoint_to_new_classes(tmp_path, offline_env):
    """A checkpoint trained on pcb-demo (6 classes) fine-tuned on a converted 2-class VOC folder, via the example."""
    env = {**offline_env, "OMP_NUM_THREADS": "1", "YOLO_VERBOSE": "True"}  # verbose: Ultralytics logs its own count
    tiny = ["epochs=1", "imgsz=64", "batch=4", "workers=0", "plots=False", "device=cpu"]
    yolo = Path(sys.executable).with_name("yolo")
    pre = [str(yolo), "train", "model=pcb-fs-n.yaml", "data=pcb-demo.yaml", "name=pre", f"project={tmp_path}", *tiny]
    run = subprocess.run(pre, env=env, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    ckpt = tmp_path / "pre" / "weights" / "best.pt"
    boards = tmp_path / "boards"
    for k in range(6):
        make_image(boards / f"{k}.jpg", seed=k)
        voc_xml(boards / f"{k}.xml", f"{k}.jpg", (128, 96), [("scratch", 8, 8, 40, 30), ("stain", 50, 40, 90, 80)])
    example = [sys.executable, str(ROOT / "examples" / "finetune_in_house.py"), str(boards), str(ckpt)]
    example += ["--out", str(tmp_path / "data"), "--model", "pcb-fs-n.yaml", "--epochs", "1", "--imgsz", "64"]
    example += ["--batch", "4", "--workers", "0", "--device", "cpu", "--plots", "no"]
    example += ["--project", str(tmp_path), "--name", "ft"]
    run = subprocess.run(example, env=env, capture_output=True, text=True, cwd=tmp_path, check=False)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert "images written: 6 (train 5, val 1)" in log and "problems: 0" in log  # the conversion report
    ours = re.search(r"Transferred (\d+)/(\d+) tensors from .* with 2 classes", log)
    theirs = re.search(r"Transferred (\d+)/(\d+) items from pretrained weights", log)
    assert ours and theirs and ours.groups() == theirs.groups(), log[-3000:]
    done, total = map(int, ours.groups())
    assert 0.95 * total < done < total  # all but the class-specific output layers
    assert (tmp_path / "ft" / "weights" / "best.pt").is_file()
