"""Where yolo-freq hooks into Ultralytics.

Everything yolo-freq changes in Ultralytics happens in :func:`register`, once per process, here or in the module of
the concern it calls:

1. Block classes become names in ``ultralytics.nn.tasks`` so model YAMLs can use them.
2. ``parse_model`` is rebuilt from its own source with the plugin's blocks added to its two channel-inference sets
   (``base_modules``, ``repeat_modules``), so they get ``(c1, c2, ...)``, width/depth scaling and repeats exactly
   like Ultralytics' own C2f/Conv. Those sets are local to the function, so no other hook can reach them. One
   branch is added in front of them for blocks with several inputs (``from: [i, j, ...]``), which receive
   ``(c1_list, c2, ...)`` with ``c2`` width-scaled like a Conv's. Errors raised while building a layer are
   re-raised naming the YAML row.
3. ``yaml_model_load`` learns the ``<name>-<scale>.yaml`` convention (``pcb-fs-n.yaml``) and a model YAML's own
   ``default_scale`` key (bare ``pcb-fs.yaml`` is the paper's s scale), and ``check_file`` finds yolo-freq's
   model and dataset YAMLs by bare name from any working directory.
4. ``BaseModel.fuse`` also reparameterises yolo-freq blocks before Ultralytics folds Conv+BN, and
   ``BaseModel.load`` matches a checkpoint's layers to a yolo-freq model's by structure
   (:mod:`yolo_freq.engine.transfer`).
5. Block classes are allow-listed for ``ULTRALYTICS_SAFE_LOAD=1`` checkpoint loading.
6. Distillation: the ``kd_*`` training arguments join Ultralytics' default config and type checks, so the CLI and
   ``get_cfg`` accept them like Ultralytics' own (unknown keys still fail), and ``Model.train`` picks
   ``yolo_freq.engine.trainer.DistillationTrainer`` for detection when a distillation argument is given.
7. Reference composites: :mod:`yolo_freq.reference.patches` (augmentations kept from mixing a composite's channels,
   the composite spec recorded in trained models, a warning when plain ``yolo predict`` is given such a model).

A function is rebound in every loaded Ultralytics module that holds it (modules copy names with ``from ... import``),
so the order in which Ultralytics and yolo-freq are imported does not matter.
"""

from __future__ import annotations

import ast
import importlib.abc
import inspect
import os
import re
import sys
import textwrap
from pathlib import Path

SUPPORTED_ULTRALYTICS = ((8, 4, 112), (8, 5, 0))  # [min, max): head outputs dicts and loss items dicts since 8.4.112
_CFG = Path(__file__).resolve().parent / "cfg"
CFG_DIR = _CFG if _CFG.is_dir() else Path(__file__).resolve().parents[1] / "cfg"  # wheel, else source checkout
MODELS_DIR, DATASETS_DIR = CFG_DIR / "models", CFG_DIR / "datasets"

_originals: dict = {}


class ModelYAMLError(ValueError):
    """A model YAML row could not be built; the message names the row and the reason."""


def check_ultralytics_version(version: str | None = None) -> None:
    """Raise ImportError with the supported range unless the installed Ultralytics is inside it."""
    if version is None:
        import ultralytics

        version = ultralytics.__version__
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    lo, hi = SUPPORTED_ULTRALYTICS
    if not lo <= parts < hi:
        rng = f">={'.'.join(map(str, lo))},<{'.'.join(map(str, hi[:2]))}"
        raise ImportError(
            f"yolo-freq supports ultralytics{rng}, but ultralytics {version} is installed. "
            f"Install a supported version with: pip install 'ultralytics{rng}' "
            f"(or set YOLO_FREQ_AUTOLOAD=0 to keep yolo-freq from loading into Ultralytics)."
        )


def _rebind(original, replacement) -> None:
    """Point every loaded ``ultralytics.*`` module attribute that is ``original`` at ``replacement``."""
    for name, module in list(sys.modules.items()):
        if name.startswith("ultralytics") and module is not None:
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, replacement)


_MULTI_INPUT_BRANCH = """
if m in _yolo_freq_multi_input_modules:
    if n > 1:  # a Sequential of them would pass one block's output as the next one's list of inputs
        raise ValueError(f"{m.__name__} takes several inputs and cannot be repeated: set repeats to 1")
    c1 = [ch[x] for x in (f if isinstance(f, list) else [f])]  # a single index reaches the block's own check
    c2 = make_divisible(min(args[0], max_channels) * width, 8)
    args = [c1, c2, *args[1:]]
"""


def _extended_parse_model(tasks):
    """Compile ``tasks.parse_model`` anew with plugin blocks OR-ed into its channel-inference sets."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(tasks.parse_model)))
    extended = {"base_modules": "_yolo_freq_base_modules", "repeat_modules": "_yolo_freq_repeat_modules"}
    found = []

    class AddPluginSets(ast.NodeTransformer):
        def visit_Assign(self, node):
            target = node.targets[0] if len(node.targets) == 1 else None
            if isinstance(target, ast.Name) and target.id in extended:
                found.append(target.id)
                node.value = ast.BinOp(node.value, ast.BitOr(), ast.Name(extended[target.id], ast.Load()))
            return node

        def visit_If(self, node):
            self.generic_visit(node)
            test = node.test
            if (
                isinstance(test, ast.Compare)
                and isinstance(test.left, ast.Name)
                and test.left.id == "m"
                and isinstance(test.ops[0], ast.In)
                and isinstance(test.comparators[0], ast.Name)
                and test.comparators[0].id == "base_modules"
            ):
                found.append("base_modules branch")
                branch = ast.parse(_MULTI_INPUT_BRANCH).body[0]
                branch.orelse = [node]
                return branch
            return node

    tree = ast.fix_missing_locations(AddPluginSets().visit(tree))
    if sorted(found) != sorted([*extended, "base_modules branch"]):
        raise ImportError(
            "yolo-freq could not find exactly one 'base_modules' set, one 'repeat_modules' set and one "
            "'if m in base_modules:' branch in "
            f"ultralytics.nn.tasks.parse_model (found {found}); this Ultralytics release is not supported: "
            f"use ultralytics>={'.'.join(map(str, SUPPORTED_ULTRALYTICS[0]))},<8.5"
        )
    namespace = dict(vars(tasks))  # read-only snapshot for exec; the function's globals are tasks' own dict
    exec(compile(tree, inspect.getsourcefile(tasks), "exec"), vars(tasks), namespace)
    return namespace["parse_model"]


def _row_locals(tb, code) -> dict:
    """Local variables of the parse_model frame (code object ``code``) in traceback ``tb``; empty if none."""
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return tb.tb_frame.f_locals
        tb = tb.tb_next
    return {}


def _row_context(loc: dict) -> str:
    """Describe the model-YAML row being built, from the parse_model frame's locals."""
    if "i" in loc and "args" in loc:
        return f"layer {loc['i']} {[loc.get('f'), loc.get('n'), getattr(loc.get('m'), '__name__', loc.get('m')), loc['args']]}"
    return "a layer"


def missing_sections(d: dict) -> list[str]:
    """The sections of a loaded model YAML, of ``backbone`` and ``head``, that are not lists of layer rows."""
    return [k for k in ("backbone", "head") if not isinstance(d.get(k), list)]


def _make_parse_model(parse_model):
    def parse_model_with_context(d, ch, verbose=True):
        where = d.get("yaml_file", "model YAML")
        missing = missing_sections(d)
        if missing:
            raise ModelYAMLError(f"{where}: no {' or '.join(repr(k) for k in missing)} list of layer rows")
        try:
            return parse_model(d, ch, verbose)
        except KeyError as e:
            loc = _row_locals(e.__traceback__, parse_model.__code__)
            if isinstance(loc.get("m"), str) and e.args == (loc["m"],):  # globals()[m]: a module name it does not know
                raise ModelYAMLError(
                    f"{where}: unknown module {e} in {_row_context(loc)}. "
                    f"yolo-freq adds {', '.join(sorted(_plugin_blocks()))}; check the spelling."
                ) from None
            raise ModelYAMLError(f"{where}: cannot build {_row_context(loc)}: missing key {e}") from e
        # SyntaxError: literal_eval of e.g. "bior2.2"; AttributeError: a module that is not a string, e.g. 5
        except (TypeError, ValueError, IndexError, SyntaxError, AttributeError) as e:
            if isinstance(e, ModelYAMLError):
                raise
            loc = _row_locals(e.__traceback__, parse_model.__code__)
            raise ModelYAMLError(f"{where}: cannot build {_row_context(loc)}: {e}") from e

    parse_model_with_context.__wrapped__ = parse_model
    parse_model_with_context.__doc__ = parse_model.__doc__
    return parse_model_with_context


def find_bundled(name: str | Path) -> Path | None:
    """Return yolo-freq's bundled model or dataset YAML called `name` (a bare file name), or None."""
    p = Path(str(name).strip())
    if p.parent != Path(".") or p.suffix not in {".yaml", ".yml"}:
        return None
    for d in (MODELS_DIR, DATASETS_DIR):
        if (d / p.name).is_file():
            return d / p.name
    return None


def _make_check_file(check_file):
    def check_file_with_bundled(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and not os.path.exists(str(file)):
            bundled = find_bundled(file)
            if bundled is not None:
                return str(bundled)
        return check_file(file, *args, **kwargs)

    check_file_with_bundled.__wrapped__ = check_file
    return check_file_with_bundled


def _is_stock(yaml_file, check_yaml) -> bool:
    """Whether a model YAML is one of Ultralytics' own (resolved inside its package's cfg folder)."""
    import ultralytics

    found = check_yaml(yaml_file, hard=False) if yaml_file else None
    return bool(found) and Path(found).resolve().is_relative_to(Path(ultralytics.__file__).resolve().parent / "cfg")


def _make_yaml_model_load(yaml_model_load, check_yaml):
    def yaml_model_load_with_scales(path):
        path = Path(path)
        scaled = re.fullmatch(r"(.+)-([nslmx])", path.stem)
        base = path
        if scaled and not check_yaml(path, hard=False):
            candidate = path.with_name(scaled[1] + path.suffix)
            if check_yaml(candidate, hard=False):
                base = candidate
        d = yaml_model_load(base)
        if _is_stock(d.get("yaml_file"), check_yaml):  # Ultralytics' own YAMLs load as without yolo-freq
            return d
        if scaled and (base is not path or not d["scale"]):  # also a file saved as mynet-n.yaml: Ultralytics
            d["scale"] = scaled[2]  # reads a scale only from yolov8n-style names
        d["scale"] = d["scale"] or d.get("default_scale", "")
        d["yaml_file"] = str(path)
        return d

    yaml_model_load_with_scales.__wrapped__ = yaml_model_load
    return yaml_model_load_with_scales


def _make_fuse(fuse, fusable):
    def fuse_with_plugin_blocks(self, *args, **kwargs):
        for m in self.modules():
            if isinstance(m, fusable):
                m.fuse()
        return fuse(self, *args, **kwargs)

    fuse_with_plugin_blocks.__wrapped__ = fuse
    return fuse_with_plugin_blocks


def _plugin_blocks() -> dict:
    """The blocks a model YAML row may name, by name."""
    from yolo_freq import nn as blocks

    return {cls.__name__: cls for cls in blocks.YAML_BLOCKS}


# ---------------------------------------------------------------------------------------------------------------------
# Distillation (yolo_freq.engine): training arguments and trainer selection.
#
# Ultralytics validates every training key against DEFAULT_CFG_DICT (a dict: its DEFAULT_CFG_KEYS view follows it)
# and type-checks the keys listed in the CFG_*_KEYS frozensets of ultralytics.cfg; BaseTrainer's default ``cfg`` is
# the DEFAULT_CFG namespace built from that dict at import. The kd_* keys are added to all three. The trainer class is
# chosen in Model.train (the CLI ends there too): ``trainer or task_map[task]["trainer"]``. Model is not defined yet
# when register() runs from the autoload hook (ultralytics.engine.model is the module whose import reaches
# ultralytics.nn.tasks), so that patch waits for ultralytics.models.yolo.model, which can only be imported after
# Model exists; when ultralytics.engine.model is not imported at all yet, it waits for that module instead.
# Stock `yolo` checks argument names right after importing ultralytics.cfg, before anything imports
# ultralytics.nn.tasks: the kd_* keys reach that check only if the start-up hook also loads yolo-freq once
# ultralytics.cfg is imported (yolo_freq_autoload: hook ultralytics.cfg as well as ultralytics.nn.tasks).
# ---------------------------------------------------------------------------------------------------------------------

_MODEL_READY = "ultralytics.models.yolo.model"  # its import implies ultralytics.engine.model.Model is defined


def _register_distillation_args() -> None:
    """Add the kd_* keys to Ultralytics' default config and argument type checks."""
    from ultralytics import cfg
    from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT

    from yolo_freq.engine import options

    missing = [n for n in ("CFG_FLOAT_KEYS", "CFG_FRACTION_KEYS") if not isinstance(getattr(cfg, n, None), frozenset)]
    if missing or "distill_model" not in DEFAULT_CFG_DICT or "dis" not in DEFAULT_CFG_DICT:
        raise ImportError(
            "yolo-freq's distillation arguments need ultralytics.cfg.CFG_FLOAT_KEYS/CFG_FRACTION_KEYS and the "
            f"'distill_model'/'dis' defaults (missing: {missing or ['distill_model/dis']}); this Ultralytics release "
            f"is not supported: use ultralytics>={'.'.join(map(str, SUPPORTED_ULTRALYTICS[0]))},<8.5"
        )
    for key, value in options.DEFAULTS.items():
        DEFAULT_CFG_DICT.setdefault(key, value)
        setattr(DEFAULT_CFG, key, DEFAULT_CFG_DICT[key])
    _rebind(cfg.CFG_FLOAT_KEYS, cfg.CFG_FLOAT_KEYS | options.FLOAT_KEYS)
    _rebind(cfg.CFG_FRACTION_KEYS, cfg.CFG_FRACTION_KEYS | options.FRACTION_KEYS)


def _resume_args(model, resume) -> dict:
    """Training arguments a resumed run will use: those stored in the checkpoint it resumes."""
    try:
        if resume is True:
            return dict((model.ckpt or {}).get("train_args") or {})
        from ultralytics.utils.patches import torch_load

        return dict(torch_load(str(resume), map_location="cpu").get("train_args") or {})
    except Exception:  # noqa: BLE001 (not a checkpoint: Ultralytics' own resume check reports it)
        return {}


def _make_train(train, checks):
    def train_with_distillation(self, trainer=None, **kwargs):
        if trainer is None:  # an explicit trainer is the caller's choice
            from yolo_freq.engine import options

            args = {**self.overrides, **kwargs}
            if kwargs.get("cfg"):  # Model.train reads a cfg file instead of the model's overrides
                from ultralytics.utils import YAML

                args = {**YAML.load(checks.check_yaml(kwargs["cfg"])), **kwargs}
            if args.get("resume"):
                args = {**_resume_args(self, args["resume"]), **kwargs}
            from ultralytics.models.yolo.detect import DetectionTrainer

            # RT-DETR, YOLO-World, YOLOE are task=detect too but train with their own trainers: left to Ultralytics
            try:
                own = self._smart_load("trainer")  # the trainer Model.train would pick
            except NotImplementedError:  # no trainer for this model and task: Model.train reports it
                own = None
            if own is DetectionTrainer and options.wants_distillation(args):
                from yolo_freq.engine.trainer import DistillationTrainer

                trainer = DistillationTrainer
            elif options.requested_terms(args):
                raise ValueError(
                    f"{', '.join(options.requested_terms(args))}: yolo-freq's distillation terms are implemented for "
                    f"YOLO detection models (DetectionTrainer), not task={self.task} with "
                    f"{getattr(own, '__name__', own)}"
                )
        return train(self, trainer=trainer, **kwargs)

    train_with_distillation.__wrapped__ = train
    train_with_distillation.__doc__ = train.__doc__
    return train_with_distillation


def _register_trainer_selection() -> None:
    """Wrap Model.train so that distillation arguments select DistillationTrainer (CLI and Python alike)."""
    from ultralytics.engine.model import Model

    if getattr(Model.train, "__wrapped__", None) is not None and Model.train.__name__ == "train_with_distillation":
        return
    if "trainer" not in inspect.signature(Model.train).parameters:
        raise ImportError(
            "yolo-freq selects its distillation trainer through Model.train(trainer=...), which this Ultralytics "
            f"release lacks; use ultralytics>={'.'.join(map(str, SUPPORTED_ULTRALYTICS[0]))},<8.5"
        )
    from ultralytics.utils import checks

    _originals["train"] = Model.train
    Model.train = _make_train(Model.train, checks)


def _register_trainer_classes() -> None:
    from yolo_freq.reference import patches as reference_patches

    _register_trainer_selection()
    reference_patches.register()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; runs ``action()`` once the module ``name`` has been executed (one-shot)."""

    def __init__(self, name: str, action):
        self.name, self.action = name, action

    def find_spec(self, name, path, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                exec_module = spec.loader.exec_module

                def exec_then_act(module, _exec=exec_module):
                    _exec(module)
                    self.action()

                spec.loader.exec_module = exec_then_act
                return spec
        return None


def _when_model_ready(action) -> None:
    """Run ``action()`` now if Ultralytics' Model class exists, else right after it comes into existence."""
    module = sys.modules.get("ultralytics.engine.model")
    if any(isinstance(f, _AfterImport) for f in sys.meta_path):
        return
    if module is None:  # not imported yet (autoload off, `import yolo_freq` first): patch when it is
        sys.meta_path.insert(0, _AfterImport("ultralytics.engine.model", action))
    elif getattr(getattr(module, "__spec__", None), "_initializing", False):  # mid-import: Model is not defined yet
        sys.meta_path.insert(0, _AfterImport(_MODEL_READY, action))
    else:
        action()


def register() -> None:
    """Make Ultralytics know yolo-freq's blocks, model names, dataset names and training arguments. Idempotent."""
    from ultralytics.nn import tasks

    if getattr(tasks, "_yolo_freq_registered", False):
        return
    check_ultralytics_version()
    import torch
    from ultralytics.utils import checks

    from yolo_freq import nn as blocks
    from yolo_freq.engine import transfer

    for name, cls in _plugin_blocks().items():
        setattr(tasks, name, cls)
    tasks._yolo_freq_base_modules = frozenset(blocks.BASE_BLOCKS)
    tasks._yolo_freq_repeat_modules = frozenset(blocks.REPEAT_BLOCKS)
    tasks._yolo_freq_multi_input_modules = frozenset(blocks.MULTI_INPUT_BLOCKS)

    _originals.update(
        parse_model=tasks.parse_model,
        yaml_model_load=tasks.yaml_model_load,
        check_file=checks.check_file,
        fuse=tasks.BaseModel.fuse,
    )
    parse_model = _make_parse_model(_extended_parse_model(tasks))
    check_file = _make_check_file(checks.check_file)
    _rebind(_originals["check_file"], check_file)
    _rebind(_originals["parse_model"], parse_model)
    _rebind(_originals["yaml_model_load"], _make_yaml_model_load(_originals["yaml_model_load"], checks.check_yaml))
    tasks.BaseModel.fuse = _make_fuse(_originals["fuse"], blocks.FUSABLE_BLOCKS)
    _originals["load"] = tasks.BaseModel.load
    tasks.BaseModel.load = transfer.make_load(_originals["load"])

    torch.serialization.add_safe_globals(
        [cls for cls in vars(blocks).values() if isinstance(cls, type) and issubclass(cls, torch.nn.Module)]
    )

    # Distillation: kd_* arguments now; trainer selection, and what trainers and predictors do with reference
    # composites (yolo_freq.reference.patches), once Model exists (see the section above).
    _register_distillation_args()
    _when_model_ready(_register_trainer_classes)
    tasks._yolo_freq_registered = True
