"""`yolo-freq convert` on Pascal VOC XML (yolo_freq.data.voc): a LabelImg folder with one of each fault, every one
reported (helpers._voc_folder), and the split taken from ImageSets lists or train/valid folders.

Inputs are crafted in tmp_path; Ultralytics' own dataset loader checks that what is written is what `yolo train` reads.
"""

from __future__ import annotations

import json

import numpy as np
import yaml
from helpers import _voc_folder, issue_counts, label_rows, make_image, tree_state, ultralytics_reads, voc_xml

from yolo_freq import cli
from yolo_freq.data import convert


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
