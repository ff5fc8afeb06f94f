"""``yolo-freq bench``: cost and accuracy of yolo-freq models side by side with YOLOv8, in one run.

Cost mode measures, for every model at one scale and in one process: parameters, inference GFLOPs, CPU latency per
image of the fused and the unfused model (median over interleaved runs, so that machine load drifts affect every
model alike), ONNX export time through Ultralytics' exporter, onnxruntime latency and the largest absolute
difference between onnxruntime and PyTorch outputs. Train mode trains every model with the same data, seed, epochs
and image size and reports validation mAP50, mAP50-95 and per-class AP50-95, as mean and spread over seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from yolo_freq.registry import MODELS_DIR

BASELINE = "yolov8"


def models_at_scale(scale: str) -> list[str]:
    """YOLOv8 followed by every bundled yolo-freq model family, as ``<family>-<scale>.yaml`` names."""
    families = sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))
    return [f"{BASELINE}{scale}.yaml", *(f"{f}-{scale}.yaml" for f in families)]


@contextlib.contextmanager
def _threads(n: int):
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

    from yolo_freq.cli import model_cost

    x = torch.rand(1, 3, imgsz, imgsz)
    rows, fns = [], {}
    bar = TQDM(models, desc="building and exporting", disable=not progress)
    with _threads(threads), torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        for name in bar:
            row = model_cost(name, 640)  # params and GFLOPs at the conventional 640
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
    } | (COMPOSE_COLUMNS if composing else {})


def _fmt(v) -> str:
    """Floats with enough digits to compare: mAP-scale values (< 1) to 4 decimals, tiny ones in e-notation."""
    if isinstance(v, float):
        return f"{v:.2e}" if 0 < abs(v) < 1e-3 else f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def markdown_table(rows: list[dict], columns: dict) -> str:
    """Rows as a Markdown table with the given {key: header} columns (missing values shown as '-')."""
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r[k]) if k in r else "-" for k in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_outputs(rows: list[dict], columns: dict, out: Path, stem: str, plot_y: str, plot_label: str) -> list[Path]:
    """Write ``stem``.csv, .md and .png (``plot_y`` against GFLOPs) under ``out``; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, png_path = (out / f"{stem}{s}" for s in (".csv", ".md", ".png"))
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    md_path.write_text(markdown_table(rows, columns) + "\n")
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for r in rows:
        if r.get(plot_y) is not None and "gflops" in r:
            ax.scatter(r["gflops"], r[plot_y])
            ax.annotate(
                Path(r["model"]).stem, (r["gflops"], r[plot_y]), fontsize=8, xytext=(4, 4), textcoords="offset points"
            )
    ax.set_xlabel("GFLOPs @640")
    ax.set_ylabel(plot_label)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return [csv_path, md_path, png_path]


def finished_run(run_dir: Path, model: str, settings: dict) -> Path | None:
    """``best.pt`` of a completed training run of ``model`` in ``run_dir`` made with exactly ``settings``, else None.

    A run counts as completed when Ultralytics has stripped its checkpoint (``epoch == -1``, written only after the
    last epoch or an early stop); it matches when every key of ``settings`` equals its saved training argument (data
    paths compared after resolving bare names, devices in Ultralytics' canonical form, as it saves them) and the
    saved architecture equals the one ``model`` now builds (a path and a bare name may name the same YAML, so the
    model is compared by what it builds, not by its string).
    This lets an interrupted or extended benchmark (a model or seed added) finish without retraining the runs it
    already has.
    """
    from ultralytics.nn.tasks import torch_safe_load, yaml_model_load
    from ultralytics.utils.checks import check_yaml
    from ultralytics.utils.torch_utils import parse_device

    best = run_dir / "weights" / "best.pt"
    if not best.is_file():
        return None
    ckpt, _ = torch_safe_load(best)
    if ckpt.get("epoch") != -1:
        return None
    saved = ckpt.get("train_args") or {}
    for key, want in settings.items():
        have = saved.get(key)
        if key == "data" and have and want:  # Ultralytics saves the path it resolved a bare name to
            have, want = Path(have).resolve(), Path(check_yaml(want)).resolve()
        if key == "device":  # and the canonical device string: None -> '', 'cuda:0' -> '0', 'CPU' -> 'cpu'
            have, want = parse_device(have), parse_device(want)
        if have != want:
            return None
    arch = ("backbone", "head", "scale")
    built, trained = yaml_model_load(model), ckpt["model"].yaml
    return best if all(built.get(k) == trained.get(k) for k in arch) else None


def data_label(data: str) -> str:
    """Short name of a dataset YAML for arm names and run folders: its stem, or its folder's name for a data.yaml."""
    p = Path(data)
    return p.parent.name if p.stem == "data" and p.parent.name else p.stem


def start_label(checkpoint: str | None) -> str:
    """Short name of a starting checkpoint: its stem, or its run folder's name for a ``weights/best.pt``."""
    if checkpoint is None:
        return "scratch"
    p = Path(checkpoint)
    return p.parent.parent.name if p.stem in ("best", "last") and p.parent.name == "weights" else p.stem


@dataclass(frozen=True)
class Arm:
    """One model on one dataset from one start: a row of the accuracy table.

    Attributes:
        name (str): The row's name: the model, ``@ <data>`` with several datasets, ``from <start>`` when a start
            checkpoint is given.
        model (str): Model YAML.
        data (str): Dataset YAML.
        pretrained (str | None): Checkpoint the training starts from (``pretrained=``), None from scratch.
        run (str): Run folder name without its ``-seed<N>``.
    """

    name: str
    model: str
    data: str
    pretrained: str | None
    run: str


def arms(models: list[str], datas: list[str], starts: list[str | None] | None = None) -> list[Arm]:
    """Every model on every dataset from every start, dataset-major, then start, then model. Arm and run names
    carry the dataset with several datasets and the start whenever starts are given (``none``: from scratch), so
    invocations over different lists name the same run alike and reuse it."""
    several_data = len(datas) > 1
    out = []
    for d in datas:
        for start in starts or [None]:
            for m in models:
                name, run = m, Path(m).stem
                if several_data:
                    name, run = f"{name} @ {data_label(d)}", f"{run}-{data_label(d)}"
                if starts is not None:
                    name, run = f"{name} from {start_label(start)}", f"{run}-{start_label(start)}"
                out.append(Arm(name, m, d, start, run))
    return out


def baselines(models: list[str], datas: list[str], starts: list[str | None] | None = None) -> dict[str, str]:
    """The arm each arm is compared with: with several datasets, the same model from the same start on the first
    dataset; else with several starts, the same model from the first start; else the first model."""
    named = arms(models, datas, starts)
    if len(datas) > 1:
        key = lambda a: (a.model, a.pretrained)  # noqa: E731
        first = {key(a): a.name for a in named if a.data == datas[0]}
    elif starts is not None and len(starts) > 1:
        key = lambda a: a.model  # noqa: E731
        first = {key(a): a.name for a in named if a.pretrained == starts[0]}
    else:
        return {a.name: named[0].name for a in named}
    return {a.name: first[key(a)] for a in named}


def train_rows(
    models: list[str],
    data: str | list[str],
    epochs: int,
    imgsz: int,
    seeds: list[int],
    out: Path,
    batch: int = 16,
    workers: int = 0,
    device: str | None = None,
    starts: list[str | None] | None = None,
    **train_kwargs,
) -> tuple[list[dict], list[dict]]:
    """Train every model on every dataset from every start for each seed with identical settings; evaluate each on its
    dataset's val split.

    A run already completed under ``out`` with the same settings and architecture is evaluated again, not retrained
    (see ``finished_run``); delete its folder to retrain it.

    Args:
        data (str | list[str]): One dataset YAML, or several: each model is then trained on each (one arm per pair,
            e.g. the same images without and with their references), and compared with itself on the first.
        starts (list[str | None] | None): Checkpoints the training starts from (``pretrained=``, matched layer by
            layer), None in the list from scratch; with several, each model is compared with itself from the first.
            None (the default): from scratch, unlabelled.

    Returns:
        (summary, runs): one summary row per arm (mean and sample standard deviation over seeds of mAP50, mAP50-95
        and per-class AP50-95; its mAP50-95 against its baseline arm (see ``baselines``), with the unpaired
        ``permutation_p`` and the seed-paired ``paired_p``) and one row per (arm, seed) run.
    """
    from ultralytics import YOLO
    from ultralytics.utils import LOGGER

    out = Path(out).resolve()  # Ultralytics puts a relative project under its runs_dir, where reuse would not look
    datas = [data] if isinstance(data, str) else list(data)
    for what, labels in (
        ("datasets", [data_label(d) for d in datas]),
        ("starts", [start_label(s) for s in starts or []]),
    ):
        if len(set(labels)) != len(labels):
            raise ValueError(f"{what} share a short name ({labels}): arms and run folders would collide")
    runs = []
    where = dict(workers=workers, project=str(out), exist_ok=True)  # how and where, not what: no part of the recipe
    for seed in seeds:
        for arm in arms(models, datas, starts):
            name, arm_data, run = arm.model, arm.data, f"{arm.run}-seed{seed}"
            # everything that decides a run's result: checked for reuse and trained with, one dict so they cannot drift
            recipe = dict(data=arm_data, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, deterministic=True)
            recipe.update(device=device, **train_kwargs)
            if arm.pretrained is not None:
                recipe["pretrained"] = str(Path(arm.pretrained).resolve())
            best = finished_run(out / run, name, recipe)
            if best:
                LOGGER.info(f"yolo-freq bench: reusing the completed run {out / run} (delete it to retrain)")
            else:
                model = YOLO(name)
                model.train(**recipe, **where, name=run)
                best = Path(model.trainer.best)
            metrics = YOLO(best).val(
                plots=False, name=f"{run}-val", data=arm_data, imgsz=imgsz, batch=batch, device=device, **where
            )
            names = metrics.names
            per_class = {f"AP50-95 {names[c]}": float(ap) for c, ap in zip(metrics.box.ap_class_index, metrics.box.ap)}
            runs.append(
                {
                    "model": arm.name,
                    "seed": seed,
                    "mAP50": float(metrics.box.map50),
                    "mAP50-95": float(metrics.box.map),
                    **per_class,
                }
            )
    named = [a.name for a in arms(models, datas, starts)]
    return summarise(runs, named, baselines(models, datas, starts)), runs


def summarise(runs: list[dict], models: list[str], baseline: dict[str, str] | None = None) -> list[dict]:
    """One summary row per model (or arm) from per-run rows (``model``, ``seed``, metrics).

    ``baseline`` maps each model to the one its difference and p values are taken against (default: the first).

    Mean and sample standard deviation over seeds of every metric; the mAP50-95 difference from the baseline with the
    unpaired ``permutation_p`` and the seed-paired ``paired_p``. Runs are paired by seed, in the order the baseline's
    seeds are listed, so rows gathered from several invocations (``examples/combine_accuracy_runs.py``) give the same
    table as one invocation over all their seeds. Every model needs the baseline's seeds, each once.
    """
    baseline = baseline or {m: models[0] for m in models}
    seeds = [r["seed"] for r in runs if r["model"] == models[0]]
    summary, maps = [], {}
    for name in models:
        mine = [r for r in runs if r["model"] == name]
        if sorted(r["seed"] for r in mine) != sorted(seeds) or len(seeds) != len(set(seeds)):
            raise ValueError(
                f"{name} has runs for seeds {sorted(r['seed'] for r in mine)} but {models[0]} for {sorted(seeds)}: "
                "models are compared seed by seed, so each needs the same seeds, each once"
            )
        by_seed = {r["seed"]: r["mAP50-95"] for r in mine}
        maps[name] = [by_seed[s] for s in seeds]
        row = {"model": name, "seeds": len(mine)}
        for key in [k for k in mine[0] if k not in ("model", "seed")]:
            vals = [r[key] for r in mine if key in r]
            row[key] = statistics.fmean(vals)
            row[f"{key} sd"] = statistics.stdev(vals) if len(vals) > 1 else float("nan")
        summary.append(row)
    by_name = {row["model"]: row for row in summary}
    for row in summary:
        base = by_name[baseline[row["model"]]]
        row["d mAP50-95"] = row["mAP50-95"] - base["mAP50-95"]
        if row is not base:
            row["p mAP50-95"] = permutation_p(maps[row["model"]], maps[base["model"]])
            row["p mAP50-95 paired"] = paired_p(maps[row["model"]], maps[base["model"]])
    return summary


def write_accuracy(summary: list[dict], runs: list[dict], out: Path, vs: str | None = None) -> tuple[list[Path], str]:
    """Write accuracy.csv, .md, .png and accuracy_runs.csv under ``out``; return the paths and the Markdown table.

    ``vs`` heads the difference column (default: the first model's name, the baseline of every row).
    """
    columns = {
        "model": "model",
        "gflops": "GFLOPs@640",
        "seeds": "seeds",
        "mAP50": "mAP50",
        "mAP50 sd": "sd",
        "mAP50-95": "mAP50-95",
        "mAP50-95 sd": "sd",
        "d mAP50-95": vs or f"vs {Path(summary[0]['model']).stem}",
        "p mAP50-95": "p",
        "p mAP50-95 paired": "p paired",
    }
    columns.update({k: k for k in summary[0] if k.startswith("AP50-95 ") and not k.endswith(" sd")})
    files = write_outputs(summary, columns, out, "accuracy", "mAP50-95", "mAP50-95 (mean over seeds)")
    files.append(out / "accuracy_runs.csv")
    with files[-1].open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in runs for k in r)))
        w.writeheader()
        w.writerows(runs)
    return files, markdown_table(summary, columns)


def permutation_p(a: list[float], b: list[float], draws: int = 20_000) -> float:
    """Two-sided p-value of the difference of the means of ``a`` and ``b`` (seeds of two models) by permutation.

    The share of random relabellings of the pooled values whose mean difference is at least as large as the one
    observed (Monte Carlo with a fixed generator, so a table is reproducible; the observed labelling counts as one
    draw). A permutation test assumes no distribution of mAP over seeds, which a handful of seeds cannot check.
    NaN when either model has fewer than two seeds.
    """
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = np.array([*a, *b])
    observed = abs(np.mean(a) - np.mean(b))
    rng = np.random.default_rng(0)
    shuffled = rng.permuted(np.tile(pooled, (draws, 1)), axis=1)
    diffs = np.abs(shuffled[:, : len(a)].mean(1) - shuffled[:, len(a) :].mean(1))
    return float((1 + np.sum(diffs >= observed - 1e-12)) / (1 + draws))


def paired_p(a: list[float], b: list[float], draws: int = 20_000) -> float:
    """Two-sided p-value of the mean of the per-seed differences ``a[i] - b[i]`` by sign flipping.

    ``a[i]`` and ``b[i]`` are two models trained with the same seed. Ultralytics' seeded training gives every model
    the same batches and augmentations for a seed (measured on DeepPCB: the per-batch instance counts of YOLOv8n,
    yolo-freq-n and SD-GASNet-n runs of one seed are identical), so the runs of a seed share their data-order luck,
    which the difference cancels. Under no effect each difference is as likely positive as negative: p is the share
    of sign assignments whose mean difference is at least as large in size as the one observed, all 2**n of them up
    to 16 seeds (so with n seeds p cannot go below 2 / 2**n), else ``draws`` random ones with a fixed generator.
    NaN with fewer than two pairs.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n, observed = len(d), abs(d.sum())
    if n < 2:
        return float("nan")
    if n <= 16:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        return float(np.mean(np.abs(signs @ d) >= observed - 1e-12))
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(draws, n))
    return float((1 + np.sum(np.abs(signs @ d) >= observed - 1e-12)) / (1 + draws))


# defaults of the options that only apply with --train; one given without it is refused, not ignored
TRAIN_OPTIONS = {
    "data": ["pcb-demo.yaml"],
    "epochs": 30,
    "train_imgsz": 320,
    "batch": 16,
    "seeds": [0, 1, 2],
    "device": None,
    "no_val": False,
    "pretrained": None,
}


def cmd_bench(args) -> int:
    """``yolo-freq bench``: cost table (always) and, with ``--train``, accuracy at equal budget."""
    import platform

    given = [f"--{k.replace('_', '-')}" for k, v in TRAIN_OPTIONS.items() if getattr(args, k) != v]
    if given and not args.train:
        print(
            f"yolo-freq bench: error: {' '.join(given)} only apply with --train; add --train or drop them",
            file=sys.stderr,
        )
        return 2
    models = args.models or models_at_scale(args.scale)
    out = Path(args.out)
    print(
        f"yolo-freq bench: {len(models)} models, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch threads {args.threads}, imgsz {args.imgsz}, {args.runs} interleaved runs"
    )
    rows = cost_rows(
        models, args.imgsz, args.runs, args.threads, onnx=not args.no_onnx, reference_pair=args.reference_pair
    )
    columns = cost_columns(models[0], composing=bool(args.reference_pair))
    files = write_outputs(rows, columns, out, "cost", "latency_ms", f"CPU ms per image @{args.imgsz}")
    print(markdown_table(rows, columns))
    if args.train:
        starts = [None if s.lower() == "none" else s for s in args.pretrained] if args.pretrained else None
        summary, runs = train_rows(
            models,
            args.data,
            args.epochs,
            args.train_imgsz,
            args.seeds,
            out / "runs",
            batch=args.batch,
            device=args.device,
            starts=starts,
            val=not args.no_val,
        )
        model_of = {a.name: a.model for a in arms(models, args.data, starts)}
        for row in summary:
            row.update(
                {
                    k: v
                    for r in rows
                    if r["model"] == model_of[row["model"]]
                    for k, v in r.items()
                    if k in ("params_M", "gflops")
                }
            )
        vs = None
        if len(args.data) > 1:
            vs = f"vs same model @ {data_label(args.data[0])}"
        elif starts and len(starts) > 1:
            vs = f"vs same model from {start_label(starts[0])}"
        accuracy_files, table = write_accuracy(summary, runs, out, vs)
        files += accuracy_files
        print(table)
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


class _Distinct(argparse.Action):
    """Store a list argument, refusing repeats (by ``key``) with a usage error.

    Runs are named ``<model stem>-seed<seed>``, so repeats would share one run folder: a repeated seed or model
    would be trained once and counted twice (inflating the seed count behind the spread and both p values), and two
    YAMLs with one file name would overwrite each other's runs.
    """

    def __init__(self, *args, key=lambda v: v, what="value", **kwargs):
        super().__init__(*args, **kwargs)
        self.key, self.what = key, what

    def __call__(self, parser, namespace, values, option_string=None):
        keys = [self.key(v) for v in values]
        repeated = list(dict.fromkeys(k for k in keys if keys.count(k) > 1))
        if repeated:
            given = ", ".join(str(v) for v in values if self.key(v) in repeated)
            parser.error(
                f"{self.what} repeated ({given}): bench names each run by model file name and seed, so these "
                f"would share one run folder; give each {self.what} once"
            )
        setattr(namespace, self.dest, values)


def add_arguments(p) -> None:
    """Arguments of ``yolo-freq bench``."""
    from yolo_freq.cli import model_yaml

    p.add_argument(
        "models",
        nargs="*",
        type=model_yaml,
        action=_Distinct,
        key=lambda m: Path(m).stem,
        what="model file name",
        help="model YAMLs, the first one the baseline of the ratio, difference and p columns; default: yolov8<scale> "
        "and every yolo-freq model",
    )
    p.add_argument("--scale", default="n", choices=list("nslmx"), help="scale of the default model list")
    p.add_argument("--imgsz", type=int, default=640, help="input size for latency and export")
    p.add_argument("--runs", type=int, default=20, help="timed runs per model (median reported)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and onnxruntime CPU threads")
    p.add_argument("--no-onnx", action="store_true", help="skip ONNX export and onnxruntime timing")
    p.add_argument(
        "--reference-pair",
        nargs=2,
        metavar=("IMAGE", "GOLDEN"),
        help="also time composing this image with its golden image as yolo-freq predict does, interleaved with the "
        "models, and report it as a share of each model's latency",
    )
    p.add_argument("--out", default="runs/bench", help="folder for CSV, Markdown and PNG outputs")
    p.add_argument("--train", action="store_true", help="also train and evaluate every model (accuracy mode)")
    p.add_argument(
        "--data",
        nargs="+",
        default=TRAIN_OPTIONS["data"],
        help="dataset YAML for --train; with several, every model is trained on each and compared with itself on the "
        "first (e.g. plain images, then the same images composed with their references)",
    )
    p.add_argument("--epochs", type=int, default=TRAIN_OPTIONS["epochs"], help="epochs for --train")
    p.add_argument(
        "--train-imgsz",
        type=int,
        default=TRAIN_OPTIONS["train_imgsz"],
        help="training and validation image size for --train",
    )
    p.add_argument("--batch", type=int, default=TRAIN_OPTIONS["batch"], help="batch size for --train")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=TRAIN_OPTIONS["seeds"],
        action=_Distinct,
        what="seed",
        help="seeds for --train (spread reported)",
    )
    p.add_argument("--device", default=TRAIN_OPTIONS["device"], help="training device, e.g. cpu or 0")
    p.add_argument(
        "--pretrained",
        nargs="+",
        metavar="CHECKPOINT",
        action=_Distinct,
        key=start_label,
        what="start",
        help="start every model from this checkpoint (layer by layer, as pretrained= does); with several (none: "
        "from scratch), every model is trained from each and compared with itself from the first",
    )
    p.add_argument(
        "--no-val",
        action="store_true",
        help="train without per-epoch validation (Ultralytics val=False): faster, and the last epoch is evaluated, "
        "not the epoch that scored best on the very split the table reports",
    )
