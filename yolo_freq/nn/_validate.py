"""Argument and input checks shared by yolo-freq blocks.

Blocks are built from model-YAML rows; a typo there must surface as a one-line error naming the block and the
argument, not as a shape error three layers deeper.
"""

import torch


def check_int(block: str, name: str, value, minimum: int = 1, odd: bool = False) -> int:
    """Return `value` if it is an int >= `minimum` (and odd if asked), else raise a ValueError naming the block."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (odd and value % 2 == 0):
        kind = "an odd integer" if odd else "an integer"
        raise ValueError(f"{block}: argument '{name}' must be {kind} >= {minimum}, got {value!r}")
    return value


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
