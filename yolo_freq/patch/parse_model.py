"""Model YAMLs with yolo-freq's blocks: ``parse_model`` rebuilt from its own source with the blocks added to its
channel-inference sets, and every error of a YAML row re-raised naming the row.

``parse_model``'s channel-inference sets (``base_modules``, ``repeat_modules``) are local to the function, so no other
hook can reach them: the function is compiled anew from its own source with the plugin's blocks OR-ed into both, so
they get ``(c1, c2, ...)``, width/depth scaling and repeats exactly like Ultralytics' own C2f/Conv. One branch is
added in front of them for blocks with several inputs (``from: [i, j, ...]``), which receive ``(c1_list, c2, ...)``
with ``c2`` width-scaled like a Conv's.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

from . import rebind, unsupported


class ModelYAMLError(ValueError):
    """A model YAML row could not be built; the message names the row and the reason."""


_MULTI_INPUT_BRANCH = """
if m in _yolo_freq_multi_input_modules:
    if n > 1:  # a Sequential of them would pass one block's output as the next one's list of inputs
        raise ValueError(f"{m.__name__} takes several inputs and cannot be repeated: set repeats to 1")
    c1 = [ch[x] for x in (f if isinstance(f, list) else [f])]  # a single index reaches the block's own check
    c2 = make_divisible(min(args[0], max_channels) * width, 8)
    args = [c1, c2, *args[1:]]
"""


def extended_parse_model(tasks):
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
        raise unsupported(
            "yolo-freq could not find exactly one 'base_modules' set, one 'repeat_modules' set and one "
            f"'if m in base_modules:' branch in ultralytics.nn.tasks.parse_model (found {found})"
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
    from yolo_freq import nn as blocks

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
                    f"yolo-freq adds {', '.join(sorted(b.__name__ for b in blocks.YAML_BLOCKS))}; check the spelling."
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


def register(tasks) -> None:
    """Make the blocks YAML names and install the rebuilt, row-naming ``parse_model``."""
    from yolo_freq import nn as blocks

    for cls in blocks.YAML_BLOCKS:
        setattr(tasks, cls.__name__, cls)
    tasks._yolo_freq_base_modules = frozenset(blocks.BASE_BLOCKS)
    tasks._yolo_freq_repeat_modules = frozenset(blocks.REPEAT_BLOCKS)
    tasks._yolo_freq_multi_input_modules = frozenset(blocks.MULTI_INPUT_BLOCKS)
    rebind(tasks.parse_model, _make_parse_model(extended_parse_model(tasks)))
