"""``convert``: a folder of annotations (Pascal VOC XML, COCO JSON, DeepPCB txt) to a YOLO dataset and its report."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ultralytics.utils import LOGGER

from yolo_freq.reference import CompositeSpec

from .coco import looks_like_coco, read_coco
from .deeppcb import is_deeppcb, read_deeppcb
from .images import files
from .records import ConversionError, ProblemsFound
from .references import PAIRED, pair_references, reference_finder
from .report import ConversionReport
from .split import assign_splits
from .validate import check_records
from .voc import read_voc
from .writer import FAILED_REPORT, HEADER, OUTPUTS, replace_outputs, write_dataset, written_by

READERS = {"voc": read_voc, "coco": read_coco, "deeppcb": read_deeppcb}
FORMATS = ("auto", *READERS)
STAGE_PREFIX = ".convert-"  # the hidden folder a conversion writes into before moving its outputs into place


def detect_format(source: Path) -> str:
    """Name the annotation format of a file or folder: ``deeppcb``, ``voc`` or ``coco``.

    Raises:
        ConversionError: When nothing, or more than one format, is found; the message says to pass ``--format``.
    """
    if source.is_file():
        fmt = {".json": "coco", ".xml": "voc"}.get(source.suffix.lower())
        if fmt is None:
            raise ConversionError(
                f"{source}: cannot tell the format of a '{source.suffix}' file; pass a folder or --format"
            )
        return fmt
    if is_deeppcb(source):
        return "deeppcb"

    found = []
    if files(source, "*.xml"):
        found.append("voc")
    if any(looks_like_coco(p) for p in files(source, "*.json")):
        found.append("coco")
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConversionError(
            f"{source}: no annotations found (looked for Pascal VOC *.xml, COCO *.json and DeepPCB's "
            "trainval.txt/test.txt or *_not folders); check the folder, or pass --format"
        )
    raise ConversionError(f"{source}: holds both Pascal VOC XML and COCO JSON; pass --format voc or --format coco")


def _check_out(out: Path, source: Path, exist_ok: bool) -> bool:
    """Refuse an output folder that overlaps the source or holds other data; True if it holds an earlier dataset.

    Nothing is removed here: an earlier dataset stays until the new one has been read, checked and is ready to write.
    """
    if out == source or (source.is_dir() and out.is_relative_to(source)):
        raise ConversionError(
            f"--out {out} is inside the source {source}; choose a folder outside it (the source is never modified)"
        )
    replaced = [out / name for name in OUTPUTS]
    if any(source == p or source.is_relative_to(p) for p in replaced):
        raise ConversionError(
            f"the source {source} lies where the conversion writes its outputs in --out {out} "
            f"({', '.join(OUTPUTS)}); choose another --out (the source is never modified)"
        )
    if out.exists() and not out.is_dir():
        raise ConversionError(f"--out {out} is a file")
    if not out.exists():
        return False
    earlier = any((out / name).exists() for name in OUTPUTS if not name.startswith("report"))
    if earlier and not written_by(out):
        raise ConversionError(
            f"--out {out} holds images/, labels/ or a data.yaml that `yolo-freq convert` did not write (its data.yaml "
            f"starts with a '{HEADER}' line); they are never replaced: choose another folder"
        )
    if earlier and not exist_ok:
        raise ConversionError(
            f"--out {out} already holds a converted dataset; choose another folder or pass --exist-ok to replace it"
        )
    others = [p for p in out.iterdir() if p.name not in OUTPUTS and not p.name.startswith(STAGE_PREFIX)]
    if others and not exist_ok:
        raise ConversionError(f"--out {out} is not empty; choose an empty or new folder, or pass --exist-ok")
    return earlier


def convert(
    source: str | Path,
    out: str | Path,
    fmt: str = "auto",
    classes: list[str] | None = None,
    val: float = 0.2,
    seed: int = 0,
    strict: bool = False,
    outside: str = "clip",
    exist_ok: bool = False,
    link: bool = False,
    rename: dict[str, str] | None = None,
    reference: str | Path | None = None,
    spec: CompositeSpec | None = None,
) -> ConversionReport:
    """Convert annotations to a YOLO detection dataset that stock ``yolo train`` accepts, with a validation report.

    Writes ``out/images/{train,val}``, ``out/labels/{train,val}``, ``out/data.yaml`` (absolute ``path:``),
    ``out/report.txt`` and ``out/report.json``. Images are copied (or hard-linked with ``link``); nothing in the
    source is modified. Bad records are reported and skipped; nothing is dropped without a report line.

    Args:
        source (str | Path): Annotation folder (or one COCO JSON / VOC XML file).
        out (str | Path): Output folder, new or empty (or an earlier conversion's, with ``exist_ok``). The dataset is
            written into a hidden staging folder inside it and moved into place once complete; a staging folder
            that a killed conversion left there is removed.
        fmt (str): ``auto``, ``voc``, ``coco`` or ``deeppcb``.
        classes (list[str] | None): Class map in id order; boxes of other classes are skipped and reported. None
            takes the classes from the data (COCO category order, DeepPCB type order, VOC names sorted).
        val (float): Fraction of images drawn for val when the source has no val/test split of its own.
        seed (int): Seed of that draw.
        strict (bool): Raise ProblemsFound (writing only the report) when the report has any problem.
        outside (str): ``clip`` boxes partly outside the image to it, or ``reject`` them; both are reported.
        exist_ok (bool): Replace an earlier conversion in ``out`` (one whose ``data.yaml`` this function wrote;
            other datasets are never replaced) and allow other files beside it (they are kept).
        link (bool): Hard-link images instead of copying where the file system allows.
        rename (dict[str, str] | None): Source label -> class name, applied before the class map (e.g. to map a
            dataset's own spelling onto yours).
        reference (str | Path | None): Golden-template inspection: ``"paired"`` (DeepPCB's templates), one golden
            image, a folder of them matched by file name, or a mapping file (:mod:`yolo_freq.data.references`).
            Each image is then written composed with its aligned reference (lossless PNG or TIFF); images without
            a usable reference are skipped and reported. None copies the images as they are.
        spec (CompositeSpec | None): Composite form and alignment settings with ``reference`` (default grey3,
            aligned, the default response threshold).

    Returns:
        (ConversionReport): What was written and every issue found.

    Raises:
        ConversionError: For a missing source, an undetectable format, an unusable output folder, a bad class list,
            nothing left to convert or a failed write (an earlier dataset is then left as it was); its subclass
            ProblemsFound for any problem under ``strict``.
        ReferenceError: For a ``reference`` that does not exist or is not an image, folder or mapping file.
    """
    source = Path(source).expanduser().resolve()
    out = Path(out).expanduser().resolve()
    if not source.exists():
        raise ConversionError(f"source {source} does not exist")
    if fmt not in FORMATS:
        raise ConversionError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if outside not in ("clip", "reject"):
        raise ConversionError(f"outside must be 'clip' or 'reject', not {outside!r}")
    if not 0 <= val < 1:
        raise ConversionError(f"val must be a fraction in [0, 1), not {val}")
    if classes is not None:
        classes = [c.strip() for c in classes]
        if not classes or not all(classes) or len(set(classes)) != len(classes):
            raise ConversionError(f"the class list must be non-empty names without repeats, got {classes}")
    if spec is not None and reference is None:
        raise ConversionError("a composite form or alignment setting was given without a reference; add --reference")
    spec = (spec or CompositeSpec()) if reference is not None else None
    earlier = _check_out(out, source, exist_ok)
    fmt = detect_format(source) if fmt == "auto" else fmt
    paired = str(reference) == PAIRED
    if paired and fmt != "deeppcb":
        raise ConversionError(
            f"--reference {PAIRED}: only DeepPCB pairs each image with its own template, and {source} is {fmt}; "
            "give one golden image, a folder of golden images or a mapping file instead"
        )
    finder = reference_finder(reference, source if source.is_dir() else source.parent) if spec and not paired else None
    if fmt == "deeppcb" and not source.is_dir():
        raise ConversionError(f"{source}: DeepPCB needs its folder (PCBData or above), not a file")
    root = source if source.is_dir() else source.parent
    report = ConversionReport(source=str(source), fmt=fmt, out=str(out), strict=strict)
    LOGGER.info(f"Reading {fmt} annotations from {source}...")
    records, found_names = READERS[fmt](source, report)
    if rename:
        for r in records:
            for b in r.boxes:
                b.label = rename.get(b.label, b.label)
        found_names = list(dict.fromkeys(rename.get(n, n) for n in found_names))
    report.names = names = classes or found_names
    report.boxes_read = sum(len(r.boxes) for r in records)
    if records and not names:
        raise ConversionError(f"{source}: the annotations name no class; pass --classes")
    items = check_records(records, names, root, report, outside) if records else []
    if spec is not None and items:
        items = pair_references(items, finder, spec, root, report)
    splits = assign_splits(items, val, seed, report) if items else {}
    # a failed attempt leaves an earlier dataset and its report as they were, and reports beside them
    failed_stem, kept = (FAILED_REPORT, f"; the earlier dataset in {out} is unchanged") if earlier else ("report", "")
    if not splits.get("train"):
        txt = report.save(out, failed_stem)
        raise ConversionError(
            f"nothing to convert: no usable annotated image in {source} (report: {txt}{kept}).\n{report.summary()}"
        )
    if strict and report.problems:
        txt = report.save(out, failed_stem)
        raise ProblemsFound(
            f"{report.problems} problems found under --strict, dataset not written; every line is in {txt}{kept}.\n"
            f"{report.summary()}",
            report,
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        # a staging folder already here was left by a conversion killed before its cleanup ran (SIGKILL, power loss):
        # partial output of ours, not the user's data (two conversions into one folder at once are unsupported anyway)
        for stale in out.glob(f"{STAGE_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=out))
    except OSError as e:
        raise ConversionError(f"cannot write to --out {out}: {e}") from e
    try:
        try:
            write_dataset(splits, names, stage, root, report, link, path=out, spec=spec)
        except OSError as e:  # disk full, permissions, a source image gone since it was checked
            txt = report.save(out, failed_stem)
            raise ConversionError(f"writing the dataset failed: {e} (report: {txt}{kept})") from e
        # the new dataset is complete: only now does it take the earlier one's place (renames, within one folder)
        replace_outputs(stage, out, OUTPUTS)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    report.save(out)
    return report
