"""Boxes of a map: where a drag step needs its features.

A step reads ``F`` only near its handles: the tracker a window of radius
``r2`` around each handle, the motion loss a disc of radius ``r1`` around the
tracked handle and its one-pixel shift. Without a mask term nothing else of
``F`` matters, so the synthesis only has to produce the feature block inside
boxes around the handles (:func:`.stylegan2_synthesis.synthesize_windows`),
and the convolutions before it only inside those boxes' receptive fields.

A box is ``(row0, row1, col0, col1)``: half-open pixel ranges of one map,
rows first (the image's (row, col) order, not (x, y)).
"""
from typing import List, Tuple

import torch
from torch import Tensor

from .feature_maps import resize_source_index

#: (row0, row1, col0, col1), half-open, rows first
Box = Tuple[int, int, int, int]


def clip_box(box: Box, height: int, width: int) -> Box:
    """``box`` intersected with a ``height`` x ``width`` map (may be
    empty)."""
    r0, r1, c0, c1 = box
    r0, c0 = max(int(r0), 0), max(int(c0), 0)
    return (r0, max(min(int(r1), height), r0), c0,
            max(min(int(c1), width), c0))


def box_area(box: Box) -> int:
    """Pixels of ``box``."""
    return (box[1] - box[0]) * (box[3] - box[2])


def expand_box(box: Box, margin: int, height: int, width: int) -> Box:
    """``box`` grown by ``margin`` on every side, clipped to the map."""
    r0, r1, c0, c1 = box
    return clip_box((r0 - margin, r1 + margin, c0 - margin, c1 + margin),
                    height, width)


def fit_box(needed: Box, rows: int, cols: int, height: int,
            width: int) -> Box:
    """A box of exactly ``rows`` x ``cols`` inside the map that contains
    ``needed`` (``needed`` may reach past the map; only its part inside
    counts), shifted inwards rather than clipped at the borders, so that
    every call with the same sizes gives a box of the same shape. An axis
    whose size is at least the map's spans the whole map.

    Args:
        needed (Box): Pixels that must be inside (at most ``rows`` x
            ``cols`` of them inside the map).
        rows, cols (int): Box size.
        height, width (int): Map size.

    Returns:
        Box: The box, half-open.
    """
    out = []
    for lo, hi, size, n in ((needed[0], needed[1], rows, height),
                            (needed[2], needed[3], cols, width)):
        lo, hi = max(int(lo), 0), min(int(hi), n)
        assert hi - lo <= size, (needed, rows, cols)
        if size >= n:
            out += [0, n]
        else:
            start = min(lo, n - size)
            out += [start, start + size]
    return tuple(out)


def handle_boxes(handles_rc: Tensor, reach: int,
                 size: Tuple[int, int]) -> List[Box]:
    """Image boxes with every pixel within ``reach`` of each (rounded)
    handle, all of one size ``2 * reach + 1`` (shifted inwards at the
    borders, see :func:`fit_box`).

    Args:
        handles_rc (Tensor): Handles, (N, 2) float, (row, col) image pixels.
        reach (int): Pixels a step reads around a handle, every direction.
        size (tuple[int, int]): Image size (H, W).

    Returns:
        list[Box]: One box per handle, image pixels.
    """
    H, W = size
    side = 2 * int(reach) + 1
    boxes = []
    for r, c in handles_rc.detach().float().cpu().round().long().tolist():
        boxes.append(fit_box((r - reach, r + reach + 1, c - reach,
                              c + reach + 1), side, side, H, W))
    return boxes


def image_box_to_feature_box(box: Box, feat_size: Tuple[int, int],
                             size: Tuple[int, int]) -> Box:
    """The feature-map pixels the bilinear resize (``align_corners=False``)
    reads for the image pixels of ``box``.

    Args:
        box (Box): Image pixels (non-empty), clipped to ``size``.
        feat_size (tuple[int, int]): Feature map size (h, w).
        size (tuple[int, int]): Image size (H, W).

    Returns:
        Box: Feature-map pixels, half-open.
    """
    out = []
    for lo, hi, n, N in ((box[0], box[1], feat_size[0], size[0]),
                         (box[2], box[3], feat_size[1], size[1])):
        src_lo, src_hi, _ = resize_source_index(
            torch.tensor([lo, hi - 1]), n, N)
        out += [int(src_lo.min()), int(src_hi.max()) + 1]
    return tuple(out)


def feature_box_size(boxes: List[Box], feat_size: Tuple[int, int],
                     size: Tuple[int, int]) -> Tuple[int, int]:
    """(rows, cols) that hold :func:`image_box_to_feature_box` of any image
    box as large as the largest of ``boxes``, wherever it lies: a box of
    ``m`` image pixels reads at most ``floor((m - 1) * h / H) + 3`` feature
    pixels. Depends on the boxes' sizes only (not on where they are)."""
    out = []
    for axis, (n, N) in enumerate(zip(feat_size, size)):
        m = max(b[2 * axis + 1] - b[2 * axis] for b in boxes)
        out.append(min(n, (m - 1) * n // N + 3))
    return tuple(out)
