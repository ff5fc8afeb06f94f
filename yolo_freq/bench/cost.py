"""Cost of models side by side: parameters, GFLOPs, interleaved CPU latency fused and unfused, ONNX export time,
onnxruntime latency and parity, peak inference memory, and what composing a golden-template input adds."""

from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from yolo_freq.paths import MODELS_DIR

from .measure import interleaved_median_ms, model_cost, peak_inference_mb
from .measure import threads as torch_threads

BASELINE = "yolov8"


def models_at_scale(scale: str) -> list[str]:
    """YOLOv8 followed by every bundled yolo-freq model family, as ``<family>-<scale>.yaml`` names."""
    families = sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))
    return [f"{BASELINE}{scale}.yaml", *(f"{f}-{scale}.yaml" for f in families)]


def _first_output(y):
    return (y[0] if isinstance(y, (list, tuple)) else y).detach().float().numpy()


def compose_fns(image: str | Path, reference: str | Path) -> tuple[dict, dict]:
    """Callables that compose one pair as ``yolo-freq predict`` does (the golden prepared once, as a run does), with
    and without alignment, and the bytes a prepared golden image keeps for the run (its pixels and spectrum)."""
    from yolo_freq.reference import CompositeSpec, Golden, compose, read_image

    frame, golden = read_image(image, 3), Golden.read(reference)
    compose(frame, golden, CompositeSpec())  # prepares the golden's spectrum, once per run in prediction
    held = golden.bgr.nbytes + golden.grey.nbytes
    held += sum(t.nbytes for t in vars(golden._correlator).values() if isinstance(t, torch.Tensor))
    fns = {
        "compose_ms": lambda: compose(frame, golden, CompositeSpec()),
        "compose_no_align_ms": lambda: compose(frame, golden, CompositeSpec(align=False)),
    }
    sizes = {"golden_MB": held / 2**20, "composite_MB": frame.shape[0] * frame.shape[1] * 3 / 2**20}
    return fns, sizes


def cost_rows(
    models: list[str],
    imgsz: int = 640,
    runs: int = 20,
    threads: int = 2,
    onnx: bool = True,
    progress=True,
    reference_pair: tuple[str, str] | None = None,
):
    """Measure the cost of each model; returns one dict per model (see module docstring for the columns).

    ``latency_ratio`` is each model's fused latency over the first model's (the baseline: YOLOv8 in the default list).
    With ``reference_pair`` (an image and its golden image), composing that pair as ``yolo-freq predict`` does is
    timed in the same interleaved rounds, with and without alignment, and each row gets ``compose_ratio``: the
    aligned composing time over that model's fused latency (what golden-template inspection adds per image), and
    the memory a prepared golden image holds.
    """
    from ultralytics import YOLO
    from ultralytics.utils import TQDM

    x = torch.rand(1, 3, imgsz, imgsz)
    rows, fns = [], {}
    bar = TQDM(models, desc="building and exporting", disable=not progress)
    with torch_threads(threads), torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        for name in bar:
            row = model_cost(name, 640)  # params and GFLOPs at the conventional 640
            row["peak_MB"] = peak_inference_mb(name, imgsz, threads)
            yolo = YOLO(name)
            unfused = yolo.model.float().eval()
            fused = copy.deepcopy(unfused).fuse(verbose=False)
            fns[(name, "unfused")] = lambda m=unfused: m(x)
            fns[(name, "fused")] = lambda m=fused: m(x)
            if onnx:
                cwd = os.getcwd()
                os.chdir(tmp)  # Ultralytics writes a YAML-built model's export next to the working directory
                try:
                    t = time.perf_counter()
                    f = Path(tmp) / yolo.export(format="onnx", imgsz=imgsz)  # relative to tmp
                    row["export_s"] = time.perf_counter() - t
                finally:
                    os.chdir(cwd)
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                # idle onnxruntime threads spin for a while after each run, stealing the cores from the PyTorch
                # call timed next (measured at 320 px: YOLOv8n unfused 89 ms with spinning, 39 ms without)
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                sess = ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"])
                feed = {sess.get_inputs()[0].name: x.numpy()}
                row["onnx_max_abs_diff"] = float(np.abs(sess.run(None, feed)[0] - _first_output(fused(x))).max())
                fns[(name, "onnxruntime")] = lambda s=sess, d=feed: s.run(None, d)
            rows.append(row)
        extra = {}
        if reference_pair:
            composing, extra = compose_fns(*reference_pair)
            fns.update(composing)
        torch.set_num_threads(threads)  # Ultralytics' export resets it (select_device sets its NUM_THREADS on CPU)
        lat = interleaved_median_ms(fns, runs)
    for row in rows:
        row.update(
            threads=threads,
            runs=runs,
            latency_ms=lat[(row["model"], "fused")],
            unfused_latency_ms=lat[(row["model"], "unfused")],
            onnxruntime_ms=lat.get((row["model"], "onnxruntime"), float("nan")),
        )
    base = rows[0]  # the first model, as in the accuracy table
    for row in rows:
        row["latency_ratio"] = row["latency_ms"] / base["latency_ms"]
        if reference_pair:
            row.update({k: lat[k] for k in ("compose_ms", "compose_no_align_ms")}, **extra)
            row["compose_ratio"] = lat["compose_ms"] / row["latency_ms"]
    return rows


COMPOSE_COLUMNS = {
    "compose_ms": "compose ms (aligned)",
    "compose_ratio": "compose / model",
    "compose_no_align_ms": "compose ms (no align)",
    "golden_MB": "golden MB",
}


def cost_columns(baseline: str, composing: bool = False) -> dict:
    """Column keys and headers of the cost table; ratios are headed by the baseline's name, e.g. ``x yolov8n``;
    ``composing`` adds the golden-template composing columns."""
    return {
        "model": "model",
        "params_M": "params (M)",
        "gflops": "GFLOPs@640",
        "latency_ms": "CPU ms (fused)",
        "latency_ratio": f"x {Path(baseline).stem}",
        "unfused_latency_ms": "CPU ms (unfused)",
        "export_s": "ONNX export s",
        "onnxruntime_ms": "ORT ms",
        "onnx_max_abs_diff": "ORT max abs diff",
        "peak_MB": "peak MB (1 image)",
    } | (COMPOSE_COLUMNS if composing else {})
