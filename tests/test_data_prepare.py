"""First-use preparation of the public PCB datasets (yolo_freq.data.prepare): the bundled dataset YAMLs found by bare
name, deeppcb.yaml's download: hook run through Ultralytics, and DsPCBSD+-like archives (COCO or VOC inside) found and
converted.

Archives are crafted in tmp_path (nothing is downloaded); Ultralytics' own dataset loader checks that what is written
is what `yolo train` reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import _coco_doc, _zip, make_image, ultralytics_reads, voc_xml

from yolo_freq.data import ConversionError, prepare
from yolo_freq.registry import DATASETS_DIR, find_bundled

DSPCBSD_NAMES = ["SH", "SP", "SC", "OP", "MB", "HB", "CS", "CFO", "BMFO"]


def test_dataset_yamls_found_by_bare_name():
    from ultralytics.utils.checks import check_yaml

    for name, n, fn in (("deeppcb.yaml", 6, "prepare_deeppcb"), ("dspcbsd.yaml", 9, "prepare_dspcbsd")):
        path = Path(check_yaml(name))
        assert path == find_bundled(name) and path.parent == DATASETS_DIR
        d = yaml.safe_load(path.read_text())
        assert len(d["names"]) == n and d["train"] == "images/train" and d["val"] == "images/val"
        assert f"from yolo_freq.data import {fn}" in d["download"] and f"{fn}(yaml)" in d["download"]
    assert list(yaml.safe_load(find_bundled("dspcbsd.yaml").read_text())["names"].values()) == DSPCBSD_NAMES


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
