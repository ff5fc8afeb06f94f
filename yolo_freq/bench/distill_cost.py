"""Train-step cost of every distillation term, measured on one batch in one process (``yolo-freq distill-cost``).

Each configuration gets its own copy of the same student (and teacher) and performs what the trainer does per batch:
forward with loss, backward, optimizer step, EMA update. Configurations are timed in interleaved rounds, so a busy
neighbour on a shared machine slows them all alike; the median per configuration is reported.
"""

from __future__ import annotations

import functools
from copy import deepcopy

import torch

from yolo_freq.engine.freq_consistency import has_decoder_blocks
from yolo_freq.engine.options import FREQ_TERMS, TERMS, KDOptions

from .measure import interleaved_median_ms
from .tables import markdown_table

# Weights for timing only (the cost of a term does not depend on its weight, only on whether it runs).
ALL_ON = {t: (0.1 if t == "kd_pdps" else 1.0) for t in TERMS}


def demo_batch(data: str, imgsz: int, batch: int, device: torch.device) -> tuple[dict, dict]:
    """The first ``batch`` training images of a dataset, letterboxed and collated as the trainer feeds them.

    Args:
        data (str): Dataset YAML (bare names of yolo-freq's datasets work).
        imgsz (int): Training image size.
        batch (int): Images in the batch.
        device (torch.device): Where the batch goes.

    Returns:
        (tuple[dict, dict]): The preprocessed batch and the dataset dict.
    """
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    info = check_det_dataset(data)
    cfg = get_cfg(overrides={"data": data, "imgsz": imgsz, "mosaic": 0.0, "plots": False})
    dataset = build_yolo_dataset(cfg, info["train"], batch, info, mode="train")
    samples = [dataset[i % len(dataset)] for i in range(batch)]
    out = dataset.collate_fn(samples)
    out = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in out.items()}
    out["img"] = out["img"].float() / 255
    return out, info


def _setup(student, teacher, terms: dict, dis: float, image_classes, args):
    """Model, optimizer, EMA and criterion of one configuration, wired as the trainer wires them."""
    from ultralytics.nn.distill_model import DistillationModel
    from ultralytics.utils.torch_utils import ModelEMA

    from yolo_freq.engine.loss import attach_criterion

    options = KDOptions.from_args(terms)
    model = deepcopy(student)
    model.args = args.__class__(**{**vars(args), "dis": dis})
    if dis or options.needs_teacher:
        model = DistillationModel(teacher_model=deepcopy(teacher), student_model=model)
    model.train()
    criterion = attach_criterion(model, options, image_classes) if options.active else None
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    return model, optimizer, ModelEMA(model), criterion


def step_times(
    model_cfg: str = "pcb-fs-n.yaml",
    data: str = "pcb-demo.yaml",
    imgsz: int = 320,
    batch: int = 4,
    rounds: int = 5,
    device: str = "cpu",
) -> list[dict]:
    """Median train-step time of: plain, Ultralytics' ``dis``, each ``kd_*`` term alone, all of them, all + ``dis``.

    ``kd_freq`` is timed only for a model with FADSF blocks (it has nothing to compare in any other). The teacher is
    a second instance of the same model (random weights: timing does not depend on them).

    Args:
        model_cfg (str): Model YAML.
        data (str): Dataset YAML.
        imgsz (int): Image size.
        batch (int): Batch size.
        rounds (int): Timed rounds (one warm-up round is added and discarded).
        device (str): Torch device.

    Returns:
        (list[dict]): Per configuration: ``name``, ``ms`` (median step time), ``ratio`` (to plain), ``items``
            (the loss columns it produced).
    """
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    import yolo_freq  # noqa: F401  (registers blocks when autoload is off)

    dev = torch.device(device)
    batch_dict, info = demo_batch(data, imgsz, batch, dev)
    args = get_cfg(overrides={"imgsz": imgsz, "data": data})
    torch.manual_seed(0)
    student = DetectionModel(model_cfg, nc=info["nc"], verbose=False).to(dev)
    teacher = DetectionModel(model_cfg, nc=info["nc"], verbose=False).to(dev).eval()
    classes = [batch_dict["cls"][batch_dict["batch_idx"] == i].cpu() for i in range(batch)]

    has_decoder = has_decoder_blocks(student)
    all_on = {t: w for t, w in ALL_ON.items() if has_decoder or t not in FREQ_TERMS}
    configs = {"plain": ({}, 0.0), "dis (Ultralytics, dis=6)": ({}, 6.0)}
    configs.update({t: ({t: w}, 0.0) for t, w in all_on.items()})
    configs["all kd_* (dis=0)"] = (all_on, 0.0)
    configs["all kd_* + dis=6"] = (all_on, 6.0)
    runs = {name: _setup(student, teacher, terms, dis, classes, args) for name, (terms, dis) in configs.items()}

    items = {}
    for *_, ema, criterion in runs.values():
        if criterion is not None:
            criterion.set_progress(step=10, batches_per_epoch=10, total_steps=100, ema=ema.ema)

    def train_step(name, model, optimizer, ema):
        loss, items[name] = model(dict(batch_dict))
        loss.sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        ema.update(model)

    fns = {name: functools.partial(train_step, name, m, opt, ema) for name, (m, opt, ema, _) in runs.items()}
    # round 0 warms up allocators and kernels
    ms = interleaved_median_ms(fns, rounds, warmup=1, sync=torch.cuda.synchronize if dev.type == "cuda" else None)
    return [{"name": n, "ms": t, "ratio": t / ms["plain"], "items": list(items[n])} for n, t in ms.items()]


def cost_table(rows: list[dict]) -> str:
    """Markdown table of :func:`step_times` rows."""
    shown = [
        {**r, "columns": ", ".join(c for c in r["items"] if c not in {"box_loss", "cls_loss", "dfl_loss"}) or "-"}
        for r in rows
    ]
    columns = {"name": "configuration", "ms": "step (ms)", "ratio": "x plain", "columns": "loss columns"}
    return markdown_table(shown, columns, formats={"ms": ".1f", "ratio": ".2f"})
