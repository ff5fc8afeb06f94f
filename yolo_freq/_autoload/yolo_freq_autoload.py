"""Start-up hook that makes stock ``yolo`` and ``import ultralytics`` know yolo-freq's blocks.

The wheel installs this file as a top-level module together with ``zz_yolo_freq_autoload.pth``; Python's
``site`` runs the ``.pth`` at every interpreter start. Importing ``yolo_freq`` here would import torch on every
Python start (about 1.5 s), so this module only installs a meta-path finder and costs about a millisecond. When
``ultralytics.cfg`` or ``ultralytics.nn.tasks`` (whichever comes first) has finished executing, the finder imports
``yolo_freq``, whose ``registry`` patches Ultralytics. ``ultralytics.cfg`` because stock ``yolo`` checks argument
names right after importing it, before any model code, and yolo-freq's training arguments must be known by then;
``ultralytics.nn.tasks`` for programs that build models without it. Patching at that moment, before other
Ultralytics modules have copied names with ``from ... import``, is what lets every copy see the patched functions.

Set ``YOLO_FREQ_AUTOLOAD=0`` to switch this off; ``import yolo_freq`` still registers everything explicitly.
"""

import importlib.abc
import os
import sys

_TARGETS = ("ultralytics.cfg", "ultralytics.nn.tasks")


def _enabled():
    return os.environ.get("YOLO_FREQ_AUTOLOAD", "1").strip().lower() not in {"0", "false", "no", "off"}


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of the first of ``names`` to run ``action()`` once it has executed."""

    def __init__(self, names: tuple[str, ...], action):
        self.names, self.action = names, action

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                sys.meta_path.remove(self)  # one-shot: the module is executed once per process
                exec_module = spec.loader.exec_module

                def exec_then_act(module, _exec=exec_module):
                    _exec(module)
                    self.action()

                spec.loader.exec_module = exec_then_act
                return spec
        return None


def after_import(names: tuple[str, ...], action) -> None:
    """Run ``action()`` once, right after the first of the modules ``names`` has finished executing.

    yolo-freq's one post-import mechanism: this hook uses it to load yolo-freq, and yolo-freq's registry to patch
    Ultralytics classes that do not exist yet when it registers.
    """
    sys.meta_path.insert(0, _PostImportFinder(tuple(names), action))


def _load_yolo_freq():
    import yolo_freq  # noqa: F401  (registers on import)


def install():
    """Install the hook once, unless disabled; register directly if Ultralytics is already imported."""
    if not _enabled() or any(isinstance(f, _PostImportFinder) and f.action is _load_yolo_freq for f in sys.meta_path):
        return
    if any(t in sys.modules for t in _TARGETS):  # already imported (e.g. install() called late): register directly
        _load_yolo_freq()
        return
    after_import(_TARGETS, _load_yolo_freq)


install()
