"""Checks of numeric settings, for the run settings (mbpo/config.py) and the components'
constructors: one-line errors that name the field, the value and what is allowed."""

from __future__ import annotations

import math
from typing import Any


def finite(name: str, value: Any) -> float:
    """`value` as a float, or ValueError if it is not a finite number (text, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def positive(name: str, value: Any) -> float:
    if finite(name, value) <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _where(path: str) -> str:
    return path or "config"


def check_finite(node: Any, path: str = "") -> None:
    """Refuse NaN anywhere, and +-inf anywhere but env.kwargs (a healthy range may be
    unbounded): no other setting has a meaning for them."""
    if isinstance(node, dict):
        for key, value in node.items():
            check_finite(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_finite(value, f"{path}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        if math.isnan(node) or not path.startswith("env.kwargs"):
            raise ValueError(f"{_where(path)} must be a finite number, got {node}")


def check_positive(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
