"""Type predicates for validating user-given settings (``True`` is not a number here).

>>> is_integer(3), is_integer(True), is_integer(3.0), is_number(0.5), is_number("0.5")
(True, False, False, True, False)
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

__all__ = ["is_integer", "is_number"]


def is_integer(value: Any) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A Python or numpy real number (integers included), not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool)
