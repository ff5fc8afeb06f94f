"""The package's import directions: nn, reference, patch <- engine, data, registry <- predict, bench <- cli; predict <- sliced <- cli.

Read from the source with ast (imports inside functions count too), so a new module cannot slip a loop in.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "yolo_freq"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "_autoload" not in p.parts)


def layer(module: str) -> str:
    """The top-level part of yolo_freq a dotted module name belongs to (``yolo_freq.bench.cost`` -> ``bench``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def name_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def ours(module: str) -> bool:
    return module == "yolo_freq" or module.startswith("yolo_freq.")  # not the start-up hook, yolo_freq_autoload


def imports(path: Path) -> set[str]:
    """The yolo_freq modules a file imports, relative imports resolved."""
    here = name_of(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if ours(a.name)}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            if ours(base):
                found |= {f"{base}.{a.name}" for a in node.names} | {base}
    return found


GRAPH = {name_of(p): imports(p) for p in MODULES}
# what each part may import besides itself: the house's layers
ALLOWED = {
    "paths": set(),
    "nn": set(),
    "reference": set(),
    "patch": {"nn", "paths"},
    "registry": {"patch", "paths", "nn", "engine", "reference"},  # register() installs each concern's patch
    "engine": {"nn", "patch"},
    "data": {"reference"},
    "predict": {"data", "reference"},
    "sliced": {"predict", "data", "reference"},
    "bench": {"engine", "reference", "paths"},
    "cli": {"bench", "data", "engine", "predict", "reference", "registry", "sliced"},
    "": {"nn", "registry"},  # yolo_freq/__init__.py
}


def test_every_module_is_in_a_layer():
    assert {layer(m) for m in GRAPH} <= set(ALLOWED)


def test_nothing_imports_cli():
    assert [m for m, deps in GRAPH.items() if layer(m) != "cli" and any(layer(d) == "cli" for d in deps)] == []


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_point_one_way(part):
    wrong = {
        m: sorted(d for d in deps if layer(d) not in ALLOWED[part] | {part, ""} and d != "yolo_freq")
        for m, deps in GRAPH.items()
        if layer(m) == part
    }
    assert {m: d for m, d in wrong.items() if d} == {}
