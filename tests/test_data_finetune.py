"""Fine-tuning on converted data (examples/finetune_in_house.py, yolo_freq.data.finetune): a checkpoint trained on
pcb-demo is fine-tuned on a converted VOC folder with other classes, and the transfer count matches Ultralytics' own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import make_image, voc_xml

ROOT = Path(__file__).resolve().parents[1]


def test_finetune_example_transfers_checkpoint_to_new_classes(tmp_path, offline_env):
    """A checkpoint trained on pcb-demo (6 classes) fine-tuned on a converted 2-class VOC folder, via the example."""
    env = {**offline_env, "OMP_NUM_THREADS": "1", "YOLO_VERBOSE": "True"}  # verbose: Ultralytics logs its own count
    tiny = ["epochs=1", "imgsz=64", "batch=4", "workers=0", "plots=False", "device=cpu"]
    yolo = Path(sys.executable).with_name("yolo")
    pre = [str(yolo), "train", "model=pcb-fs-n.yaml", "data=pcb-demo.yaml", "name=pre", f"project={tmp_path}", *tiny]
    run = subprocess.run(pre, env=env, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    ckpt = tmp_path / "pre" / "weights" / "best.pt"
    boards = tmp_path / "boards"
    for k in range(6):
        make_image(boards / f"{k}.jpg", seed=k)
        voc_xml(boards / f"{k}.xml", f"{k}.jpg", (128, 96), [("scratch", 8, 8, 40, 30), ("stain", 50, 40, 90, 80)])
    example = [sys.executable, str(ROOT / "examples" / "finetune_in_house.py"), str(boards), str(ckpt)]
    example += ["--out", str(tmp_path / "data"), "--model", "pcb-fs-n.yaml", "--epochs", "1", "--imgsz", "64"]
    example += ["--batch", "4", "--workers", "0", "--device", "cpu", "--plots", "no"]
    example += ["--project", str(tmp_path), "--name", "ft"]
    run = subprocess.run(example, env=env, capture_output=True, text=True, cwd=tmp_path, check=False)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert "images written: 6 (train 5, val 1)" in log and "problems: 0" in log  # the conversion report
    ours = re.search(r"Transferred (\d+)/(\d+) tensors from .* with 2 classes", log)
    theirs = re.search(r"Transferred (\d+)/(\d+) items from pretrained weights", log)
    assert ours and theirs and ours.groups() == theirs.groups(), log[-3000:]
    done, total = map(int, ours.groups())
    assert 0.95 * total < done < total  # all but the class-specific output layers
    assert (tmp_path / "ft" / "weights" / "best.pt").is_file()
