"""What every patch of Ultralytics shares: the supported versions and the one message for any other, rebinding a
function everywhere Ultralytics holds it, and running a patch once the Ultralytics module it needs exists.

Each concern's patch lives in its own module (:mod:`.parse_model`, :mod:`.lookup`, :mod:`.blocks`,
:mod:`yolo_freq.engine.training_args`, :mod:`yolo_freq.engine.transfer`, :mod:`yolo_freq.reference.patches`);
:func:`yolo_freq.registry.register` calls them in order.
"""

from __future__ import annotations

import re
import sys

SUPPORTED_ULTRALYTICS = ((8, 4, 112), (8, 5, 0))  # [min, max): head outputs dicts and loss items dicts since 8.4.112
SUPPORTED = f">={'.'.join(map(str, SUPPORTED_ULTRALYTICS[0]))},<{'.'.join(map(str, SUPPORTED_ULTRALYTICS[1][:2]))}"


def unsupported(what: str) -> ImportError:
    """The error for an Ultralytics release that lacks ``what`` yolo-freq relies on."""
    return ImportError(f"{what}; this Ultralytics release is not supported: use ultralytics{SUPPORTED}")


def check_ultralytics_version(version: str | None = None) -> None:
    """Raise ImportError with the supported range unless the installed Ultralytics is inside it."""
    if version is None:
        import ultralytics

        version = ultralytics.__version__
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    lo, hi = SUPPORTED_ULTRALYTICS
    if not lo <= parts < hi:
        raise ImportError(
            f"yolo-freq supports ultralytics{SUPPORTED}, but ultralytics {version} is installed. "
            f"Install a supported version with: pip install 'ultralytics{SUPPORTED}' "
            f"(or set YOLO_FREQ_AUTOLOAD=0 to keep yolo-freq from loading into Ultralytics)."
        )


def rebind(original, replacement) -> None:
    """Point every loaded ``ultralytics.*`` module attribute that is ``original`` at ``replacement``.

    Modules copy names with ``from ... import``, so a function is replaced wherever it is held: the order in which
    Ultralytics and yolo-freq are imported does not matter.
    """
    for name, module in list(sys.modules.items()):
        if name.startswith("ultralytics") and module is not None:
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, replacement)


_MODEL_READY = "ultralytics.models.yolo.model"  # its import implies ultralytics.engine.model.Model is defined
_pending: list = []


def when_model_ready(*actions) -> None:
    """Run ``actions`` now if Ultralytics' Model class exists, else right after it comes into existence.

    Model is not defined yet when the start-up hook registers yolo-freq (``ultralytics.engine.model`` is the module
    whose import reaches ``ultralytics.nn.tasks``), so the actions wait for ``ultralytics.models.yolo.model``, which
    can only be imported after Model exists; when ``ultralytics.engine.model`` is not imported at all yet, they wait
    for that module instead. The waiting uses the start-up hook's own post-import mechanism (``yolo_freq_autoload``).
    """
    from yolo_freq_autoload import after_import

    module = sys.modules.get("ultralytics.engine.model")
    if module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False):
        for action in actions:
            action()
        return
    if _pending:  # already waiting (register() is idempotent, but be safe)
        return
    _pending.extend(actions)
    target = _MODEL_READY if module is not None else "ultralytics.engine.model"  # mid-import: Model is not yet defined
    after_import((target,), lambda: [action() for action in _pending])
