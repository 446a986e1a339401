"""Handle/target points: the one rule for checking them and the one place
where (x, y) becomes (row, col).

At every API, file and UI, points are ``[[x, y], ...]`` image pixels: x is
the column, y the row, the origin is the top-left pixel centre. Inside the
algorithm tensors are (row, col) and named ``*_rc``.
"""
import math
from typing import Any, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmagic_draggan.errors import InvalidInputError

__all__ = ['PointsXY', 'check_points', 'check_point_pairs', 'xy_to_rc',
           'rc_to_xy']

PointsXY = Sequence[Sequence[float]]


def check_points(points_xy: Any,
                 what: str = 'points',
                 image_size: Optional[int] = None) -> List[List[float]]:
    """Validate a list of ``[x, y]`` pixel points.

    Args:
        points_xy (Any): ``[[x, y], ...]`` (lists, tuples or an (N, 2)
            array); an empty list is allowed.
        what (str): Their name in messages (``'handles'``).
        image_size (int, optional): Side H = W of the image; when given,
            points must lie in ``[0, H - 1]``.

    Returns:
        list[list[float]]: ``[[x, y], ...]`` as floats.

    Raises:
        ValueError: Not pairs of numbers, NaN/inf, or outside the image
            (naming the points and the allowed range).
    """
    if hasattr(points_xy, 'tolist'):
        points_xy = points_xy.tolist()
    if points_xy is None or isinstance(points_xy, (str, bytes)) or \
            not isinstance(points_xy, (list, tuple)):
        raise InvalidInputError(
            f'{what} must be a list of [x, y] pixel pairs; got '
            f'{points_xy!r}')
    out = []
    for p in points_xy:
        if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool)
                for c in p)):
            raise InvalidInputError(
                f'{what} must be a list of [x, y] pixel pairs '
                f'(numbers); got the entry {p!r}')
        if not all(math.isfinite(c) for c in p):
            raise InvalidInputError(f'{what} hold NaN or inf: {list(p)!r}')
        out.append([float(p[0]), float(p[1])])
    if image_size:
        last = int(image_size) - 1
        off = [p for p in out if not (0 <= p[0] <= last and 0 <= p[1] <= last)]
        if off:
            raise InvalidInputError(
                f'{what} {off} lie outside the {image_size}x{image_size} '
                f'image: x (column) and y (row) must be in [0, {last}]')
    return out


def check_point_pairs(handles: Any,
                      targets: Any,
                      image_size: Optional[int] = None,
                      allow_empty: bool = True
                      ) -> Tuple[List[List[float]], List[List[float]]]:
    """Validate handles and their targets together (:func:`check_points`
    for each, then one target per handle).

    Raises:
        ValueError: As :func:`check_points`; unequal lengths; no points when
            ``allow_empty`` is False.
    """
    h = check_points(handles, 'handles', image_size)
    t = check_points(targets, 'targets', image_size)
    if len(h) != len(t):
        raise InvalidInputError(
            f'got {len(h)} handles but {len(t)} targets: every '
            'handle needs exactly one target')
    if not h and not allow_empty:
        raise InvalidInputError(
            'no points: give at least one handle and its target')
    return h, t


def xy_to_rc(points_xy: PointsXY) -> Tensor:
    """``[[x, y], ...]`` -> (N, 2) float32 tensor in (row, col) order."""
    t = torch.as_tensor(points_xy, dtype=torch.float64).reshape(-1, 2)
    return t.flip(1).float()


def rc_to_xy(points_rc: Tensor) -> List[List[float]]:
    """(N, 2) (row, col) tensor -> ``[[x, y], ...]`` floats."""
    return [[float(c), float(r)] for r, c in points_rc.tolist()]
