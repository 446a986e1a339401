"""What the demo shows: the image at display size with its overlays, and the
way back from a click or a brush stroke to model pixels.

Small models are shown enlarged by an integer factor (``scale``) with
nearest-neighbour pixels, so a click on display pixel ``(X, Y)`` belongs to
model pixel ``(X // scale, Y // scale)`` and model pixel ``(x, y)`` is drawn
at the centre of its block. Gradio reports clicks in the image's own pixels
and never scales them up, so the image must not be smaller than it is shown.
Points are ``(x, y)`` pixels throughout.
"""
from typing import Any, Optional, Tuple

import cv2
import numpy as np

from mmagic_draggan.utils.visualization import compose, enlarge

__all__ = ['DISPLAY_SIDE', 'display_scale', 'click_to_pixel', 'compose',
           'editor_value', 'mask_from_editor']

#: Images are enlarged to at least this side (integer factor) for display.
DISPLAY_SIDE = 512


def display_scale(image_size: int, side: int = DISPLAY_SIDE) -> int:
    """Integer enlargement of an ``image_size`` image for display (>= 1)."""
    return max(1, int(side) // int(image_size))


def click_to_pixel(index: Any, scale: int, image_size: int) -> Tuple[int, int]:
    """A click on the display image -> model (x, y) pixel.

    Args:
        index: ``gr.SelectData.index`` of an image: ``[x, y]`` display pixels.
        scale (int): Display enlargement.
        image_size (int): Model image side.

    Returns:
        tuple[int, int]: (x, y) in ``[0, image_size - 1]``.

    Raises:
        ValueError: ``index`` is not an ``[x, y]`` pair inside the image.
    """
    try:
        x, y = (float(v) for v in index)
    except (TypeError, ValueError):
        raise ValueError(f'a click must give [x, y] pixels; got {index!r}') \
            from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f'a click must give finite pixels; got {index!r}')
    side = image_size * scale
    if not (0 <= x < side and 0 <= y < side):
        raise ValueError(f'the click ({x:g}, {y:g}) is outside the '
                         f'{side}x{side} image')
    return int(x // scale), int(y // scale)


def editor_value(image: np.ndarray, scale: int) -> dict:
    """A ``gr.ImageEditor`` value with ``image`` (enlarged) as background and
    no strokes."""
    big = enlarge(image, scale)
    return dict(background=big, layers=[], composite=big)


def mask_from_editor(value: Any, image_size: int) -> Optional[np.ndarray]:
    """The painted area of a ``gr.ImageEditor`` value as a model-size mask.

    Args:
        value: The editor value (``type='numpy'``): a dict with ``layers``,
            a list of (h, w, 4) RGBA arrays (the strokes).
        image_size (int): Model image side.

    Returns:
        np.ndarray | None: (H, W) bool, True where painted (a model pixel is
        painted when at least half of its display block is, or when the
        strokes are too thin for that, when any of it is); None when nothing
        is painted.

    Raises:
        ValueError: ``value`` is not an editor value.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or 'layers' not in value:
        raise ValueError('the mask must come from the brush editor '
                         f'(a dict with "layers"); got {type(value).__name__}')
    cover = None
    for layer in value.get('layers') or []:
        if layer is None:
            continue
        arr = np.asarray(layer)
        if arr.ndim == 3 and arr.shape[-1] == 4:
            hit = arr[..., 3] > 0
        elif arr.ndim == 3:
            hit = arr.max(axis=-1) > 0
        elif arr.ndim == 2:
            hit = arr > 0
        else:
            raise ValueError(f'unexpected brush layer of shape {arr.shape}')
        if not hit.any():
            continue
        c = cv2.resize(hit.astype(np.float32), (image_size, image_size),
                       interpolation=cv2.INTER_AREA)
        cover = c if cover is None else np.maximum(cover, c)
    if cover is None:
        return None
    mask = cover >= 0.5
    if not mask.any():
        mask = cover > 0
    return mask
