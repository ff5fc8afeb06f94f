"""`yolo-freq convert` on COCO detection JSON (yolo_freq.data.coco): one file with one of each fault, every one reported,
and a folder of files that goes on past a broken one.

Inputs are crafted in tmp_path; Ultralytics' own dataset loader checks that what is written is what `yolo train` reads.
"""

from __future__ import annotations

import json

from helpers import _coco_doc, issue_counts, make_image, tree_state, ultralytics_reads

from yolo_freq import cli
from yolo_freq.data import convert


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
