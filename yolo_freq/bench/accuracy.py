"""Accuracy at equal budget: every model (on every dataset, from every start) trained with the same seeds and recipe,
evaluated, summarised with its spread over seeds and its seed-paired difference from its baseline."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from .stats import paired_p, permutation_p
from .tables import markdown_table, write_csv, write_outputs


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
    files.append(write_csv(runs, out / "accuracy_runs.csv"))
    return files, markdown_table(summary, columns)
