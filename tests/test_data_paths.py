"""The converters' one path policy (yolo_freq.data.images): what is skipped, how paths show, JPEG ends, class names."""

from pathlib import Path

from yolo_freq.data import convert, detect_format
from yolo_freq.data.images import class_names, files, lacks_jpeg_end, list_images, shown


def test_hidden_files_and_macos_metadata_are_skipped_by_every_reader(tmp_path):
    for rel in ("a.xml", "sub/b.xml", ".hidden/c.xml", "__MACOSX/d.xml", "sub/.e.xml", "x.jpg", "__MACOSX/y.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert [shown(p, tmp_path) for p in files(tmp_path, "*.xml")] == ["a.xml", "sub/b.xml"]
    assert [p.name for p in list_images(tmp_path)] == ["x.jpg"]
    (tmp_path / "__MACOSX" / "instances.json").write_text('{"images": [], "annotations": [], "categories": []}')
    assert detect_format(tmp_path) == "voc"  # a COCO file in archive metadata does not make the folder ambiguous


def test_shown_paths_and_jpeg_ends(tmp_path):
    assert (
        shown(tmp_path / "a" / "b.jpg", tmp_path) == "a/b.jpg"
        and shown(Path("/elsewhere/c.jpg"), tmp_path) == "/elsewhere/c.jpg"
    )
    whole, cut = tmp_path / "whole.jpg", tmp_path / "cut.jpg"
    whole.write_bytes(b"\xff\xd8 data \xff\xd9")
    cut.write_bytes(b"\xff\xd8 data")
    assert not lacks_jpeg_end(whole) and lacks_jpeg_end(cut)


def test_class_names_from_a_yaml_dict_or_list():
    assert (
        class_names({1: "b", 0: "a"}) == ["a", "b"] and class_names(["a", 2]) == ["a", "2"] and class_names(None) == []
    )


def test_convert_still_runs_on_a_folder_with_archive_metadata(tmp_path):
    from helpers import make_image, voc_xml

    make_image(tmp_path / "src" / "a.jpg")
    voc_xml(tmp_path / "src" / "a.xml", "a.jpg", (128, 96), [("scratch", 10, 10, 40, 40)])
    voc_xml(tmp_path / "src" / "__MACOSX" / "._a.xml", "a.jpg", None, [], raw="\x00\x05junk")
    report = convert(tmp_path / "src", tmp_path / "out", val=0)
    assert report.problems == 0 and report.images == {"train": 1, "val": 0}
