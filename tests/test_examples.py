"""The benchmark scripts in examples/ call the commands docs/benchmarks.md names, with the split it describes."""

import os
import shlex
import stat
import subprocess
from pathlib import Path

from yolo_freq.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _fake_deeppcb(root: Path) -> Path:
    """DeepPCB's raw layout, lines only: 8 training-board images (2 per board) and 3 of the two validation boards."""
    lines = [
        f"group{g}/{g[:5]}/{g[:5]}00{i}.jpg group{g}/{g[:5]}_not/{g[:5]}00{i}.txt"
        for g in ("00041", "20085", "44000", "50600")
        for i in range(2)
    ]
    lines += [
        f"group{g}/{g}/{g}00{i}.jpg group{g}/{g}_not/{g}00{i}.txt"
        for g, i in (("77000", 0), ("77000", 1), ("92000", 0))
    ]
    for line in lines:
        (root / "PCBData" / line.split("/")[0]).mkdir(parents=True, exist_ok=True)
    (root / "PCBData" / "trainval.txt").write_text("\n".join(lines) + "\n")
    return root


def _fake_tools(tmp_path: Path, *tools: str) -> tuple[dict, Path]:
    """Stand-ins for the commands a script runs, recording their arguments instead of measuring: the environment to
    run the script in and the log of calls (the wiring is what is tested)."""
    log, bin_dir = tmp_path / "calls.log", tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        fake = bin_dir / tool
        prefix = "" if tool == "yolo-freq" else f"{tool} "
        fake.write_text(f'#!/bin/sh\necho "{prefix}$*" >> {log}\n')
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def _run_script(name: str, env: dict, log: Path, *args) -> list[str]:
    """Run an examples/ script (it must start with a bash shebang) and return the calls its stand-ins recorded."""
    script = ROOT / "examples" / name
    assert script.read_text().startswith("#!/usr/bin/env bash\n")  # run directly it needs bash, not sh (pipefail)
    proc = subprocess.run(["bash", str(script), *map(str, args)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return log.read_text().splitlines()


def test_reproduce_benchmarks_runs_the_documented_commands(tmp_path):
    src, out = _fake_deeppcb(tmp_path / "deeppcb"), tmp_path / "out"
    calls = _run_script("reproduce_benchmarks.sh", *_fake_tools(tmp_path, "yolo-freq"), src, out, 30, 0, 1)
    assert calls[:4] == [
        f"bench --scale s --imgsz 640 --runs 20 --threads 2 --out {out}/cost-s",
        f"bench --scale n --imgsz 640 --runs 20 --threads 2 --out {out}/cost-n",
        f"bench --scale n --imgsz 320 --runs 20 --threads 2 --out {out}/cost-n-320",
        f"bench --scale s --imgsz 640 --runs 20 --threads 2 --out {out}/cost-s-repeat",
    ]
    study = out / "deeppcb-cpu"
    assert calls[4] == f"convert {study}/raw --format deeppcb --out {study}/data --exist-ok"
    bench = calls[5].split()
    assert bench[1:6] == ["yolov8n.yaml", "pcb-fs-n.yaml", "sd-gasnet-n.yaml", "yolov8-fdsa-n.yaml", "yolo-freq-n.yaml"]
    variants = [Path(p.replace("-n.yaml", ".yaml")) for p in bench[6:8]]  # the n scale of the YAMLs beside the script
    assert [v.name for v in variants] == ["yolov8-fdsa-backbone.yaml", "yolov8-fdsa-head.yaml"]
    assert all(v.is_file() for v in variants)
    assert " ".join(bench[bench.index("--epochs") :]).startswith("--epochs 30 --train-imgsz 320 --batch 16 --seeds 0 1")
    raw = study / "raw" / "PCBData"
    train, val = ((raw / n).read_text().splitlines() for n in ("trainval.txt", "test.txt"))
    assert {l.split("/")[0] for l in val} == {"group77000", "group92000"} and len(val) == 3
    assert len(train) == 2 and not {l.split("/")[0] for l in train} & {"group77000", "group92000"}  # every 4th of 8
    assert (raw / "group00041").resolve() == (src / "PCBData" / "group00041").resolve()
    flagship = out / "deeppcb-cpu-flagship"
    assert calls[6] == (
        f"bench yolov8n.yaml yolo-freq-n.yaml --imgsz 320 --runs 10 --out {flagship} --train --data {study}/data/data.yaml"
        " --epochs 30 --train-imgsz 320 --batch 16 --seeds 0 1 2 3 4 5 6 7 --device cpu"
    )
    assert (flagship / "runs").resolve() == (study / "runs").resolve()  # the study's seeds are reused, not retrained
    assert calls[7] == (
        f"bench yolov8n.yaml yolo-freq-n.yaml --imgsz 320 --runs 10 --out {flagship}-60 --train --data"
        f" {study}/data/data.yaml --epochs 60 --train-imgsz 320 --batch 16 --seeds 0 1 2 3 --device cpu --no-val"
    )
    sd_gasnet = out / "deeppcb-cpu-sd-gasnet-60"
    assert calls[8] == (
        f"bench yolov8n.yaml sd-gasnet-n.yaml --imgsz 320 --runs 10 --out {sd_gasnet} --train --data"
        f" {study}/data/data.yaml --epochs 60 --train-imgsz 320 --batch 16 --seeds 0 1 2 3 4 5 --device cpu --no-val"
    )
    assert (sd_gasnet / "runs").resolve() == (Path(f"{flagship}-60") / "runs").resolve()  # YOLOv8n's 0-3 reused
    fresh = " ".join(map(str, range(100, 117)))  # seeds no earlier table used
    assert calls[9] == (
        f"bench yolov8n.yaml sd-gasnet-n.yaml --imgsz 320 --runs 10 --out {out}/deeppcb-cpu-sd-gasnet-fresh --train"
        f" --data {study}/data/data.yaml --epochs 60 --train-imgsz 320 --batch 16 --seeds {fresh} --device cpu --no-val"
    )
    placement = calls[10].split()
    assert placement[1] == "yolov8-fdsa-n.yaml" and Path(placement[2].replace("-n.yaml", ".yaml")).is_file()
    assert Path(placement[2]).name == "yolov8-fdsa-backbone-n.yaml"
    assert " ".join(placement[3:]) == (
        f"--imgsz 320 --runs 10 --out {out}/deeppcb-cpu-fdsa-placement --train --data {study}/data/data.yaml"
        f" --epochs 60 --train-imgsz 320 --batch 16 --seeds {' '.join(map(str, range(200, 208)))} --device cpu --no-val"
    )
    assert len(calls) == 11
    for call in calls:  # the recorded arguments must also be valid for the real CLI, not only match the docs
        build_parser().parse_args(shlex.split(call))


def test_reference_benchmark_converts_four_forms_and_runs_the_registered_comparisons(tmp_path):
    src, out = _fake_deeppcb(tmp_path / "deeppcb"), tmp_path / "out"
    calls = _run_script("bench_reference_cpu.sh", *_fake_tools(tmp_path, "yolo-freq"), src, out)
    raw = out / "raw"
    assert calls[:4] == [
        f"convert {raw} --format deeppcb --out {out}/plain --exist-ok",
        f"convert {raw} --format deeppcb --out {out}/grey3 --exist-ok --reference paired",
        f"convert {raw} --format deeppcb --out {out}/grey3-unaligned --exist-ok --reference paired --no-align",
        f"convert {raw} --format deeppcb --out {out}/colour6 --exist-ok --reference paired --composite colour6",
    ]
    recipe = "--train --epochs 30 --train-imgsz 320 --batch 16 --seeds 0 1 2 --device cpu --no-val"
    assert calls[4] == (
        f"bench yolov8n.yaml pcb-fs-n.yaml yolo-freq-n.yaml --imgsz 320 --runs 10 --out {out}/target"
        f" --data {out}/plain/data.yaml {out}/grey3/data.yaml {recipe}"
    )
    assert calls[5] == (
        f"bench yolov8n.yaml --imgsz 320 --runs 10 --out {out}/forms --data {out}/grey3/data.yaml"
        f" {out}/grey3-unaligned/data.yaml {out}/colour6/data.yaml {recipe}"
    )
    pair = raw / "PCBData" / "group77000" / "77000" / "77000001"
    assert calls[6] == (
        f"bench yolov8n.yaml yolov8s.yaml --imgsz 640 --runs 20 --threads 2 --no-onnx --out {out}/compose"
        f" --reference-pair {pair}_test.jpg {pair}_temp.jpg"
    )
    assert len(calls) == 7
    assert (out / "target" / "runs").resolve() == (out / "forms" / "runs").resolve()  # grey3 runs trained once
    for call in calls:
        build_parser().parse_args(shlex.split(call))


def test_s2_amnet_benchmark_reuses_the_reference_studys_yolov8n_runs_and_prices_both_haar_forms(tmp_path):
    src, out = _fake_deeppcb(tmp_path / "deeppcb"), tmp_path / "out"
    calls = _run_script("bench_s2_amnet_cpu.sh", *_fake_tools(tmp_path, "yolo-freq"), src, out)
    assert calls[0] == f"convert {out}/raw --format deeppcb --out {out}/plain --exist-ok"  # as bench_reference_cpu.sh
    assert calls[1] == (
        f"bench yolo11n.yaml s2-amnet-n.yaml yolov8n.yaml --imgsz 320 --runs 10 --out {out}/s2-amnet"
        f" --data {out}/plain/data.yaml --train --epochs 30 --train-imgsz 320 --batch 16 --seeds 0 1 2 --device cpu"
        " --no-val"
    )
    assert calls[3] == (
        f"bench yolo11s.yaml s2-amnet-s.yaml {out}/s2-amnet-dense-s.yaml --imgsz 640 --runs 20 --threads 2"
        f" --out {out}/s2-amnet-cost-s"
    )
    assert len(calls) == 4 and (out / "s2-amnet" / "runs").resolve() == (out / "runs").resolve()
    dense = (out / "s2-amnet-dense.yaml").read_text()
    grouped = (ROOT / "cfg" / "models" / "s2-amnet.yaml").read_text()
    assert dense.count("HaarDown, [") == grouped.count('"grouped"]') == 3 and '"grouped"' not in dense
    for call in calls:
        build_parser().parse_args(shlex.split(call))


def test_dynawave_benchmark_screens_both_placements_and_prices_them_beside_yolov8(tmp_path):
    src, out = _fake_deeppcb(tmp_path / "deeppcb"), tmp_path / "out"
    calls = _run_script("bench_dynawave_cpu.sh", *_fake_tools(tmp_path, "yolo-freq"), src, out)
    variant = ROOT / "examples" / "dynawave_placement" / "dynawave-p4p5"
    assert calls[0] == f"convert {out}/raw --format deeppcb --out {out}/plain --exist-ok"  # as bench_reference_cpu.sh
    assert calls[1] == (
        f"bench yolov8n.yaml dynawave-n.yaml {variant}-n.yaml --imgsz 320 --runs 10 --out {out}/dynawave"
        f" --data {out}/plain/data.yaml --train --epochs 30 --train-imgsz 320 --batch 16 --seeds 0 1 --device cpu"
        " --no-val"
    )
    assert calls[3] == (
        f"bench yolov8s.yaml dynawave-s.yaml {variant}-s.yaml --imgsz 640 --runs 20 --threads 2"
        f" --out {out}/dynawave-cost-s"
    )
    assert len(calls) == 4 and (out / "dynawave" / "runs").resolve() == (out / "runs").resolve()
    for call in calls:
        build_parser().parse_args(shlex.split(call))


def test_whole_board_benchmark_scores_both_checkpoints_whole_and_sliced_at_two_sizes(tmp_path):
    src, out = tmp_path / "deeppcb", tmp_path / "out"
    calls = _run_script("bench_whole_boards_cpu.sh", *_fake_tools(tmp_path, "yolo-freq"), src, out, "p.pt", "g.pt")
    assert calls[0] == f"assemble-boards {src}/PCBData --out {out}/boards --grid 4 --seed 0 --exist-ok"
    val = "tile=640 overlap=0.2 imgsz={} project={} name={}-{} exist_ok=True"
    assert calls[1:3] == [
        f"sliced-val model=p.pt data={out}/boards/yolo/data.yaml " + val.format(s, out, "plain", s) for s in (320, 1280)
    ]
    assert (
        calls[3]
        == f"convert {out}/boards/PCBData --format deeppcb --reference paired --out {out}/boards-grey3 --exist-ok"
    )
    assert calls[4:] == [
        f"sliced-val model=g.pt data={out}/boards-grey3/data.yaml " + val.format(s, out, "grey3", s)
        for s in (320, 1280)
    ]
    for call in calls:
        build_parser().parse_args(shlex.split(call))


def test_warm_start_benchmark_splits_three_ways_and_reuses_its_runs(tmp_path):
    src, out = _fake_deeppcb(tmp_path / "deeppcb"), tmp_path / "out"
    for g in ("13000", "20085"):  # boards the fake layout lacks: source and target boards
        (src / "PCBData" / f"group{g}").mkdir(parents=True, exist_ok=True)
    lines = (src / "PCBData" / "trainval.txt").read_text().splitlines()
    lines += [f"group13000/13000/1300000{i}.jpg group13000/13000_not/1300000{i}.txt" for i in range(4)]
    (src / "PCBData" / "trainval.txt").write_text("\n".join(lines) + "\n")
    calls = _run_script("bench_warmstart_cpu.sh", *_fake_tools(tmp_path, "yolo-freq", "yolo"), src, out)
    read = lambda part, name: (out / f"raw-{part}" / "PCBData" / name).read_text().splitlines()  # noqa: E731
    source, target, val = read("source", "trainval.txt"), read("target", "trainval.txt"), read("target", "test.txt")
    boards = lambda ls: {l.split("/")[0] for l in ls}  # noqa: E731
    assert boards(source) == {"group00041", "group20085"} and boards(val) == {"group77000", "group92000"}
    assert boards(target) <= {"group13000", "group44000", "group50600"} and len(target) == 4  # every 2nd of 8
    assert calls[0] == f"convert {out}/raw-source --format deeppcb --out {out}/source-data --exist-ok"
    assert calls[2].startswith(f"yolo train model=yolov8n.yaml data={out}/source-data/data.yaml epochs=30 imgsz=320")
    ckpt = f"{out.resolve()}/source/weights/last.pt"
    models = calls[3].split(" --imgsz")[0].split()[1:]
    assert [Path(m).name for m in models] == [
        "yolov8n.yaml", "pcb-fs-n.yaml", "sd-gasnet-n.yaml", "yolov8-fdsa-n.yaml", "yolo-freq-n.yaml",
        "yolov8-fdsa-paper-n.yaml",
    ]  # fmt: skip
    assert Path(models[-1].replace("-n.yaml", ".yaml")).is_file()
    recipe = f"--train --data {out}/target-data/data.yaml --epochs 20 --train-imgsz 320 --batch 16 --seeds 0 1 2"
    assert f"--pretrained none {ckpt} {recipe}" in calls[3] and f"--pretrained {ckpt} {recipe}" in calls[4]
    assert f"--pretrained none {recipe}" in calls[5] and len(calls) == 6
    assert len({(out / t / "runs").resolve() for t in ("warm-vs-scratch", "warm", "scratch")}) == 1
    for call in calls[3:]:
        build_parser().parse_args(shlex.split(call))
