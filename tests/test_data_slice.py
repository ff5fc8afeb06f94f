"""`yolo-freq slice` (yolo_freq.data.slicing): tile windows, box clipping and the visibility rule on hand-computed
cases, pixels and channels kept bitwise, the seeded background draw, every bad input, and Ultralytics reading the
tiles. Datasets are made in tmp_path, a few pixels each."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from helpers import ultralytics_reads
from PIL import Image

from yolo_freq import cli
from yolo_freq.data import ConversionError
from yolo_freq.data.slicing import slice_dataset, tile_windows
from yolo_freq.reference import CompositeSpec, write_composite


def pattern(h: int, w: int, channels: int = 3, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """Random pixels, each channel offset by its index so that a channel swap shows."""
    rng = np.random.default_rng(seed)
    top = 200 if dtype == np.uint8 else 60000
    im = rng.integers(0, top, (h, w, channels)).astype(dtype) + np.arange(channels, dtype=dtype) * 7
    return im[..., 0] if channels == 1 else im


def yolo_row(cls: int, x1: float, y1: float, x2: float, y2: float, w: int, h: int) -> str:
    """A YOLO label row for pixel corners, written with every digit (repr) so the pixels come back exactly."""
    return f"{cls} {(x1 + x2) / 2 / w!r} {(y1 + y2) / 2 / h!r} {(x2 - x1) / w!r} {(y2 - y1) / h!r}"


def dataset(root: Path, splits: dict, names=("a", "b"), **extra) -> Path:
    """A YOLO dataset: ``splits`` maps split -> {file name: (image array, [pixel boxes (cls, x1, y1, x2, y2)])}."""
    for split, images in splits.items():
        for name, (image, boxes) in images.items():
            path = root / "images" / split / name
            path.parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(path), image)
            h, w = image.shape[:2]
            label = root / "labels" / split / f"{Path(name).stem}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(yolo_row(*b, w, h) + "\n" for b in boxes))
    data = {"path": str(root), "train": "images/train", "val": "images/val" if "val" in splits else "images/train"}
    data.update(extra, names=list(names))
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root / "data.yaml"


def rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def tile_boxes(out: Path, split: str, stem: str, window) -> list[tuple]:
    """A tile's label rows as pixel corners in the source image (class, x1, y1, x2, y2), rounded to 1e-3 px."""
    x0, y0, x1, y1 = window
    tw, th = x1 - x0, y1 - y0
    return sorted(
        (int(c), *(round(v, 3) for v in (x0 + (cx - w / 2) * tw, y0 + (cy - h / 2) * th,
                                           x0 + (cx + w / 2) * tw, y0 + (cy + h / 2) * th)))
        for c, cx, cy, w, h in rows(out / "labels" / split / f"{stem}_x{x0}_y{y0}.txt")
    )  # fmt: skip


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_windows_and_clipped_boxes_hand_computed(tmp_path):
    """300x200 image, tile 128, overlap 0.25 (32 px): SAHI's windows step 96 and the last ones end at the edges."""
    expected = [(0, 0, 128, 128), (96, 0, 224, 128), (172, 0, 300, 128)]
    expected += [(0, 72, 128, 200), (96, 72, 224, 200), (172, 72, 300, 200)]
    assert tile_windows(300, 200, 128, 0.25) == expected
    box = (0, 100, 50, 140, 90)  # 40x40 px
    data = dataset(tmp_path / "src", {"train": {"b.png": (pattern(200, 300), [box])}})
    out = tmp_path / "out"
    slice_dataset(data, out, tile=128, overlap=0.25, empty_ratio=0)
    # (0, 0): 28 of 40 columns inside (70 %): kept, clipped; (96, 0): whole; (172, 0): none of it
    np.testing.assert_allclose(rows(out / "labels/train/b_x0_y0.txt"), [[0, 114 / 128, 70 / 128, 28 / 128, 40 / 128]])
    np.testing.assert_allclose(rows(out / "labels/train/b_x96_y0.txt"), [[0, 24 / 128, 70 / 128, 40 / 128, 40 / 128]])
    # second row: rows 72..90 of 50..90 inside: 28x18 (31.5 %) and 40x18 (45 %), below 0.5: left out, listed
    dropped = [i["data"] for i in report(out)["issues"] if i["kind"] == "box_below_visibility"]
    assert [(d["tile"], d["box"], d["visible"]) for d in dropped] == [
        ([0, 72, 128, 200], [100, 50, 140, 90], 0.315),
        ([96, 72, 224, 200], [100, 50, 140, 90], 0.45),
    ]
    assert sorted(p.name for p in (out / "images/train").iterdir()) == ["b_x0_y0.png", "b_x96_y0.png"]
    counts = report(out)["splits"]["train"]
    assert counts["tiles"] == 6 and counts["partial_only_tiles"] == 2 and counts["empty_tiles"] == 2
    assert "at least 0.5 of its area" in (out / "report.txt").read_text()


@pytest.mark.parametrize(
    "x1, min_visibility, kept_left",
    [(44, 0.5, True), (45, 0.5, False), (45, 0.475, True), (46, 0.475, False)],
    ids=["at-0.5", "just-below-0.5", "at-0.475", "just-below-0.475"],
)
def test_visibility_rule_at_the_threshold(tmp_path, x1, min_visibility, kept_left):
    """Two 64 px tiles side by side, a 40 px box across the seam: x1 - 64 + 40 of its columns lie in the left tile."""
    data = dataset(tmp_path / "src", {"train": {"b.png": (pattern(64, 128), [(1, x1, 10, x1 + 40, 30)])}})
    out = tmp_path / "out"
    slice_dataset(data, out, tile=64, overlap=0, min_visibility=min_visibility)
    visible = (64 - x1) / 40
    left = tile_boxes(out, "train", "b", (0, 0, 64, 64)) if (out / "labels/train/b_x0_y0.txt").exists() else []
    assert left == ([(1, x1, 10, 64, 30)] if kept_left else [])
    assert tile_boxes(out, "train", "b", (64, 0, 128, 64)) == [(1, 64, 10, x1 + 40, 30)]
    dropped = [i["data"] for i in report(out)["issues"] if i["kind"] == "box_below_visibility"]
    assert dropped == ([] if kept_left else [{"tile": [0, 0, 64, 64], "box": [x1, 10, x1 + 40, 30], "class": "b",
                                              "visible": visible}])  # fmt: skip


def test_every_box_accounted_for(tmp_path):
    """Each box is in exactly the tiles that hold at least half of it, clipped there; a box wholly inside a tile is
    there whole; every partial drop is listed; and nothing else is written."""
    rng = np.random.default_rng(3)
    w, h, tile, overlap = 500, 380, 128, 0.25
    boxes = []
    for k in range(30):
        bw, bh = rng.integers(4, 33 if k % 2 else 90, 2)  # half of them no larger than the 32 px overlap
        x, y = rng.integers(0, w - bw), rng.integers(0, h - bh)
        boxes.append((int(rng.integers(0, 2)), int(x), int(y), int(x + bw), int(y + bh)))
    data = dataset(tmp_path / "src", {"train": {"b.png": (pattern(h, w), boxes)}})
    out = tmp_path / "out"
    slice_dataset(data, out, tile=tile, overlap=overlap, empty_ratio=100)
    windows = tile_windows(w, h, tile, overlap)
    written, expected_drops = 0, 0
    for x0, y0, x1, y1 in windows:
        expected = []
        for c, bx1, by1, bx2, by2 in boxes:
            ix1, iy1, ix2, iy2 = max(bx1, x0), max(by1, y0), min(bx2, x1), min(by2, y1)
            if ix2 <= ix1 or iy2 <= iy1:
                continue
            fraction = (ix2 - ix1) * (iy2 - iy1) / ((bx2 - bx1) * (by2 - by1))
            if fraction >= 0.5:
                expected.append((c, ix1, iy1, ix2, iy2))
            else:
                expected_drops += 1
        label = out / "labels/train" / f"b_x{x0}_y{y0}.txt"
        if label.exists():
            written += 1
            assert tile_boxes(out, "train", "b", (x0, y0, x1, y1)) == sorted(expected)
        else:  # only tiles showing nothing but boxes below the threshold are not written
            assert not expected
    for c, bx1, by1, bx2, by2 in boxes:
        holders = [wd for wd in windows if wd[0] <= bx1 and wd[1] <= by1 and bx2 <= wd[2] and by2 <= wd[3]]
        for wd in holders:  # whole in every tile that holds it whole
            assert (c, bx1, by1, bx2, by2) in tile_boxes(out, "train", "b", wd)
        if bx2 - bx1 <= 32 and by2 - by1 <= 32:  # SAHI's windows overlap by 32 px: such a box fits whole in one
            assert holders
    r = report(out)
    assert r["counts"]["box_below_visibility"] == expected_drops > 0
    assert r["splits"]["train"]["tiles_with_boxes"] + r["splits"]["train"]["empty_written"] == written
    assert sum(r["splits"]["train"]["boxes_written"].values()) == sum(len(rows(p)) for p in out.glob("labels/*/*"))


def _tiff6(path: Path, image: np.ndarray) -> Path:
    return write_composite(path, image)  # how `yolo-freq convert --composite colour6` writes its composites


@pytest.mark.parametrize(
    "name, image",
    [
        ("c6.tif", pattern(150, 170, 6, seed=1)),
        ("grey16.png", pattern(150, 170, 1, np.uint16, seed=2)),
        ("bgra.png", pattern(150, 170, 4, seed=3)),
        ("grey.bmp", pattern(150, 170, 1, seed=4)),
    ],
    ids=["6-channel-tiff", "16-bit-grey-png", "bgra-png", "grey-bmp"],
)
def test_tiles_equal_the_source_crop_bitwise(tmp_path, name, image):
    src = tmp_path / "src"
    extra = {}
    if name.endswith(".tif"):
        extra = {"channels": 6, "reference": CompositeSpec("colour6").to_dict()}
    data = dataset(src, {"train": {"x.png": (pattern(64, 64), [(0, 5, 5, 20, 20)])}}, **extra)
    path = src / "images/train" / name
    if name.endswith(".tif"):
        _tiff6(path.with_suffix(""), image)
    else:
        assert cv2.imwrite(str(path), image)
    (src / "labels/train" / f"{path.stem}.txt").write_text(yolo_row(1, 10, 10, 160, 140, 170, 150) + "\n")
    out = tmp_path / "out"
    slice_dataset(data, out, tile=64, overlap=0.1, min_visibility=0.01)  # the box is kept in every tile
    tiles = sorted((out / "images/train").glob(f"{path.stem}_x*"))
    assert len(tiles) == len(tile_windows(170, 150, 64, 0.1)) == 9
    for t in tiles:
        assert t.suffix == path.suffix
        x0, y0 = (int(v[1:]) for v in t.stem.split("_")[-2:])
        if name.endswith(".tif"):
            ok, pages = cv2.imreadmulti(str(t), flags=cv2.IMREAD_UNCHANGED)
            got = np.stack(pages, axis=2)
        else:
            got = cv2.imread(str(t), cv2.IMREAD_UNCHANGED)
        assert got.dtype == image.dtype and got.shape[2:] == image.shape[2:]
        np.testing.assert_array_equal(got, image[y0 : y0 + 64, x0 : x0 + 64])
    written = yaml.safe_load((out / "data.yaml").read_text())
    assert written["names"] == {0: "a", 1: "b"} and {k: written.get(k) for k in extra} == extra


def test_exif_orientation_applied_as_ultralytics_loads_the_image(tmp_path):
    """A JPEG stored sideways with EXIF orientation 6: its labels refer to the upright image, as Ultralytics loads it."""
    for folder in ("images", "labels"):
        (tmp_path / "src" / folder / "train").mkdir(parents=True)
    data = dataset(tmp_path / "src", {"train": {}})
    upright = cv2.GaussianBlur(pattern(96, 160), (0, 0), 3)  # smooth: JPEG keeps it within a few levels
    stored = np.rot90(upright, 1)  # orientation 6 means: turn 90 degrees clockwise to display
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "src/images/train/photo.jpg"
    Image.fromarray(stored[..., ::-1].copy()).save(path, exif=exif, quality=98)
    (tmp_path / "src/labels/train/photo.txt").write_text(yolo_row(0, 10, 10, 40, 40, 160, 96) + "\n")
    loaded = cv2.imread(str(path))  # what Ultralytics' loader reads
    assert loaded.shape[:2] == (96, 160)
    out = tmp_path / "out"
    slice_dataset(data, out, tile=96, overlap=0)
    tile = cv2.imread(str(out / "images/train/photo_x0_y0.jpg"))
    assert tile.shape[:2] == (96, 96)
    assert np.abs(tile.astype(int) - loaded[:, :96]).mean() < 3
    assert tile_boxes(out, "train", "photo", (0, 0, 96, 96)) == [(0, 10, 10, 40, 40)]


@pytest.mark.parametrize("ratio", [0, 0.5, 1, 100])
def test_background_tiles_by_ratio_and_seed(tmp_path, ratio):
    """20 tiles of 32 px per image: train has 2 with a box, val 1; floor(ratio x that) background tiles are drawn in
    each split, the same ones for the same seed."""
    data = dataset(tmp_path / "src", {"train": {"b.png": (pattern(64, 320), [(0, 10, 10, 20, 20), (1, 170, 40, 180, 50)])},
                                      "val": {"v.png": (pattern(64, 320), [(0, 74, 10, 84, 20)])}})  # fmt: skip
    boxed = {"train": 2, "val": 1}
    expected = {s: min(20 - n, int(ratio * n)) for s, n in boxed.items()}
    chosen = {}
    for run, seed in enumerate((0, 0, 1, 2, 3)):
        out = tmp_path / f"out{run}"
        slice_dataset(data, out, tile=32, overlap=0, empty_ratio=ratio, seed=seed)
        r = report(out)
        for split, n in boxed.items():
            c = r["splits"][split]
            assert (c["tiles_with_boxes"], c["empty_tiles"], c["empty_written"]) == (n, 20 - n, expected[split])
            backgrounds = [p for p in (out / "labels" / split).iterdir() if p.read_text() == ""]
            assert len(backgrounds) == expected[split] == len(list((out / "images" / split).iterdir())) - n
        names = sorted(p.name for p in out.glob("images/*/*"))
        assert chosen.setdefault(seed, names) == names  # the same seed draws the same tiles
    if 0 < ratio < 9:
        assert len({tuple(v) for v in chosen.values()}) > 1  # other seeds draw other tiles


@pytest.mark.parametrize(
    "size, tile, windows, line",
    [
        ((100, 80), 128, [(0, 0, 100, 80)], "100x80 image, 128 px tile: kept whole as one tile"),
        ((100, 80), 640, [(0, 0, 100, 80)], "100x80 image, 640 px tile: kept whole as one tile"),
        ((300, 80), 128, [(0, 0, 128, 80), (103, 0, 231, 80), (172, 0, 300, 80)], "cut to it on that side"),
    ],
    ids=["smaller-than-tile", "tile-far-larger", "narrower-on-one-side"],
)
def test_image_smaller_than_the_tile(tmp_path, size, tile, windows, line):
    w, h = size
    data = dataset(tmp_path / "src", {"train": {"s.png": (pattern(h, w), [(0, 20, 20, 40, 40)])}})
    out = tmp_path / "out"
    slice_dataset(data, out, tile=tile, overlap=0.2, empty_ratio=10)
    assert tile_windows(w, h, tile, 0.2) == windows
    assert sorted(p.stem for p in (out / "images/train").iterdir()) == sorted(f"s_x{x}_y{y}" for x, y, *_ in windows)
    np.testing.assert_array_equal(cv2.imread(str(out / "images/train/s_x0_y0.png")), pattern(h, w)[:, : windows[0][2]])
    issues = [i for i in report(out)["issues"] if i["kind"] == "small_image"]
    assert len(issues) == 1 and line in issues[0]["detail"]


def _cli(capsys, *argv) -> tuple[int, str]:
    """`yolo-freq slice ARGV`: its exit code and stderr (stdout is kept in ``_cli.out``)."""
    code = cli.main(["slice", *map(str, argv)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    _cli.out = captured.out
    return code, captured.err


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--overlap", -0.1, "--overlap must be a fraction in [0, 1)"),
        ("--overlap", 1.0, "--overlap must be a fraction in [0, 1)"),
        ("--tile", 16, "--tile must be a whole number of pixels, at least 32"),
        ("--min-visibility", 0, "--min-visibility must be a fraction in (0, 1]"),
        ("--min-visibility", 1.5, "--min-visibility must be a fraction in (0, 1]"),
        ("--empty-ratio", -1, "--empty-ratio must be a number >= 0"),
    ],
)
def test_bad_settings_are_one_line_usage_errors(tmp_path, capsys, option, value, message):
    data = dataset(tmp_path / "src", {"train": {"b.png": (pattern(64, 64), [])}})
    code, err = _cli(capsys, data, "--out", tmp_path / "out", option, value)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["64.5", "big"])
def test_tile_not_an_integer_is_a_usage_error(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as e:
        cli.main(["slice", str(tmp_path / "d.yaml"), "--out", str(tmp_path / "o"), "--tile", value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument --tile: invalid int value: '{value}'" in err and "Traceback" not in err


def test_missing_data_yaml_and_missing_sahi(tmp_path, capsys, monkeypatch):
    code, err = _cli(capsys, tmp_path / "nowhere/data.yaml", "--out", tmp_path / "out")
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    data = dataset(tmp_path / "src", {"train": {"b.png": (pattern(64, 64), [])}})
    monkeypatch.setitem(sys.modules, "sahi", None)  # import sahi now fails, as where the extra is not installed
    monkeypatch.setitem(sys.modules, "sahi.slicing", None)
    code, err = _cli(capsys, data, "--out", tmp_path / "out")
    assert code == 2 and 'pip install "yolo-freq[slice]"' in err and len(err.strip().splitlines()) == 1


def test_corrupt_image_is_reported_and_nothing_else_lost(tmp_path, capsys):
    data = dataset(tmp_path / "src", {"train": {f"b{k}.png": (pattern(64, 128, seed=k), [(0, 5, 5, 30, 30)])
                                                for k in range(3)}})  # fmt: skip
    (tmp_path / "src/images/train/b1.png").write_bytes(b"\x89PNG\r\n\x1a\n not a PNG after all")
    (tmp_path / "src/images/train/b3.png").write_bytes(b"")
    out = tmp_path / "out"
    code, _ = _cli(capsys, data, "--out", out)
    assert code == 0
    r = report(out)
    assert [i["where"] for i in r["issues"] if i["kind"] == "unreadable_image"] == [
        "images/train/b1.png",
        "images/train/b3.png",
    ]
    assert r["splits"]["train"]["images"] == 4 and r["splits"]["train"]["images_sliced"] == 2
    assert sorted(p.name for p in (out / "images/train").iterdir()) == ["b0_x0_y0.png", "b2_x0_y0.png"]
    assert "unreadable image (image skipped): images/train/b1.png" in (out / "report.txt").read_text()


def test_output_folder_rules(tmp_path, capsys):
    data = dataset(tmp_path / "src", {"train": {"b.png": (pattern(64, 64), [(0, 20, 5, 44, 30)])}})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, err = _cli(capsys, data, "--out", mine)
    assert code == 2 and "not empty" in err and "--exist-ok" in err and (mine / "notes.txt").read_text() == "mine"
    code, err = _cli(capsys, data, "--out", tmp_path / "src/images/train/tiles")
    assert code == 2 and "overlaps the source images" in err
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    (other / "data.yaml").write_text("names: [x]\n")
    code, err = _cli(capsys, data, "--out", other, "--exist-ok")
    assert code == 2 and "never replaced" in err and (other / "data.yaml").read_text() == "names: [x]\n"

    out = tmp_path / "out"
    assert _cli(capsys, data, "--out", out)[0] == 0
    code, err = _cli(capsys, data, "--out", out)
    assert code == 2 and "--exist-ok" in err
    (out / "images/train/stray.png").write_bytes(b"")
    assert _cli(capsys, data, "--out", out, "--exist-ok", "--tile", "32", "--overlap", "0")[0] == 0
    assert sorted(p.name for p in (out / "images/train").iterdir()) == ["b_x0_y0.png", "b_x32_y0.png"]
    assert not list(out.glob(".slice-*"))


def test_cli_end_to_end_ultralytics_reads_the_tiles(tmp_path, capsys):
    """Three splits, val given as a text list of images (Ultralytics' `./` rule): every split is sliced, and
    Ultralytics' checker and dataset read the tiles with their labels."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    src = tmp_path / "src"
    data = dataset(src, {
        "train": {"t.png": (pattern(100, 150), [(0, 10, 10, 40, 30), (1, 100, 60, 140, 95)])},
        "held": {"v.png": (pattern(100, 150, seed=1), [(1, 70, 40, 90, 60)])},
        "test": {"x.png": (pattern(100, 150, seed=2), [(0, 5, 50, 25, 70)])},
    })  # fmt: skip
    (src / "val.txt").write_text("./images/held/v.png\n")
    d = yaml.safe_load(data.read_text())
    data.write_text(yaml.safe_dump({**d, "val": "val.txt", "test": "images/test"}))
    out = tmp_path / "out"
    code, _ = _cli(capsys, data, "--out", out, "--tile", "64", "--overlap", "0.2")
    assert code == 0 and f"Dataset YAML: {out}/data.yaml" in _cli.out
    checked = check_det_dataset(str(out / "data.yaml"))
    assert checked["names"] == {0: "a", 1: "b"} and Path(checked["test"]) == out / "images/test"
    r = report(out)
    assert set(r["splits"]) == {"train", "val", "test"}
    written = {s: sum(c["boxes_written"].values()) for s, c in r["splits"].items()}
    tiles = {s: c["tiles_with_boxes"] + c["empty_written"] for s, c in r["splits"].items()}
    assert ultralytics_reads(out / "data.yaml") == {s: (tiles[s], written[s]) for s in ("train", "val")}
    ds = build_yolo_dataset(get_cfg(overrides={"imgsz": 64}), checked["train"], 1, checked, mode="val")
    i = next(k for k, f in enumerate(ds.im_files) if Path(f).name == "t_x0_y0.png")
    np.testing.assert_array_equal(ds.load_image(i)[0], pattern(100, 150)[:64, :64])
    np.testing.assert_allclose(ds.labels[i]["bboxes"], [[25 / 64, 20 / 64, 30 / 64, 20 / 64]], atol=1e-6)
    assert ds.labels[i]["cls"].ravel().tolist() == [0]


def test_slice_dataset_refuses_bad_settings_from_python(tmp_path):
    data = dataset(tmp_path / "src", {"train": {"b.png": (pattern(64, 64), [])}})
    with pytest.raises(ConversionError, match="--tile"):
        slice_dataset(data, tmp_path / "o", tile=64.0)


def test_label_files_the_report_explains(tmp_path, capsys):
    """A malformed label file skips its image, a segment row is sliced as its bounding box, an image without a label
    file gives background tiles, and a val split naming train's images points at train's tiles."""
    data = dataset(
        tmp_path / "src", {"train": {f"{k}.png": (pattern(64, 64, seed=i), []) for i, k in enumerate("abcd")}}
    )
    labels = tmp_path / "src/labels/train"
    (labels / "a.txt").write_text("0 0.5 0.5 0.2\n")  # four fields
    (labels / "b.txt").write_text("7 0.5 0.5 0.2 0.2\n")  # class 7 of 2
    (labels / "c.txt").write_text("1 0.25 0.25 0.75 0.25 0.5 0.75\n")  # a triangle: box 16..48 x 16..48
    (labels / "d.txt").unlink()
    out = tmp_path / "out"
    code, _ = _cli(capsys, data, "--out", out, "--empty-ratio", "1", "--tile", "64")
    assert code == 0
    r = report(out)
    assert r["counts"] == {"malformed_labels": 2, "no_label_file": 1}
    assert [i["detail"] for i in r["issues"][:2]] == [
        "a.txt: line 1: expected 'class cx cy w h' or a segment, got '0 0.5 0.5 0.2'",
        "b.txt: line 1: class 7 is not one of the 2 classes",
    ]
    assert tile_boxes(out, "train", "c", (0, 0, 64, 64)) == [(1, 16, 16, 48, 48)]
    assert (out / "labels/train/d_x0_y0.txt").read_text() == ""  # d's one tile, drawn as background
    assert "train: 1 segment rows sliced as their bounding boxes" in r["notes"]
    assert yaml.safe_load((out / "data.yaml").read_text())["val"] == "images/train"
    assert "val names the same images as train" in " ".join(r["notes"])

    for k in "cd":
        (tmp_path / f"src/images/train/{k}.png").write_bytes(b"")
    code, err = _cli(capsys, data, "--out", out, "--exist-ok", "--tile", "64")
    assert code == 2 and "no tile written" in err and "earlier slicing" in err
    assert (out / "report-failed.txt").is_file() and report(out)["counts"] == {
        "malformed_labels": 2,
        "no_label_file": 1,
    }
