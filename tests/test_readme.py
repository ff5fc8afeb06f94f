"""The README's commands and figures are the ones CI and the project's own commands use."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _bash_blocks():
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_readme_test_command_is_what_ci_runs():
    ci_line = [l for l in (ROOT / ".ci" / "run").read_text().splitlines() if l.startswith("python3 -m venv")]
    assert len(ci_line) == 1
    assert ci_line[0] in [b.strip() for b in _bash_blocks()]


def test_readme_setup_is_exactly_two_commands():
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)
    assert len(blocks) == 2 and all(len(b.strip().splitlines()) == 1 for b in blocks)


def test_readme_cost_table_is_yolo_freq_info_output(offline_env):
    table = re.search(r"(\| model \| params \(M\) \| GFLOPs @640 \|\n(?:\|.*\|\n)+)", README)
    assert table, "README has no `yolo-freq info` table"
    models = re.findall(r"^\| ([\w.-]+\.yaml) \|", table.group(1), flags=re.M)
    out = subprocess.run(
        [sys.executable, "-m", "yolo_freq.cli", "info", *models],
        env=offline_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert table.group(1).strip() in out
