"""The ``yolo-freq`` command: project tools that stock ``yolo`` has no verb for.

Training, validation, prediction and export stay with stock ``yolo`` (yolo-freq loads into it automatically).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_INFO_MODELS = ("yolov8n.yaml", "pcb-fs-n.yaml", "yolov8s.yaml", "pcb-fs.yaml")


def model_yaml(name: str) -> str:
    """argparse type of model arguments: ``name`` if it loads as a model YAML, else a one-line usage error.

    Loading goes through Ultralytics' ``yaml_model_load`` (bare names and ``-<scale>`` suffixes of bundled and
    Ultralytics YAMLs work), so a typo fails before any model is built or trained rather than as a traceback from
    deep inside Ultralytics minutes later.
    """
    from pathlib import Path

    import yaml
    from ultralytics.nn.tasks import yaml_model_load

    from yolo_freq.registry import missing_sections  # imports yolo_freq: bundled names resolve with autoload off

    if Path(name).suffix.lower() not in {".yaml", ".yml"}:
        raise argparse.ArgumentTypeError(f"{name!r} is not a model YAML; did you mean {Path(name).stem}.yaml?")
    try:
        d = yaml_model_load(name)
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(
            f"{name!r} not found: give a path or a bundled name such as yolov8n.yaml or pcb-fs-n.yaml"
        ) from None
    except (ValueError, yaml.YAMLError) as e:  # Ultralytics re-raises YAML syntax errors as ValueError
        raise argparse.ArgumentTypeError(f"{name!r} is not valid YAML: {str(e).splitlines()[0]}") from None
    missing = missing_sections(d)
    if missing:
        raise argparse.ArgumentTypeError(
            f"{name!r} is not a model YAML: it has no {' and '.join(repr(k) for k in missing)} list of layer rows"
        )
    return name


def info_table(models, imgsz: int = 640) -> str:
    """Markdown table of params and GFLOPs for model YAMLs, as printed by ``yolo-freq info``."""
    from yolo_freq.bench.measure import model_cost
    from yolo_freq.bench.tables import markdown_table

    columns = {"model": "model", "params_M": "params (M)", "gflops": f"GFLOPs @{imgsz}"}
    return markdown_table([model_cost(m, imgsz) for m in models], columns, formats={"params_M": ".2f", "gflops": ".1f"})


def cmd_info(args) -> int:
    """Print params and GFLOPs of models side by side."""
    print(info_table(args.models, args.imgsz))
    return 0


def _class_list(args) -> list[str] | None:
    """Class names from --classes (comma separated) or --classes-file (one per line, or a data YAML's names)."""
    if args.classes:
        return [c.strip() for c in args.classes.split(",")]
    if args.classes_file:
        from pathlib import Path

        from yolo_freq.data import ConversionError
        from yolo_freq.data.images import class_names

        path = Path(args.classes_file)
        if not path.is_file():
            raise ConversionError(f"--classes-file {path} does not exist")
        if path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            try:
                names = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("names")
            except (yaml.YAMLError, AttributeError) as e:
                raise ConversionError(f"--classes-file {path}: not a data YAML with a names key ({e})") from None
            if not names:
                raise ConversionError(f"--classes-file {path}: no 'names' key")
            return class_names(names)
        return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    return None


def cmd_convert(args) -> int:
    """Convert an annotation folder to a YOLO dataset, print the report; 1 on problems under --strict, 2 on errors."""
    from yolo_freq.data import ConversionError, ProblemsFound, convert
    from yolo_freq.reference import CompositeSpec, ReferenceError

    try:
        spec = None
        if args.composite is not None or args.no_align or args.min_response is not None:
            defaults = CompositeSpec()
            spec = CompositeSpec(
                form=args.composite or defaults.form,
                align=not args.no_align,
                min_response=defaults.min_response if args.min_response is None else args.min_response,
            )
        report = convert(
            args.source,
            args.out,
            fmt=args.format,
            classes=_class_list(args),
            val=args.val,
            seed=args.seed,
            strict=args.strict,
            outside="reject" if args.reject_outside else "clip",
            exist_ok=args.exist_ok,
            link=args.link,
            reference=args.reference,
            spec=spec,
        )
    except ProblemsFound as e:
        print(f"yolo-freq convert: {e}", file=sys.stderr)
        return 1
    # OSError: a file the checks could not foresee (permissions, disk full)
    except (ConversionError, ReferenceError, OSError) as e:
        print(f"yolo-freq convert: error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"Dataset YAML: {report.out}/data.yaml   (train with: yolo train data={report.out}/data.yaml model=...)")
    return 0


PREDICT_USAGE = (
    "yolo-freq predict model=best.pt source=IMAGES reference=GOLDEN [composite=grey3|colour6] [align=True|False] "
    "[min_response=0.2] [tile=640 overlap=0.2] [any `yolo predict` argument, e.g. conf=0.25 save_txt=True]"
)
SLICED_VAL_USAGE = (
    "yolo-freq sliced-val model=best.pt data=boards.yaml tile=640 [overlap=0.2] [split=val] "
    "[imgsz=640 conf=0.001 iou=0.7 device=0 project=... name=...]"
)
REFERENCE_KEYS = {"reference": "reference", "composite": "composite", "align": "align", "min_response": "min_response"}


def _key_values(command: str, pairs: list[str], usage: str, required: tuple[str, ...]) -> dict | None:
    """``key=value`` arguments parsed as ``yolo`` parses them; None (after a one-line error) when malformed or a
    ``required`` key is missing."""
    from ultralytics.cfg import parse_key_value_pair

    given = {}
    for pair in pairs:
        if "=" not in pair or pair.startswith("="):
            print(f"yolo-freq {command}: error: '{pair}' is not key=value; usage: {usage}", file=sys.stderr)
            return None
        try:
            key, value = parse_key_value_pair(pair)
        except AssertionError as e:
            print(f"yolo-freq {command}: error: {e}; usage: {usage}", file=sys.stderr)
            return None
        given[key] = value
    missing = [k for k in required if given.get(k) is None]
    if missing:
        print(f"yolo-freq {command}: error: {', '.join(missing)} missing; usage: {usage}", file=sys.stderr)
        return None
    return given


def cmd_predict(args) -> int:
    """Predict with golden references or, with tile=, whole boards tile by tile, `yolo predict` style (key=value
    arguments); 2 on bad input, 1 when some boards of a sliced run could not be read (the others are predicted)."""
    from yolo_freq.predict import predict
    from yolo_freq.reference import ReferenceError
    from yolo_freq.sliced import SlicedPredictor, SlicingError

    sliced = any(pair.startswith("tile=") for pair in args.pairs)
    required = ("model", "source") if sliced else ("model", "source", "reference")
    given = _key_values("predict", args.pairs, PREDICT_USAGE, required)
    if given is None:
        return 2
    reference_args = {REFERENCE_KEYS[k]: given.pop(k) for k in list(given) if k in REFERENCE_KEYS}
    given.setdefault("save", True)  # as `yolo predict` does on the command line
    model, source = given.pop("model"), given.pop("source")
    try:
        if sliced:
            predictor = SlicedPredictor(model, given.pop("tile"), given.pop("overlap", 0.2), **reference_args, **given)
            results = predictor(source, stream=True)
        else:
            results = predict(model, source, stream=True, **reference_args, **given)
        for _ in results:
            pass  # results are saved and logged as they come
    # SyntaxError: Ultralytics' unknown-argument error
    except (ReferenceError, SlicingError, FileNotFoundError, SyntaxError) as e:
        print(f"yolo-freq predict: error: {e}", file=sys.stderr)
        return 2
    if sliced and predictor.failed:
        skipped = "; ".join(f"{p}: {why}" for p, why in predictor.failed)
        print(f"yolo-freq predict: {len(predictor.failed)} images not predicted ({skipped})", file=sys.stderr)
        return 1
    return 0


def cmd_sliced_val(args) -> int:
    """Whole-image and sliced mAP of a model on a dataset side by side, `yolo val` style arguments; 2 on bad input."""
    from yolo_freq.reference import ReferenceError
    from yolo_freq.sliced import SlicingError, sliced_val

    given = _key_values("sliced-val", args.pairs, SLICED_VAL_USAGE, ("model", "data", "tile"))
    if given is None:
        return 2
    try:
        sliced_val(given.pop("model"), given.pop("data"), given.pop("tile"), given.pop("overlap", 0.2), **given)
    except (SlicingError, ReferenceError, FileNotFoundError, SyntaxError) as e:
        print(f"yolo-freq sliced-val: error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_transfer(args) -> int:
    """Print, per target layer, what a checkpoint transfers into a model (as `pretrained=` does)."""
    from yolo_freq.engine.transfer import transfer_table

    rows, totals = transfer_table(args.checkpoint, args.model, args.nc)
    print(f"{args.checkpoint} -> {args.model}: layers matched by structure (yolo-freq's pretrained= / load)")
    print("| layer | type | from checkpoint layer | tensors | values | note |\n|---:|---|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['layer']} | {r['type']} | {r['source'] or '-'} | {r['tensors']} | {r['values']:,} | {r['note']} |")
    used, filled = totals["source_used"] / totals["source_values"], totals["target_filled"] / totals["target_values"]
    print(
        f"checkpoint values used: {used:.1%} ({totals['source_used']:,} of {totals['source_values']:,}); "
        f"model values filled: {filled:.1%} ({totals['target_filled']:,} of {totals['target_values']:,})"
    )
    return 0


def cmd_distill_cost(args) -> int:
    """Print train-step time plain vs each distillation term vs all, on the same batch in the same run."""
    import torch

    from yolo_freq.bench.distill_cost import cost_table, step_times

    torch.set_num_threads(args.threads)
    rows = step_times(args.model, args.data, args.imgsz, args.batch, args.rounds, args.device)
    print(
        f"{args.model}, {args.data}: batch {args.batch} at {args.imgsz} px on {args.device}, "
        f"{torch.get_num_threads()} thread(s), median of {args.rounds} interleaved rounds "
        "(forward + loss + backward + optimizer step + EMA update)"
    )
    print(cost_table(rows))
    return 0


def cmd_slice(args) -> int:
    """Cut a dataset's images into tiles with their labels, print the report; 2 on bad input."""
    from yolo_freq.data import ConversionError
    from yolo_freq.data.slicing import slice_dataset

    try:
        report = slice_dataset(
            args.data,
            args.out,
            tile=args.tile,
            overlap=args.overlap,
            min_visibility=args.min_visibility,
            empty_ratio=args.empty_ratio,
            seed=args.seed,
            exist_ok=args.exist_ok,
        )
    except (ConversionError, OSError) as e:  # OSError: a file the checks could not foresee (permissions, disk full)
        print(f"yolo-freq slice: error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"Dataset YAML: {report.out}/data.yaml   (train with: yolo train data={report.out}/data.yaml model=...)")
    return 0


def cmd_assemble_boards(args) -> int:
    """Assemble DeepPCB crops into whole boards with golden boards, print the report; 2 on bad input."""
    from yolo_freq.data import ConversionError
    from yolo_freq.data.boards import assemble_boards

    try:
        report = assemble_boards(
            args.source, args.out, grid=args.grid, seed=args.seed, boards=args.boards, exist_ok=args.exist_ok
        )
    except (ConversionError, OSError) as e:
        print(f"yolo-freq assemble-boards: error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    out = Path(report.out)
    print(
        f"Boards: {out / 'PCBData'} (DeepPCB layout, golden boards as *_temp.png); dataset YAML: "
        f"{out / 'yolo' / 'data.yaml'}; golden boards for `yolo-freq predict reference=`: {out / 'references.csv'}"
    )
    return 0


class _Distinct(argparse.Action):
    """Store a list argument, refusing repeats (by ``key``) with a usage error.

    Runs are named ``<model stem>-seed<seed>``, so repeats would share one run folder: a repeated seed or model
    would be trained once and counted twice (inflating the seed count behind the spread and both p values), and two
    YAMLs with one file name would overwrite each other's runs.
    """

    def __init__(self, *args, key=lambda v: v, what="value", **kwargs):
        super().__init__(*args, **kwargs)
        self.key, self.what = key, what

    def __call__(self, parser, namespace, values, option_string=None):
        keys = [self.key(v) for v in values]
        repeated = list(dict.fromkeys(k for k in keys if keys.count(k) > 1))
        if repeated:
            given = ", ".join(str(v) for v in values if self.key(v) in repeated)
            parser.error(
                f"{self.what} repeated ({given}): bench names each run by model file name and seed, so these "
                f"would share one run folder; give each {self.what} once"
            )
        setattr(namespace, self.dest, values)


def add_bench_arguments(p) -> None:
    """Arguments of ``yolo-freq bench``."""
    from yolo_freq.bench.accuracy import start_label
    from yolo_freq.bench.command import TRAIN_OPTIONS

    p.add_argument(
        "models",
        nargs="*",
        type=model_yaml,
        action=_Distinct,
        key=lambda m: Path(m).stem,
        what="model file name",
        help="model YAMLs, the first one the baseline of the ratio, difference and p columns; default: yolov8<scale> "
        "and every yolo-freq model",
    )
    p.add_argument("--scale", default="n", choices=list("nslmx"), help="scale of the default model list")
    p.add_argument("--imgsz", type=int, default=640, help="input size for latency and export")
    p.add_argument("--runs", type=int, default=20, help="timed runs per model (median reported)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and onnxruntime CPU threads")
    p.add_argument("--no-onnx", action="store_true", help="skip ONNX export and onnxruntime timing")
    p.add_argument(
        "--reference-pair",
        nargs=2,
        metavar=("IMAGE", "GOLDEN"),
        help="also time composing this image with its golden image as yolo-freq predict does, interleaved with the "
        "models, and report it as a share of each model's latency",
    )
    p.add_argument("--out", default="runs/bench", help="folder for CSV, Markdown and PNG outputs")
    p.add_argument("--train", action="store_true", help="also train and evaluate every model (accuracy mode)")
    p.add_argument(
        "--data",
        nargs="+",
        default=TRAIN_OPTIONS["data"],
        help="dataset YAML for --train; with several, every model is trained on each and compared with itself on the "
        "first (e.g. plain images, then the same images composed with their references)",
    )
    p.add_argument("--epochs", type=int, default=TRAIN_OPTIONS["epochs"], help="epochs for --train")
    p.add_argument(
        "--train-imgsz",
        type=int,
        default=TRAIN_OPTIONS["train_imgsz"],
        help="training and validation image size for --train",
    )
    p.add_argument("--batch", type=int, default=TRAIN_OPTIONS["batch"], help="batch size for --train")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=TRAIN_OPTIONS["seeds"],
        action=_Distinct,
        what="seed",
        help="seeds for --train (spread reported)",
    )
    p.add_argument("--device", default=TRAIN_OPTIONS["device"], help="training device, e.g. cpu or 0")
    p.add_argument(
        "--pretrained",
        nargs="+",
        metavar="CHECKPOINT",
        action=_Distinct,
        key=start_label,
        what="start",
        help="start every model from this checkpoint (layer by layer, as pretrained= does); with several (none: "
        "from scratch), every model is trained from each and compared with itself from the first",
    )
    p.add_argument(
        "--no-val",
        action="store_true",
        help="train without per-epoch validation (Ultralytics val=False): faster, and the last epoch is evaluated, "
        "not the epoch that scored best on the very split the table reports",
    )


def cmd_bench(args) -> int:
    """Cost of every model side by side and, with --train, accuracy at equal budget (yolo_freq.bench)."""
    from yolo_freq.bench.command import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    from yolo_freq.reference import COMPOSITES, MIN_RESPONSE

    parser = argparse.ArgumentParser(prog="yolo-freq", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="params and GFLOPs of model YAMLs side by side")
    p.add_argument(
        "models", nargs="*", type=model_yaml, default=list(DEFAULT_INFO_MODELS), help="model YAMLs (bare names work)"
    )
    p.add_argument("--imgsz", type=int, default=640, help="square input size for the FLOP count")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("bench", help="cost (and with --train, accuracy) of every model side by side with YOLOv8")
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "convert",
        help="annotations (Pascal VOC XML, COCO JSON, DeepPCB) to a YOLO dataset with a validation report",
        description="Convert an annotation folder to DIR/images/{train,val}, DIR/labels/{train,val}, DIR/data.yaml and "
        "DIR/report.txt. Bad records are reported and skipped; the source is never modified.",
    )
    p.add_argument("source", help="annotation folder (or one COCO JSON / VOC XML file)")
    p.add_argument("--format", default="auto", choices=("auto", "voc", "coco", "deeppcb"), help="source format")
    p.add_argument("--out", required=True, help="output dataset folder (new or empty)")
    names = p.add_mutually_exclusive_group()
    names.add_argument("--classes", help="class names in id order, comma separated (default: from the data)")
    names.add_argument("--classes-file", help="class names, one per line, or a data YAML whose names to use")
    p.add_argument("--val", type=float, default=0.2, help="val fraction where the source has no split of its own")
    p.add_argument("--seed", type=int, default=0, help="seed of the stratified train/val split")
    p.add_argument("--strict", action="store_true", help="fail (exit 1, dataset not written) on any reported problem")
    outside = p.add_mutually_exclusive_group()
    outside.add_argument("--clip", action="store_true", help="clip boxes partly outside the image (default)")
    outside.add_argument("--reject-outside", action="store_true", help="skip boxes partly outside the image")
    p.add_argument("--exist-ok", action="store_true", help="replace an earlier conversion in --out")
    p.add_argument("--link", action="store_true", help="hard-link images instead of copying them where possible")
    ref = p.add_argument_group(
        "golden-template inspection",
        "write each image composed with its aligned defect-free reference (see README: Golden-template inspection)",
    )
    ref.add_argument(
        "--reference",
        metavar="SRC",
        help="'paired' (DeepPCB's own templates), one golden image for all, a folder of golden images matched by "
        "file name, or a mapping file (.csv rows image,reference or .json)",
    )
    ref.add_argument("--composite", choices=tuple(COMPOSITES), help="composite form (default grey3)")
    ref.add_argument("--no-align", action="store_true", help="compose without phase-correlation alignment")
    ref.add_argument(
        "--min-response",
        type=float,
        help=f"alignment response under which a shift is not applied and the image is reported (default {MIN_RESPONSE})",
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "slice",
        help="cut a YOLO dataset's large images (whole boards) into tiles with their labels, with a report",
        description="Cut every image of every split of a YOLO detection dataset into overlapping tiles (windows by "
        "SAHI) and write DIR/images/<split>, DIR/labels/<split>, DIR/data.yaml and DIR/report.txt. Needs the slice "
        'extra: pip install "yolo-freq[slice]".',
    )
    p.add_argument("data", help="the source dataset YAML (train/val/test image folders or lists, as for yolo train)")
    p.add_argument("--out", required=True, help="output dataset folder (new or empty)")
    p.add_argument("--tile", type=int, default=640, help="tile side in pixels (at least 32)")
    p.add_argument("--overlap", type=float, default=0.2, help="overlap of neighbouring tiles, fraction of the tile")
    p.add_argument(
        "--min-visibility",
        type=float,
        default=0.5,
        help="keep a box in a tile when at least this share of its area lies inside it (clipped); others are "
        "left out of that tile and listed in the report",
    )
    p.add_argument(
        "--empty-ratio",
        type=float,
        default=0.1,
        help="background tiles (no part of any box) kept per tile with boxes, per split, drawn at random",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the background-tile draw")
    p.add_argument("--exist-ok", action="store_true", help="replace an earlier slicing in --out")
    p.set_defaults(func=cmd_slice)

    p = sub.add_parser(
        "assemble-boards",
        help="whole-board images with golden boards from DeepPCB's crops (test data for slicing), no download",
        description="Tile GRIDxGRID DeepPCB crops of one board group into a whole board (4x4: 2560x2560 px), boxes "
        "shifted, and their templates into its golden board; written as DeepPCB's raw layout (DIR/PCBData), a "
        "YOLO dataset split by group (DIR/yolo, val = groups 77000 and 92000) and DIR/references.csv.",
    )
    p.add_argument("source", help="DeepPCB's raw layout (PCBData or a folder above it)")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--grid", type=int, default=4, help="crops per board side")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw of each group's crops into boards")
    p.add_argument("--boards", type=int, help="at most this many boards per group (default: all the crops fill)")
    p.add_argument("--exist-ok", action="store_true", help="replace an earlier assembly in --out")
    p.set_defaults(func=cmd_assemble_boards)

    p = sub.add_parser(
        "predict",
        help="predict with golden references (images aligned and composed as for training), or whole boards tile by "
        "tile (tile=), yolo predict style",
        description="Each image is aligned to its golden reference and composed exactly as `yolo-freq convert "
        "--reference` composed the training images, then predicted by Ultralytics; outputs as `yolo predict` "
        "(runs/detect/predict...). With tile=, each board (composed whole when reference= is given) is predicted in "
        "overlapping tiles whose boxes are merged (SAHI); outputs as `yolo predict` plus predictions.json. "
        f"Usage: {PREDICT_USAGE}",
    )
    p.add_argument("pairs", nargs="*", metavar="key=value", help="model=, source=, reference= and predict arguments")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "sliced-val",
        help="mAP of whole-image vs sliced (tile=) inference on a dataset, side by side",
        description="Predicts every image of a dataset split whole and tile by tile (as `yolo-freq predict tile=`), "
        "scores both with Ultralytics' metrics (P, R, mAP50, mAP50-95, and mAP50-95 and R by COCO object size) and "
        "writes them to runs/detect/sliced-val.../sliced_val.csv and .json. Plain validation stays with `yolo val`. "
        f"Usage: {SLICED_VAL_USAGE}",
    )
    p.add_argument("pairs", nargs="*", metavar="key=value", help="model=, data=, tile= and val arguments")
    p.set_defaults(func=cmd_sliced_val)

    p = sub.add_parser(
        "transfer",
        help="what a checkpoint transfers into a model, layer by layer (yolo train ... pretrained=CHECKPOINT)",
    )
    p.add_argument("checkpoint", help="source checkpoint (.pt), e.g. yolov8s.pt or a yolo-freq best.pt")
    p.add_argument("model", type=model_yaml, help="target model YAML (bare names work)")
    p.add_argument("--nc", type=int, help="the target's class count (default: the checkpoint's)")
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("distill-cost", help="train-step time with and without each distillation term, same batch")
    p.add_argument(
        "--model", type=model_yaml, default="pcb-fs-n.yaml", help="model YAML (student and same-architecture teacher)"
    )
    p.add_argument("--data", default="pcb-demo.yaml", help="dataset YAML the batch is taken from")
    p.add_argument("--imgsz", type=int, default=320, help="training image size")
    p.add_argument("--batch", type=int, default=4, help="batch size")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (Ultralytics runs with 1 by default)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    p.set_defaults(func=cmd_distill_cost)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
