"""``yolo-freq bench``: cost and accuracy of yolo-freq models side by side with YOLOv8, in one run.

Cost mode measures, for every model at one scale and in one process: parameters, inference GFLOPs, CPU latency per
image of the fused and the unfused model (median over interleaved runs, so that machine load drifts affect every
model alike), ONNX export time through Ultralytics' exporter, onnxruntime latency and the largest absolute
difference between onnxruntime and PyTorch outputs. Train mode trains every model with the same data, seed, epochs
and image size and reports validation mAP50, mAP50-95 and per-class AP50-95, as mean and spread over seeds.

Modules: :mod:`.measure` (interleaved timing, thread settings, params and GFLOPs), :mod:`.tables` (the Markdown,
CSV and plot writer), :mod:`.stats` (p values), :mod:`.cost`, :mod:`.accuracy`, :mod:`.distill_cost` (train-step
cost of the distillation terms, ``yolo-freq distill-cost``) and :mod:`.command` (``yolo-freq bench``; its parser is
in :mod:`yolo_freq.cli`, like every command's).
"""

from .accuracy import Arm, arms, baselines, data_label, finished_run, start_label, summarise, train_rows, write_accuracy
from .cost import COMPOSE_COLUMNS, cost_columns, cost_rows, models_at_scale
from .measure import interleaved_median_ms, model_cost
from .stats import paired_p, permutation_p
from .tables import markdown_table, write_outputs

__all__ = (
    "COMPOSE_COLUMNS",
    "Arm",
    "arms",
    "baselines",
    "cost_columns",
    "cost_rows",
    "data_label",
    "finished_run",
    "interleaved_median_ms",
    "markdown_table",
    "model_cost",
    "models_at_scale",
    "paired_p",
    "permutation_p",
    "start_label",
    "summarise",
    "train_rows",
    "write_accuracy",
    "write_outputs",
)
