"""`yolo-freq convert`'s bad input (yolo_freq.cli's convert command and the checks yolo_freq.data.convert makes before
reading): a missing or unreadable source, an unusable output folder or a bad option gives a clear message, exit code 2
and no traceback."""

from __future__ import annotations

import yaml
from helpers import _voc_folder, voc_xml

from yolo_freq import cli


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
