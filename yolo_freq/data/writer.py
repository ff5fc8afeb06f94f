"""Writes a YOLO detection dataset: images/{split}, labels/{split} and data.yaml."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import yaml
from ultralytics.utils import TQDM

from yolo_freq.reference import CompositeSpec, write_composite

from .images import lacks_jpeg_end
from .references import composite_of
from .report import ConversionReport
from .split import Item

HEADER = "# Written by `yolo-freq convert`"  # first words of every data.yaml it writes: how an earlier one is known
FAILED_REPORT = "report-failed"  # a failed attempt's report, beside an earlier dataset it leaves in place
# what a conversion writes into its folder (and a successful one replaces)
OUTPUTS = (
    "images",
    "labels",
    "data.yaml",
    "report.txt",
    "report.json",
    f"{FAILED_REPORT}.txt",
    f"{FAILED_REPORT}.json",
)


def remove_outputs(out: Path, outputs) -> None:
    """Delete what an earlier run wrote into ``out`` (the names ``outputs``, files or folders), nothing else."""
    for p in (out / name for name in outputs):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def replace_outputs(stage: Path, out: Path, outputs) -> None:
    """Put a complete staged output in place of an earlier one: its ``outputs`` removed, then every staged entry renamed
    into ``out`` (renames within one file system, so a failure midway never leaves a half-written dataset)."""
    remove_outputs(out, outputs)
    for p in stage.iterdir():
        p.replace(out / p.name)


def place_image(src: Path, dst: Path, link: bool = False) -> None:
    """Copy ``src`` to ``dst``, or hard-link it when ``link`` is set and both are on one file system.

    A hard link shares the file with the source. Ultralytics re-saves a JPEG that lacks its end marker (FFD9) when it
    first reads the dataset: 8.4.190 writes a new file and swaps it in, 8.4.112 (our floor) rewrites the file in place,
    which would modify the source through the link. Such JPEGs are therefore always copied.
    """
    if link and src.suffix.lower() in (".jpg", ".jpeg") and lacks_jpeg_end(src):
        link = False
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:  # another file system, or links unsupported: copy instead
            pass
    shutil.copy2(src, dst)


def unique_names(items: list[Item], root: Path) -> list[str]:
    """Output stems for items: the record's name, or its source path joined with '__' where names collide."""
    taken, result = Counter(r.name for r, _ in items), []
    used = set()
    for r, _ in items:
        name = r.name
        if taken[name] > 1:
            rel = r.image.relative_to(root).with_suffix("") if r.image.is_relative_to(root) else Path(r.image.stem)
            name = "__".join(rel.parts)
        base, k = name, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        result.append(name)
    return result


def written_by(folder: Path, header: str = HEADER) -> bool:
    """True if ``folder/data.yaml`` starts with ``header``, the first line the yolo-freq command that writes such
    datasets puts there (``yolo-freq convert``'s by default), so a re-run of that command may replace the dataset."""
    try:
        with open(folder / "data.yaml", encoding="utf-8") as f:
            return f.read(len(header)) == header
    except (OSError, UnicodeDecodeError):
        return False


def write_dataset(
    splits: dict[str, list[Item]],
    names: list[str],
    out: Path,
    root: Path,
    report: ConversionReport,
    link: bool = False,
    path: Path | None = None,
    spec: CompositeSpec | None = None,
) -> Path:
    """Write images, label files and ``data.yaml`` (absolute ``path:``) into ``out``.

    Args:
        splits (dict[str, list[Item]]): Items per split (``train``, ``val``, maybe ``test``).
        names (list[str]): Class map, index = class id.
        out (Path): Output folder; ``images/`` and ``labels/`` must not exist yet.
        root (Path): Source folder, to name colliding files after their source path.
        report (ConversionReport): Receives images and boxes written per split.
        link (bool): Hard-link images instead of copying them where possible.
        path (Path | None): The dataset folder ``data.yaml`` names, when ``out`` is a staging folder to be moved
            there; default ``out``.
        spec (CompositeSpec | None): Write each image composed with its reference (``record.reference``) in this
            form instead of copying it; ``data.yaml`` then records the spec under ``reference:`` and its channels.

    Returns:
        (Path): The data YAML.
    """
    all_items = [it for items in splits.values() for it in items]
    stems = dict(zip((id(it) for it in all_items), unique_names(all_items, root)))
    bar = TQDM(total=len(all_items), desc=f"Writing {out}", unit="images")
    for split, items in splits.items():
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        report.images[split] = len(items)
        report.boxes[split] = Counter({n: 0 for n in names})
        for it in items:
            r, rows = it
            stem = stems[id(it)]
            if spec is None:
                place_image(r.image, out / "images" / split / f"{stem}{r.image.suffix}", link)
            else:
                write_composite(out / "images" / split / stem, composite_of(r, spec))
            (out / "labels" / split / f"{stem}.txt").write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
            report.boxes[split].update(names[int(row.split()[0])] for row in rows)
            bar.update()
    bar.close()
    data = {
        "path": str(path or out),
        "train": "images/train",
        "val": "images/val" if splits.get("val") else "images/train",
    }
    if splits.get("test"):
        data["test"] = "images/test"
    if spec is not None:
        data["channels"] = spec.channels
    data["names"] = dict(enumerate(names))
    if spec is not None:
        data["reference"] = spec.to_dict()
    header = f"{HEADER} from {report.source} ({report.fmt}); see report.txt beside this file.\n" + (
        "# No val images (val fraction 0): val points at train.\n" if not splits.get("val") else ""
    )
    if spec is not None:
        header += (
            f"# Images are {spec.form} composites of each image with its aligned reference (reference: below); "
            "predict with `yolo-freq predict ... reference=...`.\n"
        )
    data_yaml = out / "data.yaml"
    data_yaml.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return data_yaml
