"""The ``yolo-freq`` command: project tools that stock ``yolo`` has no verb for.

Training, validation, prediction and export stay with stock ``yolo`` (yolo-freq loads into it automatically).
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_INFO_MODELS = ("yolov8n.yaml", "pcb-fs-n.yaml", "yolov8s.yaml", "pcb-fs.yaml")


def model_cost(cfg: str, imgsz: int = 640) -> dict:
    """Parameters and inference GFLOPs of a model YAML, counted on the fused model at ``imgsz``.

    FLOPs come from ``torch.utils.flop_counter`` (2 per multiply-add of every convolution and matrix product),
    which, unlike the ``thop`` count in Ultralytics' model summary, also sees functional convolutions and attention
    matrix products inside yolo-freq blocks.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from ultralytics.nn.tasks import DetectionModel

    import yolo_freq  # noqa: F401  (registers blocks when autoload is off)

    model = DetectionModel(cfg, verbose=False).eval()
    params = sum(p.numel() for p in model.parameters())
    model.fuse(verbose=False)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, imgsz, imgsz))
    return {"model": cfg, "params_M": params / 1e6, "gflops": counter.get_total_flops() / 1e9, "imgsz": imgsz}


def info_table(models, imgsz: int = 640) -> str:
    """Markdown table of params and GFLOPs for model YAMLs, as printed by ``yolo-freq info``."""
    lines = [f"| model | params (M) | GFLOPs @{imgsz} |", "|---|---:|---:|"]
    for r in (model_cost(m, imgsz) for m in models):
        lines.append(f"| {r['model']} | {r['params_M']:.2f} | {r['gflops']:.1f} |")
    return "\n".join(lines)


def cmd_info(args) -> int:
    """Print params and GFLOPs of models side by side."""
    print(info_table(args.models, args.imgsz))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yolo-freq", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="params and GFLOPs of model YAMLs side by side")
    p.add_argument("models", nargs="*", default=list(DEFAULT_INFO_MODELS), help="model YAMLs (bare names work)")
    p.add_argument("--imgsz", type=int, default=640, help="square input size for the FLOP count")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
