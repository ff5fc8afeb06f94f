"""Helpers shared by the tests (importable because pytest puts this folder on sys.path)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw


def randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give BatchNorms trained-looking statistics and BottleReps non-default retention factors, deterministically,
    so that reparameterisation (BN folding, RepVGG fusion) is actually exercised by fused-vs-unfused comparisons."""
    from yolo_freq.nn import BottleRep

    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
        if isinstance(m, BottleRep):
            m.alpha_logit.data.copy_(torch.randn(m.alpha_logit.shape, generator=gen))
    return module


def assert_fused(module: torch.nn.Module) -> None:
    """Every DSLK-Conv and DD-Conv inside ``module`` is in its reparameterised form. Outputs alone cannot show that a
    fuse happened (a no-op fuse keeps them), so fuse tests check this as well."""
    from yolo_freq.nn import DDConv, DSLKConv

    for m in module.modules():
        if isinstance(m, DSLKConv):
            assert m.beta is None and isinstance(m.bn, torch.nn.Identity)
        if isinstance(m, DDConv):
            assert type(m.frft) is torch.nn.Conv2d and isinstance(m.frft_bn, torch.nn.Identity)


def model_fuse(m: torch.nn.Module) -> torch.nn.Module:
    """What the patched BaseModel.fuse() does to a block: its own reparameterisation, RepConv, then Conv+BN folds."""
    from ultralytics.nn.modules import Conv, RepConv
    from ultralytics.utils.torch_utils import fuse_conv_and_bn

    from yolo_freq.nn import FUSABLE_BLOCKS

    for sub in m.modules():
        if isinstance(sub, FUSABLE_BLOCKS):
            sub.fuse()
    for sub in list(m.modules()):
        if isinstance(sub, RepConv):
            sub.fuse_convs()
            sub.forward = sub.forward_fuse
    for sub in m.modules():
        if isinstance(sub, Conv) and hasattr(sub, "bn"):
            sub.conv = fuse_conv_and_bn(sub.conv, sub.bn)
            delattr(sub, "bn")
            sub.forward = sub.forward_fuse
    return m


# ---------------------------------------------------------------------------------------------------- converters
# Images, annotation files and crafted source layouts for the converter tests (tests/test_data_*.py and
# tests/test_reference_data.py); _deeppcb_layout, _voc_folder and _coco_doc hold one of each quirk and fault.


def make_image(path: Path, w: int = 128, h: int = 96, seed: int = 0, mode: str = "RGB") -> Path:
    """A small image with random rectangles; different seeds give different content."""
    rng = np.random.default_rng(seed)
    im = Image.new(mode, (w, h), 0)
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x, y = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        draw.rectangle(
            [x, y, x + int(rng.integers(4, 30)), y + int(rng.integers(4, 30))], fill=int(rng.integers(60, 255))
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def voc_xml(
    path: Path, filename: str, size: tuple[int, int] | None, objects: list[tuple], raw: str | None = None
) -> None:
    """A LabelImg-style Pascal VOC file; objects are (name, xmin, ymin, xmax, ymax)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_text(raw)
        return
    objs = "".join(
        f"<object><name>{n}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>"
        for n, a, b, c, d in objects
    )
    sz = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ""
    path.write_text(
        f"<annotation><folder>boards</folder><filename>{filename}</filename>"
        f"<path>C:\\Users\\labeller\\boards\\{filename}</path><source><database>Unknown</database></source>"
        f"{sz}<segmented>0</segmented>{objs}</annotation>"
    )


def tree_state(folder: Path) -> dict:
    """Every file under a folder with its content hash, to prove a conversion left the source alone."""
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def issue_counts(out: Path) -> Counter:
    return Counter(json.loads((out / "report.json").read_text())["counts"])


def ultralytics_reads(data_yaml: Path) -> dict:
    """Load both splits with Ultralytics' own dataset builder (what `yolo train` does); images and boxes per split."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(data_yaml))
    cfg = get_cfg(overrides={"imgsz": 64, "workers": 0})
    seen = {}
    for split in ("train", "val"):
        ds = build_yolo_dataset(cfg, data[split], 4, data, mode="val")
        seen[split] = (len(ds.labels), sum(len(lb["cls"]) for lb in ds.labels))
    return seen


def label_rows(out: Path, split: str, stem: str) -> np.ndarray:
    """A written label file as an (n, 5) array; globbed over splits when ``split`` is '*'."""
    f = next(out.glob(f"labels/{split}/{stem}.txt"))
    return np.array([[float(v) for v in line.split()] for line in f.read_text().splitlines()]).reshape(-1, 5)


def _zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(folder.rglob("*")):
            z.write(p, p.relative_to(folder.parent))
    return archive


def _deeppcb_layout(root: Path) -> Path:
    """A DeepPCB PCBData folder with one of each quirk and fault; returns the PCBData folder."""
    pcb = root / "PCBData"
    img, ann = pcb / "group10000" / "10000", pcb / "group10000" / "10000_not"
    ann.mkdir(parents=True)
    for k in range(10):
        if k not in (4, 8, 9):
            make_image(img / f"1000000{k}_test.jpg", 640, 640, seed=k, mode="L")
            make_image(img / f"1000000{k}_temp.jpg", 640, 640, seed=100 + k, mode="L")
    (img / "10000008_test.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")  # unreadable
    (img / "10000009_test.jpg").write_bytes((img / "10000005_test.jpg").read_bytes())  # duplicate of 10000005
    (ann / "10000000.txt").write_text("10 20 60 80 1\n100 100 150 140 2\n")  # spaces, as the files are
    (ann / "10000001.txt").write_text("10,20,60,80,3\n200,200,260,250,6")  # commas, as the README says
    (ann / "10000002.txt").write_text(
        "10 20 60 80 7\n"  # unknown type
        "600 600 700 650 4\n"  # partly outside 640x640: clipped
        "10 10 10 40 5\n"  # zero width
        "300 300 340 330 2\n300 300 340 330 2\n"  # the same box twice
        "700 700 800 800 1\n"  # entirely outside
    )
    (ann / "10000003.txt").write_text("10 20 60 80 1\n12 13 abc 20 1\n")  # corrupt line
    (ann / "10000004.txt").write_text("10 20 60 80 1\n")  # its image is missing
    (ann / "10000005.txt").write_text("30 30 90 90 4\n")
    (ann / "10000006.txt").write_text("30 30 90 90 4\n")  # in no split list
    (ann / "10000008.txt").write_text("30 30 90 90 4\n")
    (ann / "10000009.txt").write_text("30 30 90 90 4\n")
    (pcb / "trainval.txt").write_text(
        "".join(f"group10000/10000/1000000{k}.jpg group10000/10000_not/1000000{k}.txt\n" for k in (0, 1, 2, 3, 8))
        + "group10000/10000/one_field_only.jpg\n"
    )
    (pcb / "test.txt").write_text(
        "".join(f"group10000/10000/1000000{k}.jpg,group10000/10000_not/1000000{k}.txt\n" for k in (4, 5, 9))
    )
    return pcb


def _voc_folder(root: Path) -> Path:
    """LabelImg output: images and XML side by side, with one of each fault."""
    boards = root / "boards"
    for k in range(12):  # clean records, enough for a split
        make_image(boards / f"ok{k:02d}.jpg", seed=k)
        voc_xml(
            boards / f"ok{k:02d}.xml",
            f"ok{k:02d}.jpg",
            (128, 96),
            [("scratch" if k % 3 else "stain", 8, 8, 40, 30), ("stain", 50, 40, 90, 80)],
        )
    make_image(boards / "a.jpg", seed=50)
    voc_xml(boards / "a.xml", "a.jpg", (128, 96), [("scratch", 10, 20, 50, 60)])
    make_image(boards / "b.jpg", seed=51)
    voc_xml(boards / "b.xml", "b.jpg", (128, 96), [("stain", 100, 50, 140, 90)])  # partly outside: clipped
    make_image(boards / "c.jpg", seed=52)
    voc_xml(boards / "c.xml", "c.jpg", None, [], raw="<annotation><filename>c.jpg</filename><object><name>scr")
    voc_xml(boards / "d.xml", "missing.jpg", (128, 96), [("scratch", 1, 1, 9, 9)])  # no image
    make_image(boards / "e.jpg", seed=53)  # no XML
    make_image(boards / "f.jpg", seed=54)
    voc_xml(boards / "f.xml", "f.jpg", (999, 999), [("scratch", 1, 1, 9, 9)])  # wrong declared size
    make_image(boards / "g.jpg", seed=55)
    voc_xml(boards / "g.xml", "g.jpg", (128, 96), [])  # defect-free board
    make_image(boards / "h.jpg", seed=56)
    voc_xml(boards / "h.xml", "h.jpg", (128, 96), [("scratch", "abc", 1, 9, 9)])  # non-numeric
    make_image(boards / "i.jpg", seed=57)
    voc_xml(boards / "i.xml", "i.jpg", (128, 96), [("dust", 1, 1, 20, 20), ("scratch", 30, 30, 30, 50)])
    (boards / "j.jpg").write_bytes(b"")  # empty file
    voc_xml(boards / "j.xml", "j.jpg", (128, 96), [("scratch", 1, 1, 9, 9)])
    (boards / "k.png").write_bytes((boards / "a.jpg").read_bytes())  # same content as a.jpg, other name
    voc_xml(boards / "k.xml", "k.png", (128, 96), [("scratch", 1, 1, 9, 9)])
    voc_xml(boards / "n.xml", "", None, [], raw="<config><item/></config>")  # XML that is not VOC
    return boards


def _coco_doc(images: list[dict], annotations: list[dict], categories: list[dict]) -> dict:
    return {"info": {}, "licenses": [], "images": images, "annotations": annotations, "categories": categories}


HW = {2: "h", 3: "w"}  # dynamic height and width axes of an NCHW tensor


def onnx_session(module: torch.nn.Module, inputs: dict, path, dynamic_axes: dict):
    """Export ``module``, called with the tensors of ``inputs`` in order, through the legacy (TorchScript-tracing)
    exporter Ultralytics uses, at opset 17 with ``dynamic_axes`` (keyed by input names and the output name ``y``),
    and return an onnxruntime session on it."""
    import inspect
    import warnings

    import onnxruntime as ort

    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings of input checks, deprecation notices
        torch.onnx.export(
            module,
            tuple(inputs.values()),
            str(path),
            opset_version=17,
            input_names=list(inputs),
            output_names=["y"],
            dynamic_axes=dynamic_axes,
            **legacy,
        )
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
