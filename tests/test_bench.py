"""`yolo-freq bench` writes its tables and plot, and its figures are the ones it measured."""

import csv
import subprocess
import sys

from yolo_freq.bench import models_at_scale


def test_default_model_list_is_yolov8_then_every_bundled_family():
    names = models_at_scale("n")
    assert names[0] == "yolov8n.yaml"
    assert {"pcb-fs-n.yaml", "sd-gasnet-n.yaml", "yolov8-fdsa-n.yaml"} <= set(names)


def test_bench_cost_and_train_modes(tmp_path, offline_env):
    out = tmp_path / "bench"
    args = ["yolov8n.yaml", "pcb-fs-n.yaml", "--imgsz", "64", "--runs", "2", "--threads", "1", "--out", str(out)]
    train = ["--train", "--epochs", "1", "--train-imgsz", "64", "--batch", "4", "--seeds", "0", "1", "--device", "cpu"]
    proc = subprocess.run(
        [sys.executable, "-m", "yolo_freq.cli", "bench", *args, *train],
        cwd=tmp_path,
        env=offline_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("cost.csv", "cost.md", "cost.png", "accuracy.csv", "accuracy.md", "accuracy.png", "accuracy_runs.csv"):
        assert (out / name).stat().st_size > 0, name
    cost = {r["model"]: r for r in csv.DictReader((out / "cost.csv").open())}
    assert float(cost["yolov8n.yaml"]["latency_ratio"]) == 1.0
    assert float(cost["pcb-fs-n.yaml"]["latency_ms"]) > 0
    assert float(cost["pcb-fs-n.yaml"]["onnx_max_abs_diff"]) < 1e-2  # boxes in px at 64: exported graph matches
    runs = list(csv.DictReader((out / "accuracy_runs.csv").open()))
    assert sorted((r["model"], r["seed"]) for r in runs) == sorted(
        (m, s) for m in ("yolov8n.yaml", "pcb-fs-n.yaml") for s in ("0", "1")
    )
    summary = {r["model"]: r for r in csv.DictReader((out / "accuracy.csv").open())}
    assert summary["pcb-fs-n.yaml"]["seeds"] == "2" and "mAP50-95 sd" in summary["pcb-fs-n.yaml"]
    assert "| pcb-fs-n.yaml |" in proc.stdout and "x YOLOv8" in proc.stdout
