"""Golden-template inspection end to end, as a user runs it: convert with references, stock `yolo train`, then
`yolo-freq predict` and `yolo export` of the checkpoint in fresh processes, with the composing shared bitwise."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from test_workflow import yolo

from yolo_freq import cli
from yolo_freq.predict import compose_input, model_spec, predict
from yolo_freq.reference import CompositeSpec, ReferenceError

SAMPLE = Path(__file__).resolve().parent / "data" / "deeppcb-sample"
VAL = ("77000001", "77000006")


def yolo_freq(args, cwd, env):
    exe = Path(sys.executable).with_name("yolo-freq")
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def inspection(tmp_path_factory, offline_env):
    """The sample converted with references, a YOLOv8n trained on it by stock `yolo train`, and a folder of new
    images with a folder of golden images named like them (what a line's operator has)."""
    work = tmp_path_factory.mktemp("inspection")
    assert cli.main(["convert", str(SAMPLE), "--out", str(work / "data"), "--reference", "paired"]) == 0
    args = "train model=yolov8n.yaml epochs=1 imgsz=64 batch=2 workers=0 plots=False seed=0 name=run"
    proc = yolo([*args.split(), f"data={work / 'data' / 'data.yaml'}", f"project={work}"], work, offline_env)
    images, golden = work / "boards", work / "golden"
    for stem in VAL:
        test = next(SAMPLE.rglob(f"{stem}_test.jpg"))
        shutil.copy(test, images / test.name) if images.is_dir() else (images.mkdir(), shutil.copy(test, images))
        golden.mkdir(exist_ok=True)
        shutil.copy(test.with_name(f"{stem}_temp.jpg"), golden / test.name)  # the golden image of that board
    return SimpleNamespace(work=work, best=work / "run" / "weights" / "best.pt", log=proc.stdout + proc.stderr,
                           images=images, golden=golden)  # fmt: skip


def test_training_switches_off_hsv_and_records_the_spec(inspection):
    from ultralytics import YOLO

    assert "switched off hsv_h=0.015, hsv_s=0.7, hsv_v=0.4" in inspection.log
    assert YOLO(inspection.best).model.reference == CompositeSpec().to_dict()


def test_yolo_freq_predict_from_a_fresh_process(inspection, offline_env, tmp_path):
    args = [f"model={inspection.best}", f"source={inspection.images}", f"reference={inspection.golden}"]
    proc = yolo_freq(["predict", *args, "imgsz=64", "save_txt=True", f"project={tmp_path}", "name=p"], tmp_path,
                     offline_env)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.count("response") == 2 and "applied" in out
    saved = tmp_path / "p"
    assert sorted(p.name for p in saved.glob("*.jpg")) == [f"{s}_test.jpg" for s in VAL]  # the inspected images
    assert (saved / "labels").is_dir()
    drawn = cv2.imread(str(saved / f"{VAL[0]}_test.jpg"))
    assert drawn.shape == (640, 640, 3)  # drawn on the 640x640 inspected image, not on the model input


def test_prediction_composes_bitwise_as_training(inspection, monkeypatch):
    from ultralytics.models.yolo.detect import DetectionPredictor

    seen = []
    preprocess = DetectionPredictor.preprocess

    def record(self, im):
        seen.extend(np.copy(x) for x in im)
        return preprocess(self, im)

    monkeypatch.setattr(DetectionPredictor, "preprocess", record)
    results = predict(inspection.best, inspection.images, inspection.golden, imgsz=64, save=False, verbose=False)
    trained_on = [cv2.imread(str(inspection.work / "data" / "images" / "val" / f"{s}.png"), -1) for s in VAL]
    assert len(seen) == 2 and all(np.array_equal(a, b) for a, b in zip(seen, trained_on))
    assert all(r.alignment.applied and r.alignment.response > 0.4 for r in results)


def test_exported_onnx_takes_the_composed_input_with_parity(inspection, offline_env, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from ultralytics import YOLO
    from ultralytics.models.yolo.detect import DetectionPredictor

    ckpt = tmp_path / "best.pt"
    shutil.copy(inspection.best, ckpt)
    yolo(["export", f"model={ckpt}", "format=onnx", "imgsz=64"], tmp_path, offline_env)
    image = inspection.images / f"{VAL[0]}_test.jpg"
    x, alignment = compose_input(image, inspection.golden / image.name, imgsz=64)
    assert x.shape == (1, 3, 64, 64) and alignment.applied

    session = ort.InferenceSession(str(tmp_path / "best.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: x})[0]
    model = YOLO(str(ckpt)).model.float().eval().fuse(verbose=False)
    with torch.no_grad():
        torch_out = model(torch.from_numpy(x))[0].numpy()
    assert np.abs(onnx_out[:, :4] - torch_out[:, :4]).max() <= 1e-2
    assert np.abs(onnx_out[:, 4:] - torch_out[:, 4:]).max() <= 1e-4

    # `yolo-freq predict` on the .onnx feeds it exactly what compose_input makes (the grey3 form from 3 channels)
    fed = []
    inference = DetectionPredictor.inference

    def record(self, im, *args, **kwargs):
        fed.append(im.numpy().copy())
        return inference(self, im, *args, **kwargs)

    DetectionPredictor.inference = record
    try:
        predict(tmp_path / "best.onnx", image, inspection.golden / image.name, imgsz=64, save=False, verbose=False)
    finally:
        DetectionPredictor.inference = inference
    assert np.array_equal(fed[0], x)


def test_plain_yolo_predict_warns_that_the_model_expects_composites(inspection, offline_env, tmp_path):
    proc = yolo(["predict", f"model={inspection.best}", f"source={inspection.images}", "imgsz=64",
                 f"project={tmp_path}"], tmp_path, offline_env)  # fmt: skip
    assert "trained on images composed with a reference (grey3)" in proc.stdout + proc.stderr


def test_predict_refuses_images_without_a_usable_reference_before_running(inspection, offline_env, tmp_path):
    extra, golden = inspection.images.parent / "more", inspection.images.parent / "golden-more"
    shutil.copytree(inspection.images, extra)
    shutil.copytree(inspection.golden, golden)
    shutil.copy(next(SAMPLE.rglob("13000000_test.jpg")), extra)  # no golden image of that name
    cv2.imwrite(str(golden / f"{VAL[1]}_test.jpg"), np.zeros((320, 320), np.uint8))  # another size
    args = ["predict", f"model={inspection.best}", f"source={extra}", f"reference={golden}", "imgsz=64"]
    proc = yolo_freq([*args, f"project={tmp_path}"], tmp_path, offline_env)
    assert proc.returncode == 2 and "2 images in" in proc.stderr
    assert "13000000_test.jpg: no image named" in proc.stderr and "is 320x320, it is 640x640" in proc.stderr
    assert not any(tmp_path.rglob("*.jpg"))  # nothing ran


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "model=best.pt", "source=x"], "reference missing"),
        (["predict", "model=best.pt", "source=x", "reference"], "is not key=value"),
        (["predict", "model=best.pt", "source=x", "reference=g.png", "conf="], "missing 'conf' value"),
    ],
)
def test_predict_usage_errors(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "usage: yolo-freq predict model=" in err


def test_model_spec_rules():
    trained = SimpleNamespace(model=SimpleNamespace(reference={"form": "grey3", "align": True, "min_response": 0.2}))
    assert model_spec(trained, align=False) == CompositeSpec(align=False)
    with pytest.raises(ReferenceError, match="trained on grey3 composites, not colour6"):
        model_spec(trained, form="colour6")
    plain = SimpleNamespace(model=SimpleNamespace(reference=None), format="pt", channels=3)
    with pytest.raises(ReferenceError, match="trained on plain images"):
        model_spec(plain)
    assert model_spec(plain, form="grey3").form == "grey3"
    exported = SimpleNamespace(format="onnx", channels=6)
    assert model_spec(exported) == CompositeSpec("colour6")
    with pytest.raises(ReferenceError, match="no composite form makes 4"):
        model_spec(SimpleNamespace(format="onnx", channels=4))
