"""Constructor-side checks of numeric settings: one-line errors naming field and range."""

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
