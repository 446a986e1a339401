"""The start image of an edit: the rules for its seed and truncation psi,
used by the session, the CLI, the demo, batch tasks and session files."""
import math
from typing import Any

__all__ = ['MAX_SEED', 'check_seed', 'check_truncation']

#: Seeds are integers in [0, MAX_SEED).
MAX_SEED = 2**63


def check_seed(value: Any, what: str = 'seed') -> int:
    """A seed: an integer (or integral float, as UI widgets give) in
    ``[0, 2**63)``.

    Raises:
        ValueError: Naming ``what`` and the allowed range.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and float(value).is_integer() \
        and 0 <= value < MAX_SEED
    if not ok:
        raise ValueError(f'{what} must be an integer in [0, 2**63); got '
                         f'{value!r}')
    return int(value)


def check_truncation(value: Any, what: str = 'truncation') -> float:
    """A truncation psi: a finite number (1 = none, 0 = the mean image).

    Raises:
        ValueError: Naming ``what``.
    """
    if isinstance(value, (bool, str, bytes)) or not isinstance(
            value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'{what} must be a finite number; got {value!r}')
    return float(value)
