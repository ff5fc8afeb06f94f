"""The validation report of a conversion (yolo_freq.data.report): the short summary points at the file written, and
every issue kind the report can print is documented in the README."""

from __future__ import annotations

from pathlib import Path

from yolo_freq.data.report import ISSUE_KINDS, ConversionReport


def test_summary_names_the_file_that_holds_the_lines_it_leaves_out(tmp_path):
    """The short summary points at the report actually written (report-failed.txt after a failed attempt)."""
    report = ConversionReport()
    for i in range(7):
        report.add("label_without_image", f"labels/{i}.txt")
    assert "... and 2 more annotation without its image lines in the saved report" in report.summary()
    txt = report.save(tmp_path, "report-failed")
    assert f"... and 2 more annotation without its image lines in {txt}" in report.summary()
    assert "more" not in txt.read_text()  # the file itself holds every line


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
