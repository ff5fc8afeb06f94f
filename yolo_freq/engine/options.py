"""Distillation training arguments: names, defaults, checks. Imports nothing heavy (the registry reads it at start-up).

Ultralytics' own ``distill_model`` (teacher checkpoint) and ``dis`` (weight of its projector feature loss) keep their
meaning. yolo-freq adds the ``kd_*`` arguments below; every loss weight defaults to 0, which switches its term off,
so a run without them is exactly Ultralytics' run. The README gives the values the papers use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

# Loss weights: one per term, 0 = off. The first three distil from the frozen ``distill_model`` teacher.
SELF_DISTILL_TERMS = ("kd_cls", "kd_dfl", "kd_feat")  # SD-GASNet 3.3-3.4, enhanced KL, cosine-decayed weight
GPD_TERMS = ("kd_pdps", "kd_msfd", "kd_temp", "kd_graph")  # DynaWave-Net 3.4
FREQ_TERMS = ("kd_freq",)  # DynaWave-Net 3.3.3, Eq. 30: models with FADSF blocks
TERMS = SELF_DISTILL_TERMS + GPD_TERMS + FREQ_TERMS

DEFAULTS = {
    "kd_cls": 0.0,  # enhanced KL on classification logits, all anchors
    "kd_dfl": 0.0,  # enhanced KL on the DFL distance distributions of positive anchors
    "kd_feat": 0.0,  # enhanced KL on the channel-wise spatial distributions of the neck maps feeding the head
    "kd_pdps": 0.0,  # epsilon of the co-occurrence-prior label smoothing (paper: 0.1)
    "kd_msfd": 0.0,  # lambda_1, multi-stage feature distillation from the EMA teacher
    "kd_msfd_warmup": 3.0,  # epochs until the deepest distilled level reaches full weight
    "kd_temp": 0.0,  # lambda_3, temporal stabilisation of the class heatmaps against the EMA teacher
    "kd_graph": 0.0,  # lambda_2, graph regulariser over the top-scoring predicted boxes
    "kd_graph_iou": 0.1,  # tau: boxes overlapping by more than this IoU are connected
    "kd_graph_sigma": 0.1,  # sigma of the Gaussian edge weight, in units of the image side
    "kd_freq": 0.0,  # frequency consistency of each FADSF decoder map with its wavelet lateral
}
FRACTION_KEYS = frozenset({"kd_pdps", "kd_graph_iou"})  # Ultralytics checks these lie in [0, 1]
FLOAT_KEYS = frozenset(DEFAULTS) - FRACTION_KEYS


class DistillationConfigError(ValueError):
    """Distillation arguments that cannot work together; the message says what to change."""


@dataclass(frozen=True)
class KDOptions:
    """The ``kd_*`` training arguments of one run, read from Ultralytics' argument namespace or a dict."""

    kd_cls: float = DEFAULTS["kd_cls"]
    kd_dfl: float = DEFAULTS["kd_dfl"]
    kd_feat: float = DEFAULTS["kd_feat"]
    kd_pdps: float = DEFAULTS["kd_pdps"]
    kd_msfd: float = DEFAULTS["kd_msfd"]
    kd_msfd_warmup: float = DEFAULTS["kd_msfd_warmup"]
    kd_temp: float = DEFAULTS["kd_temp"]
    kd_graph: float = DEFAULTS["kd_graph"]
    kd_graph_iou: float = DEFAULTS["kd_graph_iou"]
    kd_graph_sigma: float = DEFAULTS["kd_graph_sigma"]
    kd_freq: float = DEFAULTS["kd_freq"]

    @classmethod
    def from_args(cls, args) -> KDOptions:
        """Read the options from a namespace or dict; keys it lacks (older checkpoints) take their defaults."""
        get = args.get if isinstance(args, dict) else lambda k, d: getattr(args, k, d)
        values = {f.name: get(f.name, DEFAULTS[f.name]) for f in fields(cls)}
        for k, v in values.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise DistillationConfigError(
                    f"'{k}={v}' is invalid: {k} must be a finite number >= 0 (0 switches it off)"
                )
        if values["kd_graph_sigma"] <= 0:
            raise DistillationConfigError("'kd_graph_sigma' must be > 0 (the Gaussian edge width)")
        return cls(**{k: float(v) for k, v in values.items()})

    @property
    def active(self) -> tuple[str, ...]:
        """Names of the terms with a non-zero weight, in column order."""
        return tuple(t for t in TERMS if getattr(self, t) > 0)

    @property
    def needs_teacher(self) -> tuple[str, ...]:
        """Active terms that distil from the frozen ``distill_model`` teacher."""
        return tuple(t for t in SELF_DISTILL_TERMS if getattr(self, t) > 0)

    @property
    def needs_ema(self) -> bool:
        """Whether a term distils from the EMA of the student (one extra no-grad forward per step)."""
        return self.kd_msfd > 0 or self.kd_temp > 0


def requested_terms(args: dict) -> list[str]:
    """The ``kd_*`` terms a dict of training arguments sets to anything but 0: a negative, non-finite or malformed value
    counts too, so the distillation trainer is chosen and refuses it with a clear error instead of training without
    the term."""

    def on(v) -> bool:
        try:
            return float(v) != 0  # NaN too
        except (TypeError, ValueError):
            return v is not None

    return [t for t in TERMS if on(args.get(t))]


def wants_distillation(args: dict) -> bool:
    """Whether training arguments ask for distillation: a teacher, or any non-zero ``kd_*`` weight."""
    return bool(args.get("distill_model")) or bool(requested_terms(args))
