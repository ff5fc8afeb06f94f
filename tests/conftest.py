"""Test set-up: Ultralytics' offline environment, for this process and every subprocess a test starts.

Set before anything imports Ultralytics: no update checks, analytics, auto-installs or downloads; settings and
matplotlib caches in a temporary folder; a local TTF as Ultralytics' plotting font so `check_font` never reaches
for the network.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="yolo-freq-tests-"))
OFFLINE_ENV = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",
    "YOLO_CONFIG_DIR": str(_HOME / "config"),
    "MPLCONFIGDIR": str(_HOME / "matplotlib"),
}
os.environ.update(OFFLINE_ENV)
if "PYTEST_XDIST_WORKER" in os.environ:  # pytest-xdist runs one worker per core: one intra-op thread each, in the
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # worker and its subprocesses, or they would contend for the cores


def _install_font():
    import matplotlib

    font_dir = Path(OFFLINE_ENV["YOLO_CONFIG_DIR"]) / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        shutil.copyfile(ttf, font_dir / name)


_install_font()


@pytest.fixture(scope="session")
def offline_env():
    """The environment for subprocesses: the current one plus the offline settings."""
    return {**os.environ, **OFFLINE_ENV}
