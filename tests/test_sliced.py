"""Sliced prediction and validation of whole boards (yolo_freq.sliced): boxes against Ultralytics' own, across tile
borders, from ONNX, with golden references in the channel order of training, the outputs, the metrics, bad input.

The checkpoint is built, not trained (training takes longer than all these tests): YOLOv8n with its batch norms
calibrated on the DeepPCB sample and head biases that give a handful of content-dependent boxes at conf 0.25.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from yolo_freq import cli
from yolo_freq.reference import CompositeSpec

pytest.importorskip("sahi")

SAMPLE = Path(__file__).resolve().parent / "data" / "deeppcb-sample" / "PCBData"
BOARD = SAMPLE / "group77000" / "77000" / "77000001_test.jpg"
IMGSZ = 128
NAMES = ["open", "short", "mousebite", "spur", "copper", "pin-hole"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """plain.pt, and composite.pt: the same weights recorded as trained on grey3 reference composites."""
    from ultralytics.nn.tasks import DetectionModel

    work = tmp_path_factory.mktemp("sliced")
    torch.manual_seed(0)
    model = DetectionModel("yolov8n.yaml", nc=len(NAMES), verbose=False)
    model.names = dict(enumerate(NAMES))
    images = [cv2.resize(cv2.imread(str(p)), (64, 64))[..., ::-1] for p in sorted(SAMPLE.rglob("*.jpg"))]
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()).float() / 255
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # calibrated: random convolutions would otherwise fade to zero
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    head = model.model[-1]
    for cls_conv, box_conv in zip(head.cv3, head.cv2):
        cls_conv[-1].weight.data *= 3
        cls_conv[-1].bias.data.fill_(-3.0)
        box_conv[-1].bias.data.copy_((-0.8 * torch.arange(16.0)).repeat(4))  # short DFL distances: boxes of parts
    torch.save({"model": model, "train_args": {"imgsz": IMGSZ}}, work / "plain.pt")
    model.reference = CompositeSpec().to_dict()
    torch.save({"model": model, "train_args": {"imgsz": IMGSZ}}, work / "composite.pt")
    return SimpleNamespace(plain=work / "plain.pt", composite=work / "composite.pt", work=work)


@pytest.fixture
def ultralytics_log():
    """Lines logged by Ultralytics' logger (which does not propagate to pytest's capture)."""
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("ultralytics")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def boards(folder: Path, *images: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for image in images:
        shutil.copy(image, folder / image.name)
    return folder


def label_file(path: Path) -> np.ndarray:
    rows = np.array([[float(v) for v in line.split()] for line in path.read_text().splitlines()]).reshape(-1, 5)
    return rows[np.lexsort(rows.T[::-1])]


def by_confidence(boxes: torch.Tensor) -> torch.Tensor:
    return boxes[torch.argsort(boxes[:, 4], descending=True, stable=True)]


def test_one_tile_gives_ultralytics_own_boxes_and_outputs(checkpoints, tmp_path):
    from ultralytics import YOLO
    from ultralytics.utils.files import increment_path

    source = boards(tmp_path / "boards", BOARD, SAMPLE / "group13000" / "13000" / "13000000_test.jpg")
    own = YOLO(checkpoints.plain).predict(source, imgsz=IMGSZ, save=True, save_txt=True, project=str(tmp_path),
                                           verbose=False)  # fmt: skip
    ours = increment_path(tmp_path / "predict")  # the next run folder, as Ultralytics names it
    args = [f"model={checkpoints.plain}", f"source={source}", "tile=640", f"imgsz={IMGSZ}", "save_txt=True"]
    assert cli.main(["predict", *args, f"project={tmp_path}"]) == 0

    stems = sorted(Path(r.path).stem for r in own)
    assert sorted(p.stem for p in ours.glob("*.jpg")) == stems
    assert cv2.imread(str(ours / f"{stems[0]}.jpg")).shape == (640, 640, 3)  # drawn on the board itself
    assert sum(len(r.boxes) for r in own) >= 5  # the comparison below compares boxes, not empty files
    for stem in stems:
        np.testing.assert_allclose(label_file(ours / "labels" / f"{stem}.txt"),
                                   label_file(tmp_path / "predict" / "labels" / f"{stem}.txt"), atol=2e-6)  # fmt: skip
    saved = json.loads((ours / "predictions.json").read_text())
    assert (saved["tile"], saved["overlap"], saved["reference"]) == (640, 0.2, None)
    for board, result in zip(saved["boards"], own):
        assert Path(board["image"]).name == Path(result.path).name
        xyxy = [[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in board["detections"]]
        np.testing.assert_allclose(np.array(xyxy).reshape(-1, 4), by_confidence(result.boxes.data)[:, :4], atol=1e-3)


def test_a_board_placed_in_a_larger_canvas_is_found_at_its_shifted_place(checkpoints):
    from ultralytics import YOLO

    from yolo_freq.sliced import sliced_predict

    board = cv2.imread(str(BOARD))
    canvas = np.full((1280, 1280, 3), 255, np.uint8)
    canvas[:640, 640:] = board  # exactly the top-right tile: it sees the board's own pixels
    alone = by_confidence(YOLO(checkpoints.plain).predict(board, imgsz=IMGSZ, verbose=False)[0].boxes.data)
    result = sliced_predict(checkpoints.plain, canvas, tile=640, overlap=0, imgsz=IMGSZ, verbose=False)[0]
    found = result.boxes.data
    on_board = found[(found[:, 0] >= 640) & (found[:, 3] <= 640)]
    assert len(alone) >= 3 and result.orig_shape == (1280, 1280)
    expected = alone.clone()
    expected[:, [0, 2]] += 640
    np.testing.assert_allclose(on_board, expected, atol=1e-3)
    assert not ((found[:, 0] < 640) & (found[:, 2] > 640)).any()  # no box straddles the board's edge


class SquareFinder:
    """A stand-in for Ultralytics' predictor: one class-0 box around each bright square it sees in a tile, scored by
    how much of a 60 px square it sees, so a tile that sees a square whole outscores one that sees it cut."""

    model = SimpleNamespace(names={0: "defect"})
    args = SimpleNamespace(conf=0.25, agnostic_nms=False, batch=1, max_det=300)

    def __call__(self, source):
        results = []
        for tile in source:
            n, _, stats, _ = cv2.connectedComponentsWithStats((tile[..., 0] > 128).astype(np.uint8))
            rows = [[x, y, x + w, y + h, 0.5 + 0.5 * w * h / 3600, 0] for x, y, w, h, _ in stats[1:n]]
            boxes = torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)
            results.append(SimpleNamespace(boxes=SimpleNamespace(data=boxes)))
        return results


def test_boxes_crossing_a_tile_border_merge_into_one():
    from yolo_freq.sliced.detector import TiledDetector

    image = np.zeros((640, 1280, 3), np.uint8)
    image[300:360, 620:680] = 255  # a third in the first tile (x < 640), whole in the second (512..1152)
    image[100:160, 1200:1260] = 255  # a second defect, in the last tile only
    detector = TiledDetector(SimpleNamespace(overrides={"task": "detect"}), SquareFinder(), tile=640, overlap=0.2)
    assert detector.tiles(640, 1280) == [[0, 0, 640, 640], [512, 0, 1152, 640], [640, 0, 1280, 640]]
    seen = [SquareFinder()(source=[image[:, x : x + 640]])[0].boxes.data[:, :4].tolist() for x in (0, 512, 640)]
    # the crossing square cut to a third and to two thirds (IoU with itself whole 1/3 and 2/3, IOS 1 both)
    assert seen == [[[620, 300, 640, 360]], [[108, 300, 168, 360]], [[560, 100, 620, 160], [0, 300, 40, 360]]]
    np.testing.assert_allclose(detector(image)[:, :4], [[620, 300, 680, 360], [1200, 100, 1260, 160]])


def test_onnx_export_gives_the_pt_boxes(checkpoints, tmp_path):
    pytest.importorskip("onnxruntime")
    from ultralytics import YOLO

    from yolo_freq.sliced import sliced_predict

    pt = shutil.copy(checkpoints.plain, tmp_path / "plain.pt")
    onnx = YOLO(pt).export(format="onnx", imgsz=IMGSZ)
    canvas = np.full((1100, 1300, 3), 255, np.uint8)
    canvas[200:840, 300:940] = cv2.imread(str(BOARD))  # off the tile grid: tiles cut the board anywhere
    kwargs = dict(tile=640, overlap=0.2, imgsz=IMGSZ, verbose=False)
    from_pt = sliced_predict(pt, canvas, **kwargs)[0].boxes.data
    from_onnx = sliced_predict(onnx, canvas, **kwargs)[0].boxes.data
    assert len(from_pt) >= 5 and len(from_onnx) == len(from_pt)
    np.testing.assert_allclose(from_onnx[:, :4], from_pt[:, :4], atol=0.05)
    np.testing.assert_allclose(from_onnx[:, 4:], from_pt[:, 4:], atol=1e-4)


def test_reference_tiles_reach_the_model_as_the_unsliced_composite(checkpoints, tmp_path, monkeypatch):
    from sahi.models.ultralytics import UltralyticsDetectionModel
    from ultralytics import YOLO
    from ultralytics.models.yolo.detect import DetectionPredictor

    from yolo_freq.predict import predict
    from yolo_freq.sliced import sliced_predict

    golden = tmp_path / "golden"
    golden.mkdir()
    shutil.copy(BOARD.with_name("77000001_temp.jpg"), golden / BOARD.name)
    fed = []
    preprocess = DetectionPredictor.preprocess

    def record(self, im):
        fed.extend(np.copy(x) for x in im)
        return preprocess(self, im)

    monkeypatch.setattr(DetectionPredictor, "preprocess", record)
    unsliced = predict(checkpoints.composite, BOARD, golden, imgsz=IMGSZ, verbose=False)[0]
    composite = fed.pop()
    grey, reference, difference = cv2.split(composite)
    assert not (np.array_equal(grey, reference) or np.array_equal(grey, difference))  # the channels differ

    sliced = sliced_predict(checkpoints.composite, BOARD, tile=640, reference=golden, imgsz=IMGSZ, verbose=False)[0]
    assert np.array_equal(fed.pop(), composite)  # the same array, in the same channel order
    np.testing.assert_allclose(sliced.boxes.data, by_confidence(unsliced.boxes.data), atol=1e-4)
    assert np.array_equal(sliced.orig_img, cv2.imread(str(BOARD)))  # drawn on the inspected board
    assert sliced.alignment.applied and sliced.alignment == unsliced.alignment

    sliced_predict(checkpoints.composite, BOARD, tile=320, overlap=0, reference=golden, imgsz=IMGSZ, verbose=False)
    crops = [composite[y : y + 320, x : x + 320] for y in (0, 320) for x in (0, 320)]
    assert len(fed) == 4 and all(np.array_equal(a, b) for a, b in zip(fed, crops))  # the board's composite, cut

    fed.clear()  # the trap handled: SAHI's own wrapper would have reversed the channels
    UltralyticsDetectionModel(model=YOLO(checkpoints.composite), device="cpu", image_size=IMGSZ).perform_inference(
        composite
    )
    assert np.array_equal(fed.pop(), composite[..., ::-1])


def test_size_metrics_follow_coco_rule_of_what_a_range_counts():
    from ultralytics.models.yolo.detect import DetectionValidator

    from yolo_freq.sliced.val import ImageStats, size_metrics

    labels = torch.tensor([[10.0, 10, 20, 20], [100, 100, 300, 300]])  # one small, one large
    boxes = torch.tensor(
        [
            [100, 100, 300, 300, 0.95, 0],  # the large label: ignored by the small range
            [10, 10, 20, 20, 0.90, 0],  # the small label
            [50, 50, 60, 60, 0.85, 0],  # small false positive: ignored by the large range
            [400, 400, 600, 600, 0.30, 0],  # large false positive: ignored by the small range
        ]
    )
    validator = DetectionValidator(save_dir=Path("."), args={"task": "detect", "mode": "val"})
    by_size = size_metrics([ImageStats(boxes, labels, torch.zeros(2))], validator)
    assert by_size["medium"] == {"mAP50-95": None, "R": None, "instances": 0}
    for size in ("small", "large"):
        assert by_size[size]["instances"] == 1 and by_size[size]["R"] == pytest.approx(1, abs=1e-3)
        assert by_size[size]["mAP50-95"] > 0.99  # a false positive that counted would rank above the match: ~0.5


def test_sliced_val_scores_both_ways_with_ultralytics_metrics(checkpoints, tmp_path, monkeypatch, ultralytics_log):
    """On labels that are the model's own whole-image predictions, whole-image inference must score ~1."""
    from ultralytics import YOLO
    from ultralytics.utils import metrics

    data = tmp_path / "pseudo"
    images = [BOARD, SAMPLE / "group13000" / "13000" / "13000010_test.jpg"]
    for image, result in zip(images, YOLO(checkpoints.plain).predict(images, imgsz=IMGSZ, verbose=False)):
        boards(data / "images" / "val", image)
        (data / "labels" / "val").mkdir(parents=True, exist_ok=True)
        rows = [f"{int(c)} {' '.join(f'{v:.6f}' for v in b)}" for c, b in zip(result.boxes.cls, result.boxes.xywhn)]
        (data / "labels" / "val" / f"{image.stem}.txt").write_text("\n".join(rows) + "\n")
    (data / "data.yaml").write_text(f"path: {data}\ntrain: images/val\nval: images/val\nnames: {NAMES}\n")
    calls = []
    ap_per_class = metrics.ap_per_class
    monkeypatch.setattr(metrics, "ap_per_class", lambda *a, **k: calls.append(1) or ap_per_class(*a, **k))

    args = [f"model={checkpoints.plain}", f"data={data / 'data.yaml'}", "tile=320", f"imgsz={IMGSZ}"]
    assert cli.main(["sliced-val", *args, f"project={tmp_path}"]) == 0
    saved = json.loads((tmp_path / "sliced-val" / "sliced_val.json").read_text())
    whole, sliced = saved["rows"]
    assert (whole["inference"], sliced["inference"], sliced["tile"], sliced["overlap"]) == ("whole", "sliced", 320, 0.2)
    assert saved["images"] == 2 and saved["instances"]["all"] >= 5
    assert sum(saved["instances"][s] for s in ("small", "medium", "large")) == saved["instances"]["all"]
    assert whole["mAP50"] > 0.9 and whole["mAP50-95"] > 0.9 and whole["R"] > 0.9
    assert 0 <= sliced["mAP50-95"] < whole["mAP50-95"] and sliced["images/s"] > 0
    assert len(calls) >= 2 * (1 + 10)  # DetMetrics, and per IoU threshold for each size range with labels
    assert (tmp_path / "sliced-val" / "sliced_val.csv").read_text().startswith("inference,tile,overlap,imgsz")
    table = "\n".join(ultralytics_log)
    assert "mAP50-95(S)" in table and "sliced 320/0.2" in table and f"whole {IMGSZ}" in table


def test_tile_larger_than_the_board_is_one_tile_with_a_warning(checkpoints, tmp_path, ultralytics_log):
    from yolo_freq.sliced import SlicedPredictor

    predictor = SlicedPredictor(checkpoints.plain, tile=1000, imgsz=IMGSZ)
    assert predictor(BOARD)[0].orig_shape == (640, 640)
    assert predictor.save_dir is None  # from Python nothing is saved unless asked, as with YOLO.predict
    assert any("is 640x640, within one tile=1000: predicted whole" in line for line in ultralytics_log)


def test_an_unreadable_board_is_named_and_the_others_predicted(checkpoints, tmp_path, capsys):
    source = boards(tmp_path / "boards", BOARD)
    (source / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    args = [f"model={checkpoints.plain}", f"source={source}", "tile=640", f"imgsz={IMGSZ}", "save_txt=True"]
    assert cli.main(["predict", *args, f"project={tmp_path}", "name=run"]) == 1
    err = capsys.readouterr().err
    assert "1 images not predicted" in err and f"{source / 'broken.jpg'}: cannot be read as an image" in err
    assert (tmp_path / "run" / "labels" / f"{BOARD.stem}.txt").is_file() and (
        tmp_path / "run" / f"{BOARD.stem}.jpg"
    ).is_file()
    assert json.loads((tmp_path / "run" / "predictions.json").read_text())["unreadable"] == [str(source / "broken.jpg")]


def test_a_board_without_reference_stops_the_run_before_it_starts(checkpoints, tmp_path, capsys):
    source = boards(tmp_path / "boards", BOARD, SAMPLE / "group13000" / "13000" / "13000000_test.jpg")
    golden = boards(tmp_path / "golden", BOARD.with_name("77000001_temp.jpg"))
    (golden / "77000001_temp.jpg").rename(golden / BOARD.name)
    args = [f"model={checkpoints.composite}", f"source={source}", f"reference={golden}", "tile=640"]
    assert cli.main(["predict", *args, f"imgsz={IMGSZ}", f"project={tmp_path}", "name=run"]) == 2
    assert "13000000_test.jpg: no image named 13000000_test" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["predict", "model=m.pt", "source=b", "tile=16"],
            "tile=16: give the tile side in pixels, an integer of at least 32",
        ),
        (["predict", "model=m.pt", "source=b", "tile=640", "overlap=1"], "overlap=1: give the fraction"),
        (["predict", "model=m.pt", "source=b", "tile=640", "overlap=-0.1"], "overlap=-0.1: give the fraction"),
        (["predict", "model=m.pt", "source=b", "tile=big"], "tile='big'"),
        (["sliced-val", "model=m.pt", "data=d.yaml"], "tile missing; usage: yolo-freq sliced-val"),
        (["sliced-val", "model=m.pt", "data=d.yaml", "tile=640", "overlap=1.5"], "overlap=1.5: give the fraction"),
    ],
)
def test_bad_tiling_is_a_one_line_error(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_sahi_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sahi", None)  # import sahi raises ImportError
    assert cli.main(["predict", "model=m.pt", "source=b", "tile=640"]) == 2
    assert capsys.readouterr().err.strip() == (
        'yolo-freq predict: error: sliced inference needs SAHI: pip install "yolo-freq[slice]"'
    )
