"""Stock `yolo` end to end in fresh processes: train with bare names, reload under safe-load, export to ONNX."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from yolo_freq.registry import DATASETS_DIR, MODELS_DIR

DEMO_VAL = DATASETS_DIR / "pcb-demo" / "images" / "val"


def yolo(args, cwd, env, check=True):
    """Run the stock `yolo` CLI (the console script next to this interpreter) and return the completed process."""
    exe = Path(sys.executable).with_name("yolo")
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode:
        pytest.fail(f"yolo {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def trained(tmp_path_factory, offline_env):
    """A PCB-FS-n checkpoint from one short `yolo train` with bare names, run from an empty temporary folder."""
    work = tmp_path_factory.mktemp("train")
    args = "train model=pcb-fs-n.yaml data=pcb-demo.yaml epochs=2 imgsz=128 batch=4 workers=0 plots=False seed=0"
    proc = yolo([*args.split(), f"project={work}", "name=run"], cwd=work, env=offline_env)
    return work / "run", proc


def test_train_writes_results_and_weights(trained):
    run, proc = trained
    assert (run / "weights" / "best.pt").is_file() and (run / "weights" / "last.pt").is_file()
    rows = list(csv.DictReader((run / "results.csv").open()))
    assert len(rows) == 2
    assert {"train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/mAP50(B)", "metrics/mAP50-95(B)"} <= {
        k.strip() for k in rows[0]
    }
    assert "pcb-fs-n summary" in proc.stdout + proc.stderr


@pytest.mark.parametrize("mode", ["val", "predict"])
def test_checkpoint_reloads_in_fresh_process_under_safe_load(trained, offline_env, tmp_path, mode):
    run, _ = trained
    env = {**offline_env, "ULTRALYTICS_SAFE_LOAD": "1"}
    extra = ["data=pcb-demo.yaml"] if mode == "val" else [f"source={DEMO_VAL}"]
    proc = yolo(
        [mode, f"model={run / 'weights' / 'best.pt'}", "imgsz=128", f"project={tmp_path}", *extra], tmp_path, env
    )
    out = proc.stdout + proc.stderr
    assert "pcb-fs-n summary (fused)" in out
    assert "mAP50-95" in out if mode == "val" else "2/2" in out


def test_loading_a_checkpoint_never_pip_installs(trained, offline_env, tmp_path):
    """With autoload off and auto-install on, loading must still not reach Ultralytics' requirement installer.

    Unpickling imports yolo_freq's block modules by path, which registers the plugin on the way. (Under
    ULTRALYTICS_SAFE_LOAD=1 with autoload off, `import yolo_freq` must come first: the restricted unpickler only
    accepts classes already allow-listed, and nothing of yolo-freq has run yet.)
    """
    run, _ = trained
    code = (
        "import ultralytics.utils.checks as c\n"
        "def refuse(*a, **k): raise SystemExit(f'check_requirements called with {a}')\n"
        "c.check_requirements = refuse\n"
        "from ultralytics import YOLO\n"
        f"r = YOLO({str(run / 'weights' / 'best.pt')!r}).predict({str(DEMO_VAL)!r}, imgsz=128, verbose=False)\n"
        "print('predictions', len(r))\n"
    )
    env = {**offline_env, "YOLO_FREQ_AUTOLOAD": "0", "YOLO_AUTOINSTALL": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "predictions 2" in proc.stdout


@pytest.mark.parametrize("imgsz", [320, 640])
def test_onnx_export_matches_pytorch(trained, offline_env, tmp_path, imgsz):
    ort = pytest.importorskip("onnxruntime")
    from PIL import Image
    from ultralytics import YOLO

    run, _ = trained
    ckpt = tmp_path / "best.pt"
    shutil.copy(run / "weights" / "best.pt", ckpt)
    yolo(["export", f"model={ckpt}", "format=onnx", f"imgsz={imgsz}"], tmp_path, offline_env)

    image = Image.open(sorted(DEMO_VAL.glob("*.jpg"))[0]).convert("RGB").resize((imgsz, imgsz))
    x = np.ascontiguousarray(np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0)
    session = ort.InferenceSession(str(tmp_path / "best.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: x})[0]

    model = YOLO(str(ckpt)).model.float().eval()
    model.fuse(verbose=False)
    with torch.no_grad():
        torch_out = model(torch.from_numpy(x))
    torch_out = (torch_out[0] if isinstance(torch_out, (list, tuple)) else torch_out).numpy()

    assert onnx_out.shape == torch_out.shape == (1, 4 + 6, sum((imgsz // s) ** 2 for s in (8, 16, 32)))
    box_err = np.abs(onnx_out[:, :4] - torch_out[:, :4]).max()
    score_err = np.abs(onnx_out[:, 4:] - torch_out[:, 4:]).max()
    assert box_err <= 1e-2, f"boxes differ by {box_err} px"
    assert score_err <= 1e-4, f"scores differ by {score_err}"


@pytest.mark.parametrize("family", sorted(p.stem for p in MODELS_DIR.glob("*.yaml")))
def test_every_family_trains_and_validates_from_stock_yolo(family, tmp_path, offline_env):
    """`yolo train` by bare name for every bundled family, validating the final weights as Ultralytics does after
    training. (Every family's ONNX export through Ultralytics' exporter: test_models_extra.py.)"""
    args = f"train model={family}-n.yaml data=pcb-demo.yaml epochs=1 imgsz=64 batch=4 workers=0 plots=False seed=0"
    proc = yolo([*args.split(), f"project={tmp_path}", "name=run"], cwd=tmp_path, env=offline_env)
    best = tmp_path / "run" / "weights" / "best.pt"
    assert best.is_file() and f"{family}-n summary" in (proc.stdout + proc.stderr).lower()  # Ultralytics: "YOLO-freq-n"
    assert "mAP50-95" in proc.stdout + proc.stderr  # the final validation ran
