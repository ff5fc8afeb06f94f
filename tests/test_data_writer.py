"""How `yolo-freq convert` writes its dataset (yolo_freq.data.writer, and the staging and replacement steps of
yolo_freq.data.convert): --strict writes only the report; a failed attempt, a failed write or a refused --exist-ok
leaves an earlier dataset (or anyone else's) as it was; a staging folder left by a killed conversion; an output
folder that cannot be made; --exist-ok never replacing the source; --link never sharing a JPEG Ultralytics rewrites.

Inputs are the crafted DeepPCB layout (helpers._deeppcb_layout) and images generated in tmp_path.
"""

from __future__ import annotations

import json

import pytest
from helpers import _deeppcb_layout, make_image, tree_state

from yolo_freq import cli
from yolo_freq.data import ProblemsFound, convert


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


def test_exist_ok_never_replaces_the_source(tmp_path, capsys):
    """A source inside an output path (e.g. ``boards/images`` with ``--out boards``) is refused, not deleted."""
    src = _deeppcb_layout(tmp_path / "boards" / "images")
    (tmp_path / "boards" / "labels").mkdir()  # looks like an earlier dataset, so --exist-ok would replace it
    before = tree_state(tmp_path / "boards")
    code = cli.main(["convert", str(src), "--out", str(tmp_path / "boards"), "--exist-ok"])
    err = capsys.readouterr().err
    assert code == 2 and "lies where the conversion writes its outputs" in err and "Traceback" not in err
    assert tree_state(tmp_path / "boards") == before
