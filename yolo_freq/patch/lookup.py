"""Finding yolo-freq's YAMLs by bare name, and model scales by file name: ``check_file`` finds the bundled model and
dataset YAMLs from any working directory, and ``yaml_model_load`` learns the ``<name>-<scale>.yaml`` convention
(``pcb-fs-n.yaml``) and a model YAML's own ``default_scale`` key (bare ``pcb-fs.yaml`` is the paper's s scale).
Ultralytics' own YAMLs load exactly as without yolo-freq."""

from __future__ import annotations

import os
import re
from pathlib import Path

from yolo_freq.paths import find_bundled

from . import rebind


def _make_check_file(check_file):
    def check_file_with_bundled(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and not os.path.exists(str(file)):
            bundled = find_bundled(file)
            if bundled is not None:
                return str(bundled)
        return check_file(file, *args, **kwargs)

    check_file_with_bundled.__wrapped__ = check_file
    return check_file_with_bundled


def _is_stock(yaml_file, check_yaml) -> bool:
    """Whether a model YAML is one of Ultralytics' own (resolved inside its package's cfg folder)."""
    import ultralytics

    found = check_yaml(yaml_file, hard=False) if yaml_file else None
    return bool(found) and Path(found).resolve().is_relative_to(Path(ultralytics.__file__).resolve().parent / "cfg")


def _make_yaml_model_load(yaml_model_load, check_yaml):
    def yaml_model_load_with_scales(path):
        path = Path(path)
        scaled = re.fullmatch(r"(.+)-([nslmx])", path.stem)
        base = path
        if scaled and not check_yaml(path, hard=False):
            candidate = path.with_name(scaled[1] + path.suffix)
            if check_yaml(candidate, hard=False):
                base = candidate
        d = yaml_model_load(base)
        if _is_stock(d.get("yaml_file"), check_yaml):  # Ultralytics' own YAMLs load as without yolo-freq
            return d
        if scaled and (base is not path or not d["scale"]):  # also a file saved as mynet-n.yaml: Ultralytics
            d["scale"] = scaled[2]  # reads a scale only from yolov8n-style names
        d["scale"] = d["scale"] or d.get("default_scale", "")
        d["yaml_file"] = str(path)
        return d

    yaml_model_load_with_scales.__wrapped__ = yaml_model_load
    return yaml_model_load_with_scales


def register(tasks) -> None:
    """Install the bundled-name ``check_file`` and the scale-aware ``yaml_model_load``."""
    from ultralytics.utils import checks

    check_file, yaml_model_load = checks.check_file, tasks.yaml_model_load
    rebind(check_file, _make_check_file(check_file))
    rebind(yaml_model_load, _make_yaml_model_load(yaml_model_load, checks.check_yaml))
