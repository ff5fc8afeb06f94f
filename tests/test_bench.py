"""`yolo-freq bench` writes its tables and plot, and its figures are the ones it measured."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ultralytics.utils.checks import check_yaml

from yolo_freq import cli
from yolo_freq.bench import cost_columns, cost_rows, finished_run, models_at_scale, paired_p, permutation_p, train_rows
from yolo_freq.engine.options import FREQ_TERMS, TERMS


def test_default_model_list_is_yolov8_then_every_bundled_family():
    names = models_at_scale("n")
    assert names[0] == "yolov8n.yaml"
    assert {"pcb-fs-n.yaml", "sd-gasnet-n.yaml", "yolov8-fdsa-n.yaml"} <= set(names)


def test_permutation_p_matches_the_exact_test_and_needs_two_seeds_a_side():
    apart, overlap = ([1.0, 1.1, 1.2, 1.3, 1.4], [0.0, 0.1, 0.2, 0.3, 0.4]), ([1.0, 2.0, 4.0], [1.5, 2.5, 3.0])
    # exact two-sided p: 2 of the C(10, 5) = 252 labellings are as extreme as perfectly separated groups
    assert permutation_p(*apart) == pytest.approx(2 / 252, abs=0.002)
    assert permutation_p(*overlap) == pytest.approx(1.0, abs=0.01)  # equal means: every labelling is as extreme
    assert permutation_p(*apart) == permutation_p(*apart)  # fixed generator: tables are reproducible
    assert np.isnan(permutation_p([1.0], [2.0, 3.0]))


def test_paired_p_enumerates_sign_flips_of_the_per_seed_differences():
    shared = [0.10, 0.14, 0.08, 0.12, 0.11, 0.09]  # one level per seed, as a seed's data order sets it for all models
    better = [v + 0.005 for v in shared]
    assert paired_p(better, shared) == pytest.approx(2 / 64)  # all six ahead: only all-ahead or all-behind as extreme
    assert permutation_p(better, shared) > 0.5  # the seed-to-seed spread hides the same gain from the unpaired test
    assert paired_p(better[:4], shared[:4]) == pytest.approx(2 / 16)  # four seeds can never reach p < 0.05
    assert paired_p([1.0, 2.0, 3.0], [0.0, 3.0, 3.0]) == pytest.approx(1.0)  # differences +1, -1, 0: mean 0
    many = [v + 0.001 * i for i in range(3) for v in shared]  # 18 seeds: random sign flips, fixed generator
    assert paired_p([v + 0.005 for v in many], many) == paired_p([v + 0.005 for v in many], many) < 1e-3
    assert np.isnan(paired_p([1.0], [2.0]))


def test_a_seed_gives_every_architecture_the_same_batches(tmp_path):
    """What makes ``paired_p`` valid: the seed, not the model, decides the batches and their augmentations."""
    from ultralytics import YOLO

    def batches(model_yaml, seed):
        seen = []

        def record(trainer):
            preprocess = trainer.preprocess_batch

            def fingerprint_then_preprocess(batch):
                seen.append((tuple(batch["im_file"]), float(batch["img"].float().sum())))  # images and augmentation
                return preprocess(batch)

            trainer.preprocess_batch = fingerprint_then_preprocess

        model = YOLO(model_yaml)
        model.add_callback("on_train_start", record)
        model.train(
            data="pcb-demo.yaml",
            epochs=2,
            imgsz=64,
            batch=4,
            workers=0,
            plots=False,
            val=False,
            seed=seed,
            deterministic=True,
            device="cpu",
            project=str(tmp_path),
            name=f"{model_yaml}-{seed}",
        )
        return seen

    first = batches("yolov8n.yaml", 0)
    assert len(first) > 2 and first == batches("sd-gasnet-n.yaml", 0)
    assert first != batches("yolov8n.yaml", 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "did you mean yolov8n.yaml?"),
        ("", "missing.yaml' not found"),
        ("backbone: [\n", "is not valid YAML"),
        ("nc: 6\n", "has no 'backbone' and 'head'"),
    ],
)
@pytest.mark.parametrize("verb", [["info"], ["bench", "--train"], ["distill-cost", "--model"]])
def test_model_argument_that_is_not_a_model_yaml_is_a_one_line_usage_error(verb, text, message, tmp_path, capsys):
    name = "yolov8n" if text is None else str(tmp_path / "missing.yaml")
    if text:
        Path(name).write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*verb, name])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_distill_cost_times_each_term_alone_and_together(capsys):
    """Every configuration runs a real train step and reports the loss columns that step produced; kd_freq only for a
    model with FADSF blocks (YOLOv8 has none)."""
    terms = [t for t in TERMS if t not in FREQ_TERMS]
    assert cli.main(["distill-cost", "--model", "yolov8n.yaml", "--imgsz", "64", "--batch", "2", "--rounds", "1"]) == 0
    rows = [line.strip("|").split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    table = {name.strip(): (float(ratio), {c.strip() for c in cols.split(",")}) for name, _, ratio, cols in rows[1:]}
    assert list(table) == ["plain", "dis (Ultralytics, dis=6)", *terms, "all kd_* (dis=0)", "all kd_* + dis=6"]
    assert table["plain"] == (1.0, {"-"})
    assert "dis_loss" in table["dis (Ultralytics, dis=6)"][1]
    for term in terms:
        assert term in table[term][1] and not (set(terms) - {term}) & table[term][1], term
    assert set(terms) <= table["all kd_* + dis=6"][1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["yolov8n.yaml", "pcb-fs-n.yaml", "--seeds", "0", "1", "0"], "seed repeated (0, 0)"),
        (["yolov8n.yaml", "pcb-fs-n.yaml", "yolov8n.yaml"], "model file name repeated (yolov8n.yaml, yolov8n.yaml)"),
        (["yolov8n.yaml", "{tmp}/yolov8n.yaml"], "model file name repeated (yolov8n.yaml, {tmp}/yolov8n.yaml)"),
    ],
)
def test_repeated_seed_or_model_file_name_is_a_usage_error(argv, message, tmp_path, capsys):
    """Runs are named by file name and seed: a repeat would share a run folder and be counted twice."""
    (tmp_path / "yolov8n.yaml").write_text(Path(check_yaml("yolov8.yaml")).read_text())
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["bench", *(a.format(tmp=tmp_path) for a in argv), "--train"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and "Traceback" not in err


@pytest.mark.parametrize("options", [["--epochs", "60"], ["--data", "deeppcb.yaml", "--seeds", "0", "1", "--no-val"]])
def test_training_options_without_train_are_refused_not_ignored(options, capsys, monkeypatch):
    from yolo_freq.bench import command

    monkeypatch.setattr(command, "cost_rows", lambda *a, **k: pytest.fail("measured before refusing"))
    assert cli.main(["bench", "yolov8n.yaml", *options]) == 2
    err = capsys.readouterr().err
    given = " ".join(o for o in options if o.startswith("--"))
    assert f"error: {given} only apply with --train" in err


def test_distinct_seeds_and_model_file_names_parse():
    args = cli.build_parser().parse_args(["bench", "yolov8n.yaml", "pcb-fs-n.yaml", "--seeds", "2", "0", "1"])
    assert args.models == ["yolov8n.yaml", "pcb-fs-n.yaml"] and args.seeds == [2, 0, 1]


def test_the_first_model_is_the_cost_baseline():
    """Both tables compare with the first model; a model whose name starts with yolov8 is not a baseline by name."""
    rows = cost_rows(["yolov8-fdsa-n.yaml", "yolov8n.yaml"], imgsz=64, runs=1, threads=1, onnx=False, progress=False)
    assert rows[0]["latency_ratio"] == 1.0 and rows[1]["latency_ratio"] != 1.0
    assert all(row["peak_MB"] > 0 for row in rows)  # one inference allocates something, measured in a fresh process
    assert cost_columns("yolov8-fdsa-n.yaml")["latency_ratio"] == "x yolov8-fdsa-n"


def test_latency_is_timed_with_the_requested_threads_and_no_spinning_onnxruntime(offline_env, monkeypatch):
    """Ultralytics' exporter resets torch's thread count to its NUM_THREADS; the timing must not inherit that.

    onnxruntime's idle threads spin after each run by default, slowing the PyTorch call timed after it.
    """
    import onnxruntime
    import torch
    from ultralytics.utils import NUM_THREADS

    from yolo_freq.bench import cost

    seen, time_them, session = [], cost.interleaved_median_ms, onnxruntime.InferenceSession
    monkeypatch.setattr(
        cost, "interleaved_median_ms", lambda *a, **k: seen.append(torch.get_num_threads()) or time_them(*a, **k)
    )
    monkeypatch.setattr(
        onnxruntime, "InferenceSession", lambda f, opts, **k: seen.append(opts) or session(f, opts, **k)
    )
    rows = cost_rows(["yolov8n.yaml"], imgsz=64, runs=1, threads=NUM_THREADS + 1, onnx=True, progress=False)
    opts, threads = seen
    assert threads == NUM_THREADS + 1 and rows[0]["threads"] == NUM_THREADS + 1
    assert opts.intra_op_num_threads == NUM_THREADS + 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, offline_env):
    """One small `yolo-freq bench --train` run (YOLOv8n and PCB-FS-n, 1 epoch at 64 px, seeds 0 and 1)."""
    tmp_path = tmp_path_factory.mktemp("bench")
    out = tmp_path / "bench"
    args = ["yolov8n.yaml", "pcb-fs-n.yaml", "--imgsz", "64", "--runs", "2", "--threads", "1", "--out", str(out)]
    train = ["--train", "--epochs", "1", "--train-imgsz", "64", "--batch", "4", "--seeds", "0", "1", "--device", "cpu"]
    proc = subprocess.run(
        [sys.executable, "-m", "yolo_freq.cli", "bench", *args, *train],
        cwd=tmp_path,
        env=offline_env,
        capture_output=True,
        text=True,
        timeout=1800,  # a hang guard, not a speed check: about 2 min quiet, over 10 min beside two trainings
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_bench_cost_and_train_modes(bench_run):
    out, proc = bench_run
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
    seeds = {m: [float(r["mAP50-95"]) for r in runs if r["model"] == m] for m in summary}
    assert float(summary["pcb-fs-n.yaml"]["p mAP50-95"]) == permutation_p(seeds["pcb-fs-n.yaml"], seeds["yolov8n.yaml"])
    paired = paired_p(seeds["pcb-fs-n.yaml"], seeds["yolov8n.yaml"])  # runs of a model are listed in seed order
    assert float(summary["pcb-fs-n.yaml"]["p mAP50-95 paired"]) == paired and "| p paired |" in proc.stdout
    assert summary["yolov8n.yaml"]["p mAP50-95"] == summary["yolov8n.yaml"]["p mAP50-95 paired"] == ""  # not vs itself
    assert "| pcb-fs-n.yaml |" in proc.stdout and "| x yolov8n |" in proc.stdout and "| vs yolov8n |" in proc.stdout


def _write_runs(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir()
    with (folder / "accuracy_runs.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return folder


def test_runs_of_several_invocations_combine_into_the_table_of_one(bench_run, offline_env, tmp_path):
    """examples/combine_accuracy_runs.py: one invocation's seeds, split as if trained on two machines, give its table."""
    out, _ = bench_run
    runs = list(csv.DictReader((out / "accuracy_runs.csv").open(newline="")))
    seed0, seed1 = (_write_runs(tmp_path / f"seed{s}", [r for r in runs if r["seed"] == s]) for s in ("0", "1"))
    shutil.copy(out / "cost.csv", seed1 / "cost.csv")  # params and GFLOPs from whichever folder has them

    def combine(dest, *folders):
        script = Path(__file__).resolve().parents[1] / "examples" / "combine_accuracy_runs.py"
        cmd = [sys.executable, str(script), str(tmp_path / dest), *map(str, folders)]
        return subprocess.run(cmd, env=offline_env, capture_output=True, text=True, timeout=300)

    proc = combine("combined", seed1, seed0)  # listed out of seed order: pairs are by seed, not by position
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("accuracy.csv", "accuracy_runs.csv"):
        assert (tmp_path / "combined" / name).read_text() == (out / name).read_text(), name
    assert "| pcb-fs-n.yaml |" in proc.stdout and "| p paired |" in proc.stdout

    twice = combine("twice", seed0, seed1, seed0)
    assert twice.returncode == 1 and "yolov8n.yaml seed 0 is in both" in twice.stderr
    one_sided = _write_runs(
        tmp_path / "one-sided", [r for r in runs if r["seed"] == "1" and r["model"] == "yolov8n.yaml"]
    )
    unpaired = combine("unpaired", seed0, one_sided)
    assert (
        unpaired.returncode == 1
        and "pcb-fs-n.yaml has runs for seeds [0] but yolov8n.yaml for [0, 1]" in unpaired.stderr
    )
    assert not (tmp_path / "twice").exists() and not (tmp_path / "unpaired").exists()  # refused before writing


def test_completed_runs_are_reused_only_with_equal_settings_and_architecture(bench_run, monkeypatch, tmp_path):
    out, _ = bench_run
    run = out / "runs" / "yolov8n-seed0"
    settings = dict(data="pcb-demo.yaml", epochs=1, imgsz=64, batch=4, seed=0, device="cpu")
    assert finished_run(run, "yolov8n.yaml", settings) == run / "weights" / "best.pt"
    assert finished_run(run, "yolov8n.yaml", {**settings, "epochs": 2}) is None
    assert finished_run(run, "yolov8n.yaml", {**settings, "seed": 1}) is None
    assert finished_run(out / "runs" / "pcb-fs-n-seed0", "yolov8n.yaml", settings) is None  # another model's run
    assert finished_run(run, "yolov8n.yaml", {**settings, "device": "CPU"}) is not None  # saved canonical: 'cpu'
    assert finished_run(run, "yolov8n.yaml", {**settings, "device": None}) is None  # auto is not a recorded 'cpu'
    ckpt = torch.load(run / "weights" / "best.pt", weights_only=False)
    ckpt["train_args"]["device"] = ""  # what Ultralytics saves for the default device (None)
    auto = tmp_path / "auto-run"
    (auto / "weights").mkdir(parents=True)
    torch.save(ckpt, auto / "weights" / "best.pt")
    assert finished_run(auto, "yolov8n.yaml", {**settings, "device": None}) is not None  # bench's default --device
    monkeypatch.chdir(tmp_path)  # a local yolov8n.yaml with another head shadows the bundled one
    stock = (Path(__import__("ultralytics").__file__).parent / "cfg/models/v8/yolov8.yaml").read_text()
    (tmp_path / "yolov8n.yaml").write_text(stock)
    assert finished_run(run, "yolov8n.yaml", settings) is not None  # same architecture from another file: reusable
    (tmp_path / "yolov8n.yaml").write_text(stock.replace("[-1, 3, C2f, [256]]", "[-1, 2, C2f, [256]]"))
    assert finished_run(run, "yolov8n.yaml", settings) is None


def test_train_rows_evaluates_a_completed_run_again_instead_of_retraining(bench_run, monkeypatch):
    from ultralytics.engine.model import Model

    out, _ = bench_run
    monkeypatch.setattr(Model, "train", lambda *a, **k: pytest.fail("a completed run was trained again"))
    summary, runs = train_rows(["yolov8n.yaml"], "pcb-demo.yaml", 1, 64, [0], out / "runs", batch=4, device="cpu")
    first = next(
        r
        for r in csv.DictReader((out / "accuracy_runs.csv").open())
        if r["model"] == "yolov8n.yaml" and r["seed"] == "0"
    )
    assert runs[0]["mAP50-95"] == pytest.approx(float(first["mAP50-95"]), abs=1e-9)


def test_no_val_trains_without_per_epoch_validation_and_is_part_of_the_recipe(bench_run, tmp_path, monkeypatch):
    from ultralytics.nn.tasks import torch_safe_load

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bench"
    args = ["yolov8n.yaml", "--imgsz", "64", "--runs", "1", "--threads", "1", "--no-onnx", "--out", str(out)]
    train = ["--train", "--epochs", "2", "--train-imgsz", "64", "--batch", "4", "--seeds", "0", "--device", "cpu"]
    assert cli.main(["bench", *args, *train, "--no-val"]) == 0
    run = out / "runs" / "yolov8n-seed0"
    assert torch_safe_load(run / "weights" / "best.pt")[0]["train_args"]["val"] is False
    # epoch 1 was not validated (Ultralytics logs zero val losses then), the last epoch was
    val_cls = [float(r["val/cls_loss"]) for r in csv.DictReader((run / "results.csv").open())]
    assert len(val_cls) == 2 and val_cls[0] == 0 < val_cls[1]
    assert finished_run(run, "yolov8n.yaml", {"epochs": 2, "val": False}) is not None
    assert finished_run(run, "yolov8n.yaml", {"epochs": 2, "val": True}) is None
    validated = bench_run[0] / "runs" / "yolov8n-seed0"  # trained without --no-val: never reused for a --no-val table
    assert finished_run(validated, "yolov8n.yaml", {"epochs": 1, "val": False}) is None


def test_several_datasets_make_arms_compared_with_the_same_model_on_the_first():
    from yolo_freq.bench import arms, baselines, data_label, summarise

    models, datas = ["yolov8n.yaml", "pcb-fs-n.yaml"], ["runs/x/plain/data.yaml", "runs/x/grey3/data.yaml"]
    assert [data_label(d) for d in datas] == ["plain", "grey3"] and data_label("deeppcb-ref.yaml") == "deeppcb-ref"
    named = [a.name for a in arms(models, datas)]
    assert named == ["yolov8n.yaml @ plain", "pcb-fs-n.yaml @ plain", "yolov8n.yaml @ grey3", "pcb-fs-n.yaml @ grey3"]
    base = baselines(models, datas)
    assert (
        base["pcb-fs-n.yaml @ grey3"] == "pcb-fs-n.yaml @ plain"
        and base["yolov8n.yaml @ grey3"] == "yolov8n.yaml @ plain"
    )
    assert baselines(models, datas[:1]) == {"yolov8n.yaml": "yolov8n.yaml", "pcb-fs-n.yaml": "yolov8n.yaml"}
    maps = {
        "yolov8n.yaml @ plain": 0.1,
        "pcb-fs-n.yaml @ plain": 0.2,
        "yolov8n.yaml @ grey3": 0.4,
        "pcb-fs-n.yaml @ grey3": 0.3,
    }
    runs = [{"model": a, "seed": s, "mAP50": 0.0, "mAP50-95": m + 0.01 * s} for a, m in maps.items() for s in (0, 1)]
    rows = {r["model"]: r for r in summarise(runs, named, base)}
    assert rows["pcb-fs-n.yaml @ grey3"]["d mAP50-95"] == pytest.approx(0.1)  # against itself on plain, not YOLOv8n
    assert rows["yolov8n.yaml @ grey3"]["d mAP50-95"] == pytest.approx(0.3)
    assert rows["pcb-fs-n.yaml @ grey3"]["p mAP50-95 paired"] == pytest.approx(0.5)  # both seeds ahead, 2 of 4 flips
    assert "p mAP50-95" not in rows["pcb-fs-n.yaml @ plain"]  # a baseline has no p of its own


def test_datasets_with_one_short_name_are_refused(tmp_path):
    with pytest.raises(ValueError, match="share a short name"):
        train_rows(["yolov8n.yaml"], ["a/data.yaml", "b/a.yaml"], 1, 64, [0], tmp_path)


def test_composing_is_timed_beside_the_models(offline_env):
    root = Path(__file__).resolve().parent / "data" / "deeppcb-sample" / "PCBData" / "group77000" / "77000"
    pair = (str(root / "77000001_test.jpg"), str(root / "77000001_temp.jpg"))
    rows = cost_rows(["yolov8n.yaml"], imgsz=64, runs=2, threads=1, onnx=False, progress=False, reference_pair=pair)
    row = rows[0]
    assert row["compose_ms"] > row["compose_no_align_ms"] > 0  # alignment is the costly part
    assert row["compose_ratio"] == pytest.approx(row["compose_ms"] / row["latency_ms"])
    assert 640 * 640 * 4 / 2**20 < row["golden_MB"] < 5 and row["composite_MB"] == pytest.approx(640 * 640 * 3 / 2**20)
    assert set(cost_columns("yolov8n.yaml", composing=True)) >= {"compose_ms", "compose_ratio", "golden_MB"}


def test_starts_are_arms_compared_with_the_same_model_from_the_first(bench_run, monkeypatch):
    """--pretrained none CHECKPOINT: each model from scratch and warm-started; the warm runs really start from it."""
    from yolo_freq.bench import arms, baselines, start_label

    out, _ = bench_run
    source = next(out.glob("runs/yolov8n-seed0/weights/best.pt"))
    assert start_label(str(source)) == "yolov8n-seed0" and start_label(None) == "scratch"
    named = arms(["yolov8n.yaml", "pcb-fs-n.yaml"], ["pcb-demo.yaml"], [None, str(source)])
    assert [a.run for a in named] == [
        "yolov8n-scratch", "pcb-fs-n-scratch", "yolov8n-yolov8n-seed0", "pcb-fs-n-yolov8n-seed0"
    ]  # fmt: skip
    assert [a.run for a in arms(["yolov8n.yaml"], ["pcb-demo.yaml"], [None])] == ["yolov8n-scratch"]  # given: named
    assert [a.run for a in arms(["yolov8n.yaml"], ["pcb-demo.yaml"])] == ["yolov8n"]  # not given: as before
    assert baselines(["yolov8n.yaml"], ["pcb-demo.yaml"], [None, str(source)]) == {
        "yolov8n.yaml from scratch": "yolov8n.yaml from scratch",
        "yolov8n.yaml from yolov8n-seed0": "yolov8n.yaml from scratch",
    }
    started = []
    monkeypatch.setattr(
        "ultralytics.nn.tasks.BaseModel.load", lambda self, weights, verbose=True: started.append(weights) or None
    )
    summary, runs = train_rows(
        ["pcb-fs-n.yaml"], "pcb-demo.yaml", 1, 64, [0], out / "warm", batch=4, device="cpu", starts=[str(source)]
    )
    assert len(started) == 1 and summary[0]["model"] == "pcb-fs-n.yaml from yolov8n-seed0"
    ckpt = torch.load(out / "warm" / "pcb-fs-n-yolov8n-seed0-seed0" / "weights" / "best.pt", weights_only=False)
    assert ckpt["train_args"]["pretrained"] == str(source.resolve())  # part of the recipe: reuse checks it
