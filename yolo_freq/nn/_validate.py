"""Argument and input checks shared by yolo-freq blocks (single- and multi-input).

Blocks are built from model-YAML rows; a typo there must surface as a one-line error naming the block and the
argument, not as a shape error three layers deeper.
"""

import torch
import torch.nn as nn


def check_int(block: str, name: str, value, minimum: int = 1, odd: bool = False) -> int:
    """Return `value` if it is an int >= `minimum` (and odd if asked), else raise a ValueError naming the block."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (odd and value % 2 == 0):
        kind = "an odd integer" if odd else "an integer"
        raise ValueError(f"{block}: argument '{name}' must be {kind} >= {minimum}, got {value!r}")
    return value


def check_same_width(block: str, c1, c2, why: str) -> int:
    """Return c1 if c1 and c2 are integers >= 1 and equal (a block that keeps its width), else raise a ValueError."""
    check_int(block, "c1", c1)
    check_int(block, "c2", c2)
    if c1 != c2:
        raise ValueError(f"{block}: c2={c2} must equal c1={c1} ({why}; add a Conv after it to change the width)")
    return c1


def check_divisible(block: str, name: str, value: int, divisor: int, why: str) -> None:
    """Raise a ValueError if `value` is not a multiple of `divisor`."""
    if value % divisor:
        raise ValueError(f"{block}: {name}={value} must be divisible by {divisor} ({why})")


def check_channels(module: torch.nn.Module, x: torch.Tensor, c1: int) -> None:
    """Raise a ValueError when `x` does not have the `c1` channels `module` was built for."""
    if x.dim() != 4 or x.shape[1] != c1:
        raise ValueError(
            f"{type(module).__name__} was built for input (B, {c1}, H, W) but got {tuple(x.shape)}: "
            f"check the 'from' index and channel arguments of this layer in the model YAML"
        )


def check_channel_list(block: str, c1, minimum: int = 2, exact: bool = False, names: str = "") -> list[int]:
    """Return `c1` as a list if it holds `minimum` (or more, unless `exact`) channel counts, else raise a ValueError."""
    if not isinstance(c1, (list, tuple)) or len(c1) < minimum or (exact and len(c1) != minimum):
        count = f"{minimum}" if exact else f"{minimum} or more"
        raise ValueError(
            f"{block}: takes {count} inputs{names}, so 'from' must be a list of {count} layer indices, "
            f"got input channels {c1!r}"
        )
    for i, c in enumerate(c1):
        check_int(block, f"c1[{i}]", c)
    return list(c1)


def check_inputs(module: nn.Module, xs, c1: list[int]) -> None:
    """Raise a ValueError unless `xs` is a list of tensors with the channel counts `c1`."""
    if not isinstance(xs, (list, tuple)) or len(xs) != len(c1):
        got = f"{len(xs)} inputs" if isinstance(xs, (list, tuple)) else f"a single {type(xs).__name__}"
        raise ValueError(
            f"{type(module).__name__} was built for {len(c1)} inputs with channels {c1} but got {got}: "
            f"check the 'from' list of this layer in the model YAML"
        )
    for x, c in zip(xs, c1):
        check_channels(module, x, c)
