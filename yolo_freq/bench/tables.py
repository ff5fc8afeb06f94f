"""The one writer of the benchmark's tables: Markdown, CSV and the accuracy or latency plot."""

from __future__ import annotations

import csv
from pathlib import Path


def _fmt(v) -> str:
    """Floats with enough digits to compare: mAP-scale values (< 1) to 4 decimals, tiny ones in e-notation."""
    if isinstance(v, float):
        return f"{v:.2e}" if 0 < abs(v) < 1e-3 else f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def markdown_table(rows: list[dict], columns: dict, formats: dict[str, str] | None = None) -> str:
    """Rows as a Markdown table with the given {key: header} columns (missing values shown as '-').

    ``formats`` gives a format spec per key (e.g. ``".2f"``); those columns are right-aligned. Other values are
    shown with enough digits to compare (``_fmt``).
    """
    formats = formats or {}

    def cell(r, k):
        if k not in r:
            return "-"
        return format(r[k], formats[k]) if k in formats else _fmt(r[k])

    lines = [
        "| " + " | ".join(columns.values()) + " |",
        "|" + "".join("---:|" if k in formats else "---|" for k in columns),
    ]
    lines += ["| " + " | ".join(cell(r, k) for k in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(rows: list[dict], path: Path) -> Path:
    """Rows as CSV, every key that any row has as a column, in first-seen order."""
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    return path


def write_outputs(rows: list[dict], columns: dict, out: Path, stem: str, plot_y: str, plot_label: str) -> list[Path]:
    """Write ``stem``.csv, .md and .png (``plot_y`` against GFLOPs) under ``out``; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, png_path = (out / f"{stem}{s}" for s in (".csv", ".md", ".png"))
    write_csv(rows, csv_path)
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
