"""`yolo-freq assemble-boards` (yolo_freq.data.boards): whole boards and golden boards from DeepPCB crops, their boxes,
and the existing DeepPCB converter, golden-reference conversion and reference mapping reading them. DeepPCB layouts
are made in tmp_path; the real six-pair sample in tests/data is assembled too."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from helpers import tree_state, ultralytics_reads

from yolo_freq import cli
from yolo_freq.data import convert
from yolo_freq.data.boards import assemble_boards
from yolo_freq.data.references import reference_finder
from yolo_freq.reference import CompositeSpec

SAMPLE = Path(__file__).resolve().parent / "data" / "deeppcb-sample"


def crop(cell: int, seed: int) -> np.ndarray:
    """A grey crop of blocky random content (quick to encode), different for every seed."""
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (cell // 16, cell // 16), dtype=np.uint8), (cell, cell), cv2.INTER_NEAREST)


def deeppcb_layout(root: Path, groups: dict[str, int], cell: int = 640, suffix: str = ".jpg") -> Path:
    """DeepPCB's raw layout with ``groups[g]`` crops in group g: a template, its crop with two defects painted in,
    and their boxes; returns the PCBData folder. DeepPCB's files are JPEGs; PNGs decode faster."""
    pcb = root / "PCBData"
    lines = []
    for g, n in groups.items():
        images, notes = pcb / f"group{g}" / g, pcb / f"group{g}" / f"{g}_not"
        images.mkdir(parents=True)
        notes.mkdir(parents=True)
        for k in range(n):
            name, seed = f"{g}{k:03d}", int(g) + k
            template = crop(cell, seed)
            test = template.copy()
            rng = np.random.default_rng(seed)
            boxes = []
            for kind in (1, 1 + k % 6):
                x, y = (int(v) for v in rng.integers(0, cell - 40, 2))
                test[y : y + 20, x : x + 30] = 255 - test[y : y + 20, x : x + 30]
                boxes.append((x, y, x + 30, y + 20, kind))
            assert cv2.imwrite(str(images / f"{name}_test{suffix}"), test)
            assert cv2.imwrite(str(images / f"{name}_temp{suffix}"), template)
            (notes / f"{name}.txt").write_text("".join(" ".join(map(str, b)) + "\n" for b in boxes))
            lines.append(f"group{g}/{g}/{name}{suffix} group{g}/{g}_not/{name}.txt\n")
    (pcb / "trainval.txt").write_text("".join(lines))
    return pcb


def source_boxes(pcb: Path, name: str) -> list[list[float]]:
    g = name[:5]
    path = pcb / f"group{g}" / f"{g}_not" / f"{name}.txt"
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def test_grid_4_boards_are_the_crops_and_templates_in_place_with_shifted_boxes(tmp_path):
    pcb = deeppcb_layout(tmp_path / "src", {"10000": 17}, suffix=".png")
    before = tree_state(tmp_path / "src")
    out = tmp_path / "boards"
    report = assemble_boards(pcb, out, grid=4, seed=1)
    assert tree_state(tmp_path / "src") == before
    r = json.loads((out / "report.json").read_text())
    assert [(b["name"], b["split"]) for b in r["boards"]] == [("10000_board00", "train")]
    assert "group 10000: 1 of 17 crops left over" in r["notes"]
    for board in r["boards"]:
        g, name = board["group"], board["name"]
        assert len(set(board["crops"])) == 16
        test = cv2.imread(str(out / f"PCBData/group{g}/{g}/{name}_test.png"), cv2.IMREAD_UNCHANGED)
        golden = cv2.imread(str(out / f"PCBData/group{g}/{g}/{name}_temp.png"), cv2.IMREAD_UNCHANGED)
        assert test.shape == golden.shape == (2560, 2560)
        expected_rows = []
        for i, stem in enumerate(board["crops"]):
            dy, dx = divmod(i, 4)
            cell = np.s_[dy * 640 : (dy + 1) * 640, dx * 640 : (dx + 1) * 640]
            for suffix, assembled in (("test", test), ("temp", golden)):
                source = cv2.imread(str(pcb / f"group{g}/{g}/{stem}_{suffix}.png"), cv2.IMREAD_UNCHANGED)
                np.testing.assert_array_equal(assembled[cell], source)
            expected_rows += [[x1 + dx * 640, y1 + dy * 640, x2 + dx * 640, y2 + dy * 640, t]
                              for x1, y1, x2, y2, t in source_boxes(pcb, stem)]  # fmt: skip
        written = [[float(v) for v in line.split()] for line in (out / f"PCBData/group{g}/{g}_not/{name}.txt").open()]
        assert written == expected_rows and len(written) == 32
    assert report.boxes == {"train": 32}
    # the YOLO dataset converted from them (one board, no held-out group: val points at train), read by Ultralytics
    assert yaml.safe_load((out / "yolo/data.yaml").read_text())["names"][0] == "open"
    assert ultralytics_reads(out / "yolo/data.yaml") == {"train": (1, 32), "val": (1, 32)}
    assert report.dataset.problems == 0 and report.dataset.images == {"train": 1, "val": 0}


def test_boards_feed_the_golden_reference_workflow(tmp_path):
    """`yolo-freq convert --reference paired` composes each board with its golden board; references.csv gives
    `yolo-freq predict reference=` every board's golden board."""
    pcb = deeppcb_layout(tmp_path / "src", {"20000": 4, "92000": 5}, cell=128)
    out = tmp_path / "boards"
    assemble_boards(pcb, out, grid=2)
    ref = convert(out / "PCBData", tmp_path / "ref", reference="paired", spec=CompositeSpec(align=False))
    assert ref.problems == 0 and ref.images == {"train": 1, "val": 1}
    composite = cv2.imread(str(tmp_path / "ref/images/train/20000_board00.png"), cv2.IMREAD_UNCHANGED)
    board = cv2.imread(str(out / "PCBData/group20000/20000/20000_board00_test.png"), cv2.IMREAD_UNCHANGED)
    golden = cv2.imread(str(out / "PCBData/group20000/20000/20000_board00_temp.png"), cv2.IMREAD_UNCHANGED)
    assert composite.shape == (256, 256, 3)
    np.testing.assert_array_equal(composite[..., 0], board)
    np.testing.assert_array_equal(composite[..., 1], golden)
    find = reference_finder(out / "references.csv", tmp_path)
    for name in ("20000_board00", "92000_board00"):
        g = name[:5]
        image = out / f"PCBData/group{g}/{g}/{name}_test.png"
        assert find(image) == (out / f"PCBData/group{g}/{g}/{name}_temp.png", "")


def test_real_deeppcb_sample_through_the_cli(tmp_path, capsys):
    """The six real pairs, one crop per board, at most one board per group: colour templates stay colour, the
    held-out group 77000 is val, and the crops are the source's pixels."""
    out = tmp_path / "boards"
    before = tree_state(SAMPLE)
    assert cli.main(["assemble-boards", str(SAMPLE), "--out", str(out), "--grid", "1", "--boards", "1"]) == 0
    assert tree_state(SAMPLE) == before
    printed = capsys.readouterr().out
    assert "train: 2 boards" in printed and "val: 1 boards" in printed and "references.csv" in printed
    r = json.loads((out / "report.json").read_text())
    assert [(b["group"], b["split"]) for b in r["boards"]] == [("00041", "train"), ("13000", "train"), ("77000", "val")]
    assert "group 13000: 2 of 3 crops left over" in r["notes"] and r["left_out"] == []
    for b in r["boards"]:
        g, stem = b["group"], b["crops"][0]
        for suffix in ("test", "temp"):
            source = cv2.imread(str(SAMPLE / f"PCBData/group{g}/{g}/{stem}_{suffix}.jpg"), cv2.IMREAD_UNCHANGED)
            board = cv2.imread(str(out / f"PCBData/group{g}/{g}/{b['name']}_{suffix}.png"), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(board, source)  # grey stays grey, colour (13000000_temp) stays colour
        assert source_boxes(out / "PCBData", b["name"]) == source_boxes(SAMPLE / "PCBData", stem)
    assert json.loads((out / "yolo/report.json").read_text())["images_written"] == {"train": 2, "val": 1}


def test_mixed_grey_and_colour_crops_make_a_colour_board(tmp_path):
    pcb = deeppcb_layout(tmp_path / "src", {"30000": 4}, cell=64)
    template = pcb / "group30000/30000/30000002_temp.jpg"
    grey = cv2.imread(str(template), cv2.IMREAD_UNCHANGED)
    assert cv2.imwrite(str(template), cv2.merge([grey, grey // 2, grey // 3]))
    colour = cv2.imread(str(template), cv2.IMREAD_UNCHANGED)
    out = tmp_path / "boards"
    assemble_boards(pcb, out, grid=2)
    crops = json.loads((out / "report.json").read_text())["boards"][0]["crops"]
    golden = cv2.imread(str(out / "PCBData/group30000/30000/30000_board00_temp.png"), cv2.IMREAD_UNCHANGED)
    assert golden.shape == (128, 128, 3)
    for i, stem in enumerate(crops):
        dy, dx = divmod(i, 2)
        cell = golden[dy * 64 : (dy + 1) * 64, dx * 64 : (dx + 1) * 64]
        if stem == "30000002":
            np.testing.assert_array_equal(cell, colour)
        else:  # a grey crop on a colour board: B = G = R = its grey values
            source = cv2.imread(str(pcb / f"group30000/30000/{stem}_temp.jpg"), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(cell, np.dstack([source] * 3))


def test_faulty_crops_and_boxes_are_left_out_and_reported(tmp_path):
    pcb = deeppcb_layout(tmp_path / "src", {"40000": 6}, cell=64)
    (pcb / "group40000/40000/40000001_temp.jpg").write_bytes(b"\xff\xd8 not a JPEG")
    (pcb / "group40000/40000/40000002_temp.jpg").unlink()
    assert cv2.imwrite(str(pcb / "group40000/40000/40000003_test.jpg"), crop(96, 1))
    (pcb / "group40000/40000_not/40000004.txt").write_text("50 10 80 30 2\n70 70 90 90 3\n")
    out = tmp_path / "boards"
    report = assemble_boards(pcb, out, grid=1)
    lines = "\n".join(report.lines)
    assert "unreadable template (crop left out): group40000/40000/40000001_temp.jpg" in lines
    assert "crop without its template (left out): group40000/40000/40000002_test.jpg" in lines
    assert "crop of another size (left out): group40000/40000/40000003_test.jpg: 96x96" in lines
    assert "box outside its crop (clipped to it): group40000/40000_not/40000004.txt line 1" in lines
    assert "box without area in its crop (left out): group40000/40000_not/40000004.txt line 2" in lines
    assert sorted(b["crops"][0] for b in report.boards) == ["40000000", "40000004", "40000005"]
    clipped = next(b["name"] for b in report.boards if b["crops"] == ["40000004"])
    assert source_boxes(out / "PCBData", clipped) == [[50, 10, 64, 30, 2]]
    assert "crops or boxes left out: 5" in (out / "report.txt").read_text()


def _cli(capsys, *argv) -> tuple[int, str]:
    code = cli.main(["assemble-boards", *map(str, argv)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    "groups, options, message",
    [
        ({"50000": 4}, ["--grid", "0"], "--grid must be a whole number of crops per side, at least 1"),
        ({"50000": 4}, ["--boards", "0"], "--boards must be a whole number, at least 1"),
        ({"50000": 3}, ["--grid", "2"], "no training board: no group"),
        ({"77000": 4, "92000": 4}, ["--grid", "2"], "no training board"),
    ],
    ids=["grid-0", "boards-0", "group-too-small", "only-val-groups"],
)
def test_bad_settings_are_one_line_errors(tmp_path, capsys, groups, options, message):
    pcb = deeppcb_layout(tmp_path / "src", groups, cell=64)
    code, err = _cli(capsys, pcb, "--out", tmp_path / "out", *options)
    assert code == 2 and message in err and err.startswith("yolo-freq assemble-boards: error:")
    assert not (tmp_path / "out").exists()


def test_bad_source_and_output_folder(tmp_path, capsys):
    code, err = _cli(capsys, tmp_path / "nowhere", "--out", tmp_path / "o1")
    assert code == 2 and "is not a folder" in err
    (tmp_path / "plain").mkdir()
    code, err = _cli(capsys, tmp_path / "plain", "--out", tmp_path / "o2")
    assert code == 2 and "not DeepPCB's raw layout" in err
    pcb = deeppcb_layout(tmp_path / "src", {"60000": 2}, cell=64)
    code, err = _cli(capsys, pcb, "--out", pcb / "boards", "--grid", "1")
    assert code == 2 and "overlap" in err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, err = _cli(capsys, pcb, "--out", mine, "--grid", "1")
    assert code == 2 and "not empty" in err and "--exist-ok" in err
    (mine / "yolo").mkdir()
    code, err = _cli(capsys, pcb, "--out", mine, "--grid", "1", "--exist-ok")
    assert code == 2 and "never replaced" in err and (mine / "yolo").is_dir()

    out = tmp_path / "boards"
    assert _cli(capsys, pcb, "--out", out, "--grid", "1")[0] == 0
    code, err = _cli(capsys, pcb, "--out", out, "--grid", "1")
    assert code == 2 and "--exist-ok" in err
    (out / "notes.txt").write_text("kept")
    assert _cli(capsys, pcb, "--out", out, "--grid", "1", "--boards", "1", "--exist-ok")[0] == 0
    assert sorted(p.name for p in (out / "PCBData/group60000/60000").iterdir()) == [
        "60000_board00_temp.png",
        "60000_board00_test.png",
    ]
    assert (out / "notes.txt").read_text() == "kept"
