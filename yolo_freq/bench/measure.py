"""Measuring helpers shared by the benchmark and ``yolo-freq info``: interleaved wall-clock timing, thread
settings, a model's parameters and GFLOPs, and the peak memory of one inference."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time

import torch


@contextlib.contextmanager
def threads(n: int):
    """Run the block with ``n`` torch threads, then restore the previous count."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def interleaved_median_ms(fns: dict, runs: int, warmup: int = 2, sync=None) -> dict:
    """Median wall time in ms of each callable, calling them in turn ``runs`` times after ``warmup`` rounds.

    Calling the callables in turn, rather than one after the other, makes a drift in machine load hit all alike.
    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before and after each timed call.
    """
    times = {k: [] for k in fns}
    for i in range(warmup + runs):
        for k, fn in fns.items():
            if sync:
                sync()
            t = time.perf_counter()
            fn()
            if sync:
                sync()
            if i >= warmup:
                times[k].append((time.perf_counter() - t) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def model_cost(cfg: str, imgsz: int = 640) -> dict:
    """Parameters of a model YAML as built (the ones training updates) and its inference
    GFLOPs at ``imgsz``, counted after ``fuse()`` (which folds BN and RepVGG branches, removing a few parameters).

    FLOPs come from ``torch.utils.flop_counter`` (2 per multiply-add of every convolution and matrix product),
    which, unlike the ``thop`` count in Ultralytics' model summary, also sees functional convolutions and attention
    matrix products inside yolo-freq blocks.
    """
    from torch.utils.flop_counter import FlopCounterMode
    from ultralytics.nn.tasks import DetectionModel

    import yolo_freq  # noqa: F401  (registers blocks when autoload is off)

    model = DetectionModel(cfg, verbose=False).eval()
    params = sum(p.numel() for p in model.parameters())
    model.fuse(verbose=False)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, imgsz, imgsz))
    return {"model": cfg, "params_M": params / 1e6, "gflops": counter.get_total_flops() / 1e9, "imgsz": imgsz}


_PEAK_SCRIPT = """
import ctypes, re, sys, torch
import yolo_freq
from ultralytics.nn.tasks import DetectionModel

def mb(key):
    return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024

cfg, imgsz, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
model = DetectionModel(cfg, verbose=False).eval().fuse(verbose=False)
x = torch.rand(1, 3, imgsz, imgsz)
with torch.no_grad():
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # return what building the model freed (its stride probe), not counted
    open("/proc/self/clear_refs", "w").write("5")  # reset the resident-set high-water mark to the current size
    before = mb("VmRSS")
    model(x)
    print(mb("VmHWM") - before)
"""


def peak_inference_mb(cfg: str, imgsz: int = 640, threads: int = 1) -> float:
    """Memory (MB) one fused inference of one ``imgsz`` image adds at its peak, in a fresh process.

    The process's resident-set high-water mark is reset just before the forward (Linux ``/proc/self/clear_refs``)
    and read after it, so the figure is everything the forward allocated at once: activations, and scratch
    buffers of operators such as grid_sample. A fresh process per model, so that memory an earlier model freed
    into the allocator cannot hide this one's. NaN where /proc does not offer this (not Linux).
    """
    if not sys.platform.startswith("linux"):
        return float("nan")
    args = [sys.executable, "-c", _PEAK_SCRIPT, str(cfg), str(imgsz), str(threads)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"measuring the peak memory of {cfg} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])
