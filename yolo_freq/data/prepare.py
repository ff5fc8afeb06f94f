"""First-use preparation of the public PCB datasets, run by the ``download:`` key of their dataset YAMLs.

Ultralytics' ``check_det_dataset`` runs a dataset YAML's ``download:`` text with ``exec(text, {"yaml": data})`` when
the YAML's ``val`` images are missing; ``data["path"]`` is then the dataset root (``path:`` resolved against the
Ultralytics datasets folder). The YAMLs call the functions below, so the logic lives here, tested, not in YAML text.
Each downloads the archive into ``<root>/raw``, finds the annotations in the extracted tree and runs :func:`convert`
into ``<root>`` with hard links (the raw tree stays as downloaded; no image is stored twice).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ultralytics.utils import LOGGER

from yolo_freq.reference import CompositeSpec

from .coco import looks_like_coco
from .convert import convert
from .deeppcb import find_split_lists
from .images import class_names, files, list_images
from .records import ConversionError
from .references import PAIRED
from .report import ConversionReport

DEEPPCB_URL = "https://github.com/tangsanli5201/DeepPCB/archive/refs/heads/master.zip"
DSPCBSD_URL = (
    "https://ndownloader.figshare.com/files/44069552"  # DsPCBSD+.zip of figshare 10.6084/m9.figshare.24970329.v1
)
DSPCBSD_ARCHIVE = "DsPCBSD+.zip"
DSPCBSD_MD5 = "508334b65bdaea7336f4c1b5d5a80a81"  # 128,541,608 bytes, as figshare lists it


def _obtain(source: str | Path, raw: Path, archive_name: str, md5: str | None = None) -> Path:
    """Make the dataset's extracted tree available and return the folder to search.

    Args:
        source (str | Path): URL of the archive, a local archive, or an already extracted folder (used in place).
        raw (Path): Where archives are downloaded and extracted.
        archive_name (str): File name for the downloaded archive.
        md5 (str | None): Published MD5 of the archive, checked after a download (a mismatch is logged: the
            conversion below validates the content anyway).

    Returns:
        (Path): Folder holding the extracted dataset.
    """
    from ultralytics.utils.downloads import safe_download, unzip_file

    if "://" not in str(source) and Path(source).is_dir():
        return Path(source)
    remote = "://" in str(source)
    try:
        archive = Path(safe_download(str(source), file=archive_name, dir=raw, unzip=False)) if remote else Path(source)
    except ConnectionError as e:  # offline or refused: say how to provide the data by hand
        raise ConnectionError(
            f"{e}\nTo prepare the dataset without downloading here, fetch {source} on another machine and extract it "
            f"into {raw}; the next run converts it from there."
        ) from e
    if not archive.is_file():
        raise ConversionError(f"dataset archive {archive} not found")
    if md5 and remote:
        digest = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
        if digest != md5:
            LOGGER.warning(f"{archive}: MD5 {digest} differs from the published {md5}; converting it anyway")
    unzip_file(archive, path=raw, exist_ok=True)
    if remote:
        archive.unlink()
    return raw


def _climb(folder: Path, top: Path, probe: str) -> Path:
    """Go up from ``folder`` towards ``top`` until an image named ``probe`` (file name or stem) is inside."""
    while True:
        if any(p.name == probe or p.stem == probe for p in list_images(folder)):
            return folder
        if folder == top or top not in folder.parents:
            return folder
        folder = folder.parent


def find_annotations(tree: Path) -> tuple[Path, str]:
    """Find the annotation folder and format inside an extracted dataset archive.

    COCO JSON wins over Pascal VOC XML when both are present (it names its classes and its split). The folder
    returned is the nearest one holding both the annotation files and the images they name.

    Args:
        tree (Path): Extracted archive.

    Returns:
        (tuple[Path, str]): The folder to convert and its format (``coco`` or ``voc``).

    Raises:
        ConversionError: When the tree holds neither.
    """

    coco = [p for p in files(tree, "*.json") if looks_like_coco(p)]
    if coco:
        folder = Path(os.path.commonpath([p.parent for p in coco]))
        try:
            first = json.loads(coco[0].read_text(encoding="utf-8-sig"))["images"][0]["file_name"]
        except (ValueError, KeyError, IndexError, TypeError):
            return folder, "coco"  # convert() reports what is wrong with the file
        return _climb(folder, tree, Path(first).name), "coco"
    voc = []
    for p in files(tree, "*.xml"):
        with open(p, encoding="utf-8", errors="replace") as f:
            if "<annotation" in f.read(4096):
                voc.append(p)
    if voc:
        folder = Path(os.path.commonpath([p.parent for p in voc]))
        try:
            probe = (ET.parse(voc[0]).getroot().findtext("filename") or voc[0].stem).strip()
        except ET.ParseError:
            probe = voc[0].stem
        return _climb(folder, tree, Path(probe).name), "voc"
    raise ConversionError(f"{tree}: found neither COCO JSON nor Pascal VOC XML annotations in the extracted archive")


def _match_names(found: list[tuple[object, str]], names: list[str]) -> dict[str, str] | None:
    """Map a dataset's own class spelling onto the YAML's names: by normalised spelling, else by id order 1..N.

    Args:
        found (list[tuple[object, str]]): (category id, name) pairs as the annotations give them.
        names (list[str]): The YAML's class names, in the dataset's order.

    Returns:
        (dict[str, str] | None): Source name -> YAML name, or None where neither rule covers every class (the
            conversion then reports the unknown classes).
    """

    def norm(s) -> str:
        return re.sub(r"[^a-z0-9]", "", str(s).lower())

    by_norm = {norm(n): n for n in names}
    if all(norm(n) in by_norm for _, n in found):
        return {n: by_norm[norm(n)] for _, n in found}
    ids = sorted({i for i, _ in found if isinstance(i, int)})
    if ids == list(range(1, len(names) + 1)) and len(ids) == len({i for i, _ in found}):
        mapping = {n: names[i - 1] for i, n in found}
        LOGGER.warning(
            f"class names {sorted(mapping)} differ from the YAML's; mapped by category id 1..{len(names)}: {mapping}"
        )
        return mapping
    return None


def prepare_deeppcb(data: dict, source: str | Path | None = None) -> ConversionReport:
    """Download DeepPCB and convert it with its official split (trainval -> train, test -> val).

    A YAML with a ``reference:`` entry (``deeppcb-ref.yaml``) gets each image composed with its aligned template in
    that entry's form.

    Args:
        data (dict): The dataset YAML as ``check_det_dataset`` passes it (``path`` = dataset root, ``names``,
            optionally ``reference``).
        source (str | Path | None): Archive URL, local archive or extracted folder; default the GitHub archive.

    Returns:
        (ConversionReport): The conversion report, also logged and saved as ``<root>/report.txt``.
    """
    root = Path(data["path"])
    raw = root / "raw"
    tree = raw if raw.is_dir() and find_split_lists(raw) else _obtain(source or DEEPPCB_URL, raw, "DeepPCB-master.zip")
    lists = find_split_lists(tree)
    if not lists:
        raise ConversionError(f"{tree}: no DeepPCB PCBData/trainval.txt or test.txt found")
    spec = CompositeSpec.from_dict(data["reference"]) if data.get("reference") is not None else None
    report = convert(
        lists[0].parent,
        root,
        fmt="deeppcb",
        classes=class_names(data.get("names")),
        exist_ok=True,
        link=True,
        reference=PAIRED if spec else None,
        spec=spec,
    )
    LOGGER.info(report.summary())
    return report


def prepare_dspcbsd(data: dict, source: str | Path | None = None) -> ConversionReport:
    """Download DsPCBSD+ and convert the annotations found in the archive (COCO JSON, else Pascal VOC XML).

    The archive is searched rather than assumed: its COCO JSON files (with their train/val split) are used where
    present, else a LabelImg VOC folder. Class names are matched to the YAML's by spelling (case and punctuation
    ignored), else by COCO category id 1..9 in the dataset's order.

    Args:
        data (dict): The dataset YAML as ``check_det_dataset`` passes it.
        source (str | Path | None): Archive URL, local archive or extracted folder; default figshare's file.

    Returns:
        (ConversionReport): The conversion report, also logged and saved as ``<root>/report.txt``.
    """
    root = Path(data["path"])
    raw = root / "raw"
    names = class_names(data.get("names"))
    try:
        folder, fmt = find_annotations(raw) if raw.is_dir() else (None, None)
    except ConversionError:
        folder, fmt = None, None
    if folder is None:
        folder, fmt = find_annotations(_obtain(source or DSPCBSD_URL, raw, DSPCBSD_ARCHIVE, DSPCBSD_MD5))
    found = []
    if fmt == "coco":
        for p in sorted(folder.rglob("*.json")):
            if looks_like_coco(p):
                try:
                    found += [(c["id"], c["name"]) for c in json.loads(p.read_text(encoding="utf-8-sig"))["categories"]]
                except (ValueError, KeyError, TypeError):
                    pass  # convert() reports the file
    else:
        for p in sorted(folder.rglob("*.xml")):
            try:
                found += [(None, (o.findtext("name") or "").strip()) for o in ET.parse(p).getroot().iter("object")]
            except ET.ParseError:
                pass
    rename = _match_names(list(dict.fromkeys(found)), names) if found else None
    report = convert(folder, root, fmt=fmt, classes=names, rename=rename, exist_ok=True, link=True)
    LOGGER.info(report.summary())
    return report
