"""Distillation end to end: two-stage `yolo train`, resume, the DDP hand-off, and the errors users see."""

import csv
import math
import pickle
import re
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import pytest
import torch
import yaml
from ultralytics import YOLO
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.nn.tasks import DetectionModel, load_checkpoint
from ultralytics.utils import DEFAULT_CFG_DICT
from ultralytics.utils.patches import torch_load
from ultralytics.utils.torch_utils import unwrap_model

from yolo_freq.engine.options import FREQ_TERMS, TERMS, DistillationConfigError
from yolo_freq.engine.self_distill import cosine_decay
from yolo_freq.engine.teacher import TeacherError
from yolo_freq.engine.trainer import DistillationTrainer

# 6 training images at batch 4: 2 batches per epoch
TINY = {"data": "pcb-demo.yaml", "imgsz": 64, "batch": 4, "workers": 0, "plots": False, "seed": 0}
ALL_TERMS = {
    "dis": 0,
    "kd_cls": 1,
    "kd_dfl": 1,
    "kd_feat": 1,
    "kd_pdps": 0.1,
    "kd_msfd": 1,
    "kd_temp": 1,
    "kd_graph": 1,
}
PCB_FS_TERMS = tuple(t for t in TERMS if t not in FREQ_TERMS)  # kd_freq needs FADSF blocks, which PCB-FS lacks


def cli(args: dict) -> list[str]:
    return [f"{k}={v}" for k, v in args.items()]


def yolo(args, cwd, env, check=True):
    """Run the stock `yolo` CLI next to this interpreter."""
    exe = Path(sys.executable).with_name("yolo")
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if check and proc.returncode:
        pytest.fail(f"yolo {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def rows(run: Path) -> list[dict]:
    return [{k.strip(): v for k, v in r.items()} for r in csv.DictReader((run / "results.csv").open())]


@pytest.fixture(scope="session")
def stage1(tmp_path_factory, offline_env):
    """Stage 1 of the recipe: a plain `yolo train` of PCB-FS-n; its best.pt is the teacher of stage 2."""
    work = tmp_path_factory.mktemp("stage1")
    yolo(["train", "model=pcb-fs-n.yaml", "epochs=1", *cli(TINY), f"project={work}", "name=run"], work, offline_env)
    return work / "run" / "weights" / "best.pt"


def test_cli_knows_kd_arguments_before_any_model_code(offline_env):
    """Stock `yolo` checks argument names right after importing ``ultralytics.cfg``: the start-up hook must have
    loaded yolo-freq by then (reinstall with ``pip install -e .`` if an old copy of the hook is installed)."""
    code = "import ultralytics.cfg\nfrom ultralytics.utils import DEFAULT_CFG_DICT\nprint('kd_cls' in DEFAULT_CFG_DICT)"
    out = subprocess.run([sys.executable, "-c", code], env=offline_env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


def test_plain_run_lists_kd_arguments_at_zero(stage1):
    """The README's warning about args.yaml on machines without yolo-freq rests on this."""
    args = yaml.safe_load((stage1.parents[1] / "args.yaml").read_text())
    assert {t: args[t] for t in TERMS} == dict.fromkeys(TERMS, 0.0) and args["distill_model"] is None


def test_two_stage_cli_run(stage1, tmp_path, offline_env):
    args = ["train", "model=pcb-fs-n.yaml", "epochs=2", *cli(TINY), f"distill_model={stage1}", *cli(ALL_TERMS)]
    proc = yolo([*args, f"project={tmp_path}", "name=stage2"], tmp_path, offline_env)
    out = proc.stdout + proc.stderr
    header = next(line for line in out.splitlines() if "box_loss" in line and "Epoch" in line)
    assert header.split()[2:-2] == [
        "box_loss",
        "cls_loss",
        "dfl_loss",
        *PCB_FS_TERMS,
        "dis_loss",
    ]  # one column per term
    table = rows(tmp_path / "stage2")
    assert len(table) == 2
    for term in PCB_FS_TERMS:
        assert all(math.isfinite(float(r[f"train/{term}"])) for r in table)
    for term in ("kd_cls", "kd_dfl", "kd_feat", "kd_msfd"):
        assert float(table[0][f"train/{term}"]) > 0
    assert all(
        float(r[f"val/{term}"]) == 0 for r in table for term in PCB_FS_TERMS
    )  # validation losses are Ultralytics'
    best = load_checkpoint(tmp_path / "stage2" / "weights" / "best.pt")[0]
    assert type(best) is DetectionModel and not hasattr(best, "teacher_model")  # the student alone is kept
    assert best.args["kd_cls"] == 1 and best.args["distill_model"] == str(stage1)


def test_frequency_consistency_term_trains_dynawave_from_stock_yolo(tmp_path, offline_env):
    args = ["train", "model=dynawave-n.yaml", "epochs=1", *cli(TINY), "kd_freq=1", f"project={tmp_path}", "name=freq"]
    yolo(args, tmp_path, offline_env)
    (row,) = rows(tmp_path / "freq")
    assert float(row["train/kd_freq"]) > 0 and float(row["val/kd_freq"]) == 0
    assert float(row["metrics/mAP50-95(B)"]) >= 0


def test_cli_errors_are_clear(tmp_path, offline_env):
    base = ["train", "model=pcb-fs-n.yaml", "epochs=1", *cli(TINY), f"project={tmp_path}"]
    proc = yolo([*base, "kd_feat=1"], tmp_path, offline_env, check=False)
    assert proc.returncode and "DistillationConfigError: kd_feat distil from a trained teacher" in proc.stderr
    proc = yolo([*base, f"distill_model={tmp_path / 'nope.pt'}", "kd_cls=1"], tmp_path, offline_env, check=False)
    assert proc.returncode and "TeacherError: distill_model=" in proc.stderr and "no such file" in proc.stderr
    proc = yolo([*base, "kd_bogus=1"], tmp_path, offline_env, check=False)
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # some Ultralytics releases colour the key
    assert proc.returncode and "'kd_bogus' is not a valid YOLO argument" in out
    proc = yolo([*base, "kd_freq=1"], tmp_path, offline_env, check=False)
    assert (
        proc.returncode and "kd_freq compares each FADSF decoder map" in proc.stderr and "has no FADSF" in proc.stderr
    )


class Interrupted(Exception):
    """Raised by a callback to stop a run after its first epoch, as a crash would."""


def test_resume_continues_teacher_schedule_ema_and_optimizer(stage1, tmp_path):
    seen = []

    def record(trainer):
        seen.append((trainer.epoch, trainer.kd_loss.step, trainer.kd_loss.total_steps))

    def interrupt(trainer):
        if trainer.epoch == 0:
            raise Interrupted

    args = dict(TINY, epochs=2, val=False, project=str(tmp_path), name="kd", distill_model=str(stage1), dis=0)
    model = YOLO("pcb-fs-n.yaml")
    model.add_callback("on_train_batch_end", record)
    model.add_callback("on_fit_epoch_end", interrupt)
    with pytest.raises(Interrupted):
        model.train(**args, kd_cls=1, kd_msfd=1, kd_pdps=0.1)
    last = tmp_path / "kd" / "weights" / "last.pt"
    ckpt = torch_load(last, map_location="cpu")
    assert ckpt["epoch"] == 0 and ckpt["optimizer"] is not None

    at_start = {}

    def inspect(trainer):
        teacher = unwrap_model(trainer.model).teacher_model.state_dict()
        reference = load_checkpoint(stage1)[0].state_dict()
        at_start.update(
            trainer=type(trainer),
            start_epoch=trainer.start_epoch,
            teacher_equal=all(torch.equal(teacher[k], reference[k]) for k in reference),
            teacher_frozen=not any(p.requires_grad for p in unwrap_model(trainer.model).teacher_model.parameters()),
            updates=trainer.ema.updates,
            ema={k: v.clone() for k, v in trainer.ema.ema.state_dict().items()},  # both change in place later
            optimizer=deepcopy(trainer.optimizer.state_dict()["state"]),
        )

    resumed = YOLO(str(last))
    resumed.add_callback("on_train_start", inspect)
    resumed.add_callback("on_train_batch_end", record)
    resumed.train(resume=True)

    assert at_start["trainer"] is DistillationTrainer and at_start["start_epoch"] == 1
    assert at_start["teacher_equal"] and at_start["teacher_frozen"]
    assert at_start["updates"] == ckpt["updates"] > 0
    saved_ema = ckpt["ema"].float().state_dict()
    assert all(torch.equal(at_start["ema"][k].float(), v) for k, v in saved_ema.items())
    saved_opt = ckpt["optimizer"]["state"]
    assert saved_opt.keys() == at_start["optimizer"].keys()
    for i, state in saved_opt.items():
        assert all(
            torch.equal(torch.as_tensor(v).float(), torch.as_tensor(at_start["optimizer"][i][k]).float())
            for k, v in state.items()
        )
    # schedule position: the same steps, hence the same cosine weights, as an uninterrupted 2-epoch run
    assert seen == [(0, 0, 4), (0, 1, 4), (1, 2, 4), (1, 3, 4)]
    assert [cosine_decay(s, n) for _, s, n in seen] == pytest.approx([1, 0.5 + 0.5**1.5, 0.5, 0.5 - 0.5**1.5])


def _handoff(trainer, pickler):
    """What Ultralytics' DDP launch does: pickle {class, args, model, callbacks}, rebuild in the worker."""
    state = pickler.loads(
        pickler.dumps(
            {
                "trainer": type(trainer),
                "args": vars(trainer.args),
                "model": trainer.model,
                "callbacks": trainer.callbacks,
            }
        )
    )
    cfg = {**DEFAULT_CFG_DICT, "save_dir": ""}
    return state["trainer"](cfg=cfg, overrides=state["args"], _callbacks=state["callbacks"])


def test_out_of_memory_retry_restarts_the_distillation_schedule(tmp_path):
    """Ultralytics' first-epoch OOM retry halves the batch and restarts the epoch; the schedule restarts with it."""
    steps = []

    def watch(trainer):
        set_progress = trainer.kd_loss.set_progress

        def record(step, nb, total, ema):
            steps.append((step, nb))
            if len(steps) == 2:  # inside Ultralytics' forward try-block, as a real CUDA OOM would be
                raise RuntimeError("CUDA out of memory (simulated by the test)")
            set_progress(step, nb, total, ema)

        trainer.kd_loss.set_progress = record

    model = YOLO("yolov8n.yaml")
    model.add_callback("on_train_start", watch)
    model.train(**TINY, epochs=1, project=str(tmp_path), kd_pdps=0.1, val=False)
    nb, retried = steps[0][1], steps[2][1]
    assert steps[:2] == [(0, nb), (1, nb)] and retried > nb  # batch 4 -> 2: more batches
    assert steps[2:] == [(i, retried) for i in range(retried)]  # counted from 0 again, not from where it failed


def test_ddp_handoff_rebuilds_the_trainer(stage1, tmp_path, offline_env):
    """Ultralytics' DDP launch: cloudpickle {class, args, model, callbacks}; each worker rebuilds and trains."""
    try:
        import cloudpickle as pickler  # what Ultralytics' generate_ddp_file uses (it installs it on first DDP run)
    except ImportError:
        pickler = pickle  # stricter still: classes and functions by reference only
    overrides = dict(TINY, model="pcb-fs-n.yaml", epochs=1, project=str(tmp_path), name="ddp")
    overrides.update(distill_model=str(stage1), dis=0, kd_cls=1, kd_temp=1, kd_pdps=0.1)
    trainer = DistillationTrainer(overrides=overrides)
    stock = DetectionTrainer(overrides={**overrides, "name": "stock"})
    count = lambda t: {k: len(v) for k, v in t.callbacks.items()}
    assert count(trainer) == count(stock)  # it registers no callback of its own, so none can double in a worker
    rebuilt = _handoff(trainer, pickler)
    assert type(rebuilt) is DistillationTrainer and rebuilt.kd == trainer.kd
    assert {k: getattr(rebuilt.args, k) for k in DEFAULT_CFG_DICT} == {
        k: getattr(trainer.args, k) for k in DEFAULT_CFG_DICT
    }
    assert count(rebuilt) == count(_handoff(stock, pickler))
    if pickler is pickle:
        pytest.skip("cloudpickle is not installed: Ultralytics' DDP worker script cannot be generated")

    from ultralytics.utils.dist import ddp_cleanup, generate_ddp_file

    file = generate_ddp_file(trainer)  # the real worker script: loads the state, rebuilds the trainer, trains
    try:
        proc = subprocess.run(
            [sys.executable, file], env=offline_env, capture_output=True, text=True, timeout=600, check=False
        )
    finally:
        ddp_cleanup(trainer, file)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = rows(Path(trainer.save_dir))
    assert {"train/kd_cls", "train/kd_pdps", "train/kd_temp"} <= set(table[0])


def _save_model(path: Path, model) -> Path:
    torch.save({"model": model, "train_args": {}}, path)
    return path


def _named(names: list[str]) -> DetectionModel:
    model = DetectionModel("yolov8n.yaml", nc=len(names), verbose=False)
    model.names = dict(enumerate(names))
    return model


@pytest.mark.parametrize(
    "case, match",
    [
        ("no teacher", "kd_cls/kd_feat distil from a trained teacher: add distill_model="),
        ("missing", "no such file"),
        ("unreadable", "could not be read as an Ultralytics checkpoint"),
        ("classes", "predicts 3 classes, the student 6"),
        ("strides", r"has strides \[4.0, 8.0, 16.0, 32.0\], the student \[8.0, 16.0, 32.0\]"),
        ("channels", r"maps of \[128, 256, 512\] channels, the student \[64, 128, 256\]"),
        ("class order", r"trained on classes \['short', 'open', .*this dataset has \['open', 'short', "),
    ],
)
def test_teacher_errors(case, match, tmp_path):
    teacher = {
        "no teacher": None,
        "missing": tmp_path / "missing.pt",
        "unreadable": tmp_path / "garbage.pt",
        "classes": lambda: _save_model(tmp_path / "t.pt", DetectionModel("yolov8n.yaml", nc=3, verbose=False)),
        "strides": lambda: _save_model(tmp_path / "t.pt", DetectionModel("yolov8n-p2.yaml", nc=6, verbose=False)),
        "channels": lambda: _save_model(tmp_path / "t.pt", DetectionModel("yolov8s.yaml", nc=6, verbose=False)),
        "class order": lambda: _save_model(
            tmp_path / "t.pt", _named(["short", "open", "mousebite", "spur", "copper", "pin-hole"])
        ),
    }[case]
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    teacher = teacher() if callable(teacher) else teacher
    args = dict(TINY, epochs=1, project=str(tmp_path), kd_cls=1, kd_feat=1)
    if teacher is not None:
        args["distill_model"] = str(teacher)
    error = DistillationConfigError if case == "no teacher" else TeacherError
    with pytest.raises(error, match=match):
        YOLO("yolov8n.yaml").train(**args)


def test_no_distillation_argument_keeps_ultralytics_trainer(tmp_path):
    chosen = []

    def stop(trainer):
        chosen.append(type(trainer))
        raise Interrupted

    for extra in ({}, {"kd_temp": 1.0}, {"distill_model": "teacher.pt"}):
        model = YOLO("yolov8n.yaml")
        model.add_callback("on_pretrain_routine_start", stop)  # runs inside the trainer's __init__, before any data
        with pytest.raises(Interrupted):
            model.train(**TINY, epochs=1, project=str(tmp_path), **extra)
    assert chosen == [DetectionTrainer, DistillationTrainer, DistillationTrainer]


def test_models_with_their_own_trainer_keep_it(tmp_path):
    """RT-DETR is task=detect but trains with RTDETRTrainer: distill_model stays Ultralytics', kd_* is refused."""
    from ultralytics import RTDETR
    from ultralytics.models.rtdetr.train import RTDETRTrainer

    chosen = []

    def stop(trainer):
        chosen.append(type(trainer))
        raise Interrupted

    model = RTDETR("rtdetr-l.yaml")
    model.add_callback("on_pretrain_routine_start", stop)
    with pytest.raises(Interrupted):
        model.train(**TINY, epochs=1, project=str(tmp_path), distill_model="teacher.pt")
    assert chosen == [RTDETRTrainer]
    with pytest.raises(
        ValueError, match="kd_cls: yolo-freq's distillation terms .* not task=detect with RTDETRTrainer"
    ):
        model.train(**TINY, epochs=1, project=str(tmp_path), kd_cls=1)


def test_end_to_end_student_is_refused(tmp_path):
    with pytest.raises(DistillationConfigError, match="kd_temp extend the loss of one-to-many"):
        YOLO("yolo26n.yaml").train(**TINY, epochs=1, project=str(tmp_path), kd_temp=1)


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_weights_are_refused_not_ignored(value, tmp_path):
    """kd_cls=-1 once trained silently without the term (only > 0 chose the distillation trainer)."""
    from yolo_freq.engine.options import DistillationConfigError, requested_terms

    assert requested_terms({"kd_cls": value}) == ["kd_cls"]
    with pytest.raises(DistillationConfigError, match=r"kd_cls=.* must be a finite number >= 0"):
        YOLO("yolov8n.yaml").train(**TINY, epochs=1, project=str(tmp_path), kd_cls=value)
