"""Where yolo-freq's bundled model and dataset YAMLs are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_CFG = Path(__file__).resolve().parent / "cfg"
CFG_DIR = _CFG if _CFG.is_dir() else Path(__file__).resolve().parents[1] / "cfg"  # wheel, else source checkout
MODELS_DIR, DATASETS_DIR = CFG_DIR / "models", CFG_DIR / "datasets"


def find_bundled(name: str | Path) -> Path | None:
    """Return yolo-freq's bundled model or dataset YAML called `name` (a bare file name), or None."""
    p = Path(str(name).strip())
    if p.parent != Path(".") or p.suffix not in {".yaml", ".yml"}:
        return None
    for d in (MODELS_DIR, DATASETS_DIR):
        if (d / p.name).is_file():
            return d / p.name
    return None
