"""``yolo-freq bench``: the cost table always, and with ``--train`` the accuracy table (the parser is in cli.py)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from .accuracy import arms, data_label, start_label, train_rows, write_accuracy
from .cost import cost_columns, cost_rows, models_at_scale
from .tables import markdown_table, write_outputs

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


def run(args) -> int:
    """``yolo-freq bench``: cost table (always) and, with ``--train``, accuracy at equal budget."""
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
