"""Layer-aligned weight transfer: a checkpoint's layers matched to a model's layers by structure, not by index.

Ultralytics loads a checkpoint tensor where the same key (``model.<index>.<path>``) has the same shape. Every layer a
model inserts shifts the indices behind it, so their weights are lost, and a tensor whose shape happens to coincide
after a shift lands in a layer it does not belong to. Here both models' layer lists are aligned first, in order, by
each layer's type, the shapes of all its tensors (so its input and output channels and its repeats) and the strides
of its input and output feature maps (measured by one forward pass at 64 px: it tells a P3 layer from a P2 layer of
the same shapes, which happen across scales), like a ``diff`` of two files; a Detect head matches another of the
same input widths and strides whatever its class count. A target
layer of another type or input width can keep the parts it shares with the source layer in its place
(``SHARED_PARTS``: a C2f-DSLKConv keeps a C2f's ``cv1`` and ``cv2``; a C2f or C3k2 whose input is wider or narrower
keeps the source block's ``cv2`` and bottlenecks). The checkpoint is then handed to Ultralytics' own ``load`` with its
matched layers moved to the target's indices and everything else left out, so class re-mapping by name, the class
branch rebuilt at the source width, the first convolution of another channel count and the "Transferred N/M items"
line (which then counts the mapped tensors) all work as in Ultralytics.

Only loads that involve a yolo-freq model (source or target) are re-aligned; stock-to-stock loads are Ultralytics'.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import torch
import torch.nn as nn
from ultralytics.nn.modules import Detect
from ultralytics.utils import LOGGER

# (source type, target type) -> the children the target layer takes over from the source layer in its place
SHARED_PARTS = {
    ("C2f", "C2fDSLKConv"): ("cv1", "cv2"),
    ("C2fDSLKConv", "C2f"): ("cv1", "cv2"),
    ("C3k2", "C3k2"): ("cv2", "m"),  # a YOLO11 neck block reading a backbone level of another width: all but cv1
    ("C2f", "C2f"): ("cv2", "m"),  # a YOLOv8 neck block reading a narrower fusion (FADSF's, not a Concat): all but cv1
}


@dataclass
class LayerMatch:
    """Where one target layer's weights come from.

    Attributes:
        target (int): Target layer index.
        target_type (str): Its class name.
        source (int | None): Source layer index, None when the layer starts new.
        source_type (str): The source layer's class name ('' when new).
        parts (tuple[str, ...] | None): The children taken over from a layer of another type; None for the whole
            layer.
        note (str): Why the layer is new, or which parts were kept.
    """

    target: int
    target_type: str
    source: int | None = None
    source_type: str = ""
    parts: tuple[str, ...] | None = None
    note: str = ""


def signature(layer: nn.Module) -> tuple:
    """What must agree for two layers to be the same layer: the type and every tensor's name and shape; for a head,
    the type and its input widths (its class-dependent tensors are Ultralytics' load's to reconcile)."""
    if isinstance(layer, Detect):
        return type(layer).__name__, "head", tuple(branch[0].conv.in_channels for branch in layer.cv2)
    return type(layer).__name__, tuple((k, tuple(v.shape)) for k, v in layer.state_dict().items())


def _stride(x, size: int):
    if isinstance(x, torch.Tensor):
        return size // x.shape[-1] if x.ndim == 4 else None
    return tuple(_stride(t, size) for t in x) if isinstance(x, (list, tuple)) else None


def strides(model: nn.Module, size: int = 64) -> list[tuple | None]:
    """Per layer of ``model.model``: the strides of its input(s) and its output, from one forward pass at ``size`` px
    in eval mode (nothing in the model changes); None for every layer where the pass fails."""
    channels = (getattr(model, "yaml", None) or {}).get("channels", 3)
    seen = {}
    hooks = [
        m.register_forward_hook(
            lambda mod, inp, out, i=i: seen.__setitem__(i, (_stride(inp, size), _stride(out, size)))
        )
        for i, m in enumerate(model.model)
    ]
    modes = {m: m.training for m in model.modules()}
    try:
        param = next(model.parameters())
        with torch.no_grad():
            model.eval()(torch.zeros(1, channels, size, size, dtype=param.dtype, device=param.device))
    except Exception:  # noqa: BLE001 (a model that cannot run at this size is matched on signatures alone)
        seen = {}
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return [seen.get(i) for i in range(len(model.model))]


def _shared(source: nn.Module, target: nn.Module) -> tuple[str, ...] | None:
    parts = SHARED_PARTS.get((type(source).__name__, type(target).__name__))
    if not parts or not all(hasattr(source, p) and hasattr(target, p) for p in parts):
        return None
    same = all(signature(getattr(source, p)) == signature(getattr(target, p)) for p in parts)
    return parts if same else None


def match_layers(source_model: nn.Module, target_model: nn.Module) -> list[LayerMatch]:
    """Align two models' layer lists; one :class:`LayerMatch` per target layer, in order."""
    source, target = list(source_model.model), list(target_model.model)
    keys = [
        [(signature(m), s) for m, s in zip(layers, strides(model))]
        for layers, model in ((source, source_model), (target, target_model))
    ]
    ops = difflib.SequenceMatcher(None, *keys, autojunk=False)
    plan = [LayerMatch(j, type(m).__name__) for j, m in enumerate(target)]
    for tag, i1, i2, j1, j2 in ops.get_opcodes():
        unused = i1  # in a replaced run, sources pair in order: each at most once, never one before the last paired
        for j in range(j1, j2):
            match = plan[j]
            if tag == "equal":
                i = i1 + j - j1
                match.source, match.source_type = i, type(source[i]).__name__
                continue
            found = None
            for i in range(unused, i2 if tag == "replace" else unused):  # the first source sharing parts, same strides
                parts = _shared(source[i], target[j]) if keys[0][i][1] == keys[1][j][1] else None
                if parts:
                    found, unused = (i, parts), i + 1
                    break
            if found:
                i, parts = found
                match.source, match.source_type, match.parts = i, type(source[i]).__name__, parts
                match.note = f"{', '.join(parts)} of the source {match.source_type}; the rest new"
            elif tag == "replace" and i1 + j - j1 < i2:
                match.note = f"new: the source has a {type(source[i1 + j - j1]).__name__} of other type or shapes here"
            else:
                match.note = "new: no source layer here (inserted)"
    return plan


class _Parts(nn.Module):
    """The named children of a layer, alone (their state-dict keys keep their names)."""

    def __init__(self, layer: nn.Module, parts: tuple[str, ...]):
        super().__init__()
        for p in parts:
            self.add_module(p, getattr(layer, p))


class _Realigned(nn.Module):
    """A source model whose matched layers sit at the target's indices: what Ultralytics' ``load`` is given."""

    def __init__(self, source: nn.Module, plan: list[LayerMatch]):
        super().__init__()
        layers = source.model
        self.model = nn.ModuleList(
            nn.Identity()
            if m.source is None
            else layers[m.source]
            if m.parts is None
            else _Parts(layers[m.source], m.parts)
            for m in plan
        )
        self.names, self.pt_path = getattr(source, "names", None), getattr(source, "pt_path", None)
        self._fused = bool(getattr(source, "is_fused", lambda: False)())

    def is_fused(self) -> bool:
        return self._fused


def _is_yolo_freq(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("yolo_freq.") for m in model.modules())


def source_model(weights) -> nn.Module:
    """The module a checkpoint dict or module passed to ``load`` stands for (EMA first, as Ultralytics takes it)."""
    return (weights.get("ema") or weights["model"]) if isinstance(weights, dict) else weights


def realigned(model: nn.Module, weights) -> tuple[nn.Module, list[LayerMatch]] | None:
    """``weights`` re-keyed to ``model``'s layer indices and the plan, or None where Ultralytics' own rule applies:
    neither model is a yolo-freq model, or either is not a layer list (no ``model`` of indexed layers)."""
    source = source_model(weights)
    layers = getattr(source, "model", None)
    if not isinstance(layers, nn.Sequential | nn.ModuleList) or not isinstance(model.model, nn.Sequential):
        return None
    if not (_is_yolo_freq(model) or _is_yolo_freq(source)):
        return None
    plan = match_layers(source.float(), model)
    return _Realigned(source, plan), plan


def summary(plan: list[LayerMatch], source_layers: int) -> str:
    """One line: layers matched whole and in part, new ones, and source layers left unused."""
    whole = sum(m.source is not None and m.parts is None for m in plan)
    part = sum(m.parts is not None for m in plan)
    used = {m.source for m in plan if m.source is not None}
    new = [f"{m.target} {m.target_type}" for m in plan if m.source is None]
    unused = source_layers - len(used)
    text = f"{whole} of {len(plan)} layers matched to the checkpoint's by structure" + (
        f", {part} in part" if part else ""
    )
    text += f"; new: {', '.join(new) if new else 'none'}; {unused} checkpoint layer{'s' * (unused != 1)} unused"
    return text


def make_load(load):
    """Wrap ``BaseModel.load`` so yolo-freq models load checkpoints layer by layer (module docstring)."""

    def load_by_structure(self, weights, verbose=True):
        found = realigned(self, weights)
        if found is None:
            return load(self, weights, verbose)
        proxy, plan = found
        load(self, proxy, verbose)
        if verbose:
            source_layers = len(source_model(weights).model)
            whole = sum(m.source is not None and m.parts is None for m in plan)
            line = f"yolo-freq: {summary(plan, source_layers)} (details: yolo-freq transfer CHECKPOINT MODEL.yaml)"
            (LOGGER.warning if whole < len(plan) // 2 else LOGGER.info)(line)

    load_by_structure.__wrapped__ = load
    return load_by_structure


def transfer_table(checkpoint, model_cfg, nc: int | None = None) -> tuple[list[dict], dict]:
    """What ``yolo train model=MODEL pretrained=CHECKPOINT`` starts from, layer by layer, measured by loading.

    Builds the model (with the checkpoint's class count unless ``nc`` is given), loads the checkpoint through the
    same ``load`` as training does, and counts per target layer the tensors and values that now equal the
    checkpoint's tensors they were mapped from.

    Returns:
        (tuple[list[dict], dict]): One row per target layer (``layer``, ``type``, ``source``, ``tensors``,
            ``values``, ``of_values``, ``note``) and the totals (``source_values``, ``source_used``,
            ``target_values``, ``target_filled``).
    """
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    weights, _ = load_checkpoint(str(checkpoint)) if not isinstance(checkpoint, nn.Module) else (checkpoint, None)
    weights = weights.float()
    cfg = load_checkpoint(str(model_cfg))[0].yaml if str(model_cfg).endswith(".pt") else str(model_cfg)
    net = DetectionModel(cfg, nc=nc or len(getattr(weights, "names", {}) or {}) or None, verbose=False)
    found = realigned(net, weights)
    plan = (
        found[1] if found else [LayerMatch(j, type(m).__name__, j, type(m).__name__) for j, m in enumerate(net.model)]
    )
    net.load(weights, verbose=False)
    rows, used = [], 0
    source_layers = weights.model
    for m in plan:
        layer = net.model[m.target]
        mine = layer.state_dict()
        theirs = {}
        if m.source is not None:
            src = source_layers[m.source]
            theirs = _Parts(src, m.parts).state_dict() if m.parts else src.state_dict()
        same = [k for k, v in mine.items() if k in theirs and theirs[k].shape == v.shape and torch.equal(theirs[k], v)]
        values = sum(mine[k].numel() for k in same if mine[k].is_floating_point())
        used += values
        note = m.note or ("" if len(same) == len(mine) else f"{len(mine) - len(same)} tensors new (class count)")
        rows.append(
            {
                "layer": m.target,
                "type": m.target_type,
                "source": "" if m.source is None else f"{m.source} {m.source_type}",
                "tensors": f"{len(same)}/{len(mine)}",
                "values": values,
                "of_values": sum(v.numel() for v in mine.values() if v.is_floating_point()),
                "note": note,
            }
        )
    total_source = sum(v.numel() for v in weights.state_dict().values() if v.is_floating_point())
    total_target = sum(r["of_values"] for r in rows)
    return rows, {"source_values": total_source, "source_used": used, "target_values": total_target,
                  "target_filled": used}  # fmt: skip


def register(tasks) -> None:
    """Install the layer-aligned ``BaseModel.load``."""
    tasks.BaseModel.load = make_load(tasks.BaseModel.load)
