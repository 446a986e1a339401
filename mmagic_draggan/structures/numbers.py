"""Number checks: the one rule for "an integer >= low" and "a finite
number", used by the APIs, the tools, task files, hooks and recipes.

An integer is an ``int`` or NumPy integer, or an integral finite float (as
UI widgets and JSON give them: ``3.0``), never a ``bool`` or a string.
"""
import math
import numbers
from typing import Any, Optional

from mmagic_draggan.errors import InvalidInputError

__all__ = ['is_int', 'check_int', 'check_number']


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer by the rule above."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value) and float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        return isinstance(value, numbers.Integral)  # beyond float range


def check_int(value: Any,
              name: str,
              low: Optional[int] = 0,
              high: Optional[int] = None,
              high_text: Optional[str] = None) -> int:
    """An integer in ``[low, high)``.

    Args:
        value (Any): The value to check.
        name (str): What it is, for the message (``'fps'``, ``'"seed"'``,
            ``'--num'``).
        low (int, optional): Smallest allowed value; None: no bound.
            Defaults to 0.
        high (int, optional): First value not allowed; None: no bound.
        high_text (str, optional): How to write ``high`` in the message
            (e.g. ``'2**63'``).

    Returns:
        int: ``value`` as an ``int``.

    Raises:
        InvalidInputError: ``'{name} must be an integer >= {low}; got ...'``
            (or ``in [low, high)`` when ``high`` is given).
    """
    ok = is_int(value) and (low is None or value >= low) and (
        high is None or value < high)
    if not ok:
        if high is not None:
            rule = f'in [{low}, {high_text or high})'
        elif low is not None:
            rule = f'>= {low}'
        else:
            rule = ''
        raise InvalidInputError(
            f'{name} must be an integer {rule}'.rstrip() +
            f'; got {value!r}')
    return int(value)


def check_number(value: Any, name: str, low: Optional[float] = None) -> float:
    """A finite real number, at least ``low`` when given.

    Raises:
        InvalidInputError: ``'{name} must be a finite number[ >= low]; got
            ...'``.
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) \
        and math.isfinite(value) and (low is None or value >= low)
    if not ok:
        rule = '' if low is None else f' >= {low:g}'
        raise InvalidInputError(
            f'{name} must be a finite number{rule}; got {value!r}')
    return float(value)
