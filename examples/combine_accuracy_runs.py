"""One accuracy table from the per-run results of several ``yolo-freq bench --train`` invocations.

A seed study longer than one machine's life (runs trained over several sessions, or on several machines) keeps each
invocation's ``accuracy_runs.csv``; this script pools them and writes the table one invocation over all their seeds
would have written (the same pairing, means, spreads and p-values: ``yolo_freq.bench.summarise``). Params and GFLOPs
come from the first folder whose ``cost.csv`` lists the model. A (model, seed) run found twice is refused, not
averaged: it means the same seed was trained twice, and picking one would hide a choice.

Usage: python examples/combine_accuracy_runs.py OUT DIR [DIR ...]   (each DIR an earlier ``--out``)
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from yolo_freq.bench import summarise, write_accuracy


def read_runs(folder: Path) -> list[dict]:
    """Rows of ``folder``/accuracy_runs.csv with numbers parsed (a class a run never predicted is left out)."""
    with (folder / "accuracy_runs.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {"model": r["model"], "seed": int(r["seed"])}
        | {k: float(v) for k, v in r.items() if k not in ("model", "seed") and v != ""}
        for r in rows
    ]


def combine(out: Path, folders: list[Path]) -> str:
    """Pool the runs of ``folders`` and write the table under ``out``; return it as Markdown."""
    runs, where = [], {}
    for folder in folders:
        for run in read_runs(folder):
            key = (run["model"], run["seed"])
            if key in where:
                raise ValueError(f"{key[0]} seed {key[1]} is in both {where[key]} and {folder}: keep one of them")
            where[key] = folder
            runs.append(run)
    models = list(dict.fromkeys(r["model"] for r in runs))
    runs.sort(key=lambda r: (r["seed"], models.index(r["model"])))  # seed by seed, as one invocation lists them
    summary = summarise(runs, models)
    costs = {}
    for folder in reversed(folders):  # the first folder that lists a model wins
        if (folder / "cost.csv").is_file():
            costs |= {r["model"]: r for r in csv.DictReader((folder / "cost.csv").read_text().splitlines())}
    for row in summary:
        if row["model"] in costs:
            row.update({k: float(costs[row["model"]][k]) for k in ("params_M", "gflops")})
    _, table = write_accuracy(summary, runs, out)
    return table


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    try:
        print(combine(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]))
    except (OSError, ValueError) as e:
        sys.exit(f"combine_accuracy_runs: error: {e}")
