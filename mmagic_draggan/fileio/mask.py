"""Masks (the region a drag may change): the one rule, reader and writer.

A mask is (H, W) bool, True = may change; outside it the features are held
to those at the start of the drag. As a file it is an image whose nonzero
(white) pixels may change; colour images are converted to grey first and
alpha is ignored. An all-zero mask is refused everywhere: nothing would be
allowed to change.
"""
import os
from typing import Any, Optional, Union

import numpy as np

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.utils.files import check_file
from .image_input import MAX_BYTES, MAX_SIDE

__all__ = ['check_mask', 'check_mask_file', 'read_mask', 'save_mask']

PathLike = Union[str, os.PathLike]


def check_mask(mask: Any, size: Optional[int] = None,
               what: str = 'mask') -> np.ndarray:
    """Check a mask array; returns it as (H, W) bool.

    Args:
        mask (array-like): (H, W), or (H, W, 1/3/4) (the first channel is
            used); nonzero = may change.
        size (int, optional): The image side H = W it must have.
        what (str): Its name in messages.

    Raises:
        ValueError: Another size (naming the expected HxW), NaN/inf, or all
            zero.
    """
    if hasattr(mask, 'detach'):
        mask = mask.detach().cpu().numpy()
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise InvalidInputError(f'{what} must be an (H, W) array; got shape '
                                f'{arr.shape}')
    if size is not None and arr.shape != (size, size):
        h, w = arr.shape
        raise InvalidInputError(f'{what} is {h}x{w} (HxW) but the image is '
                                f'{size}x{size}; give a {size}x{size} mask')
    if arr.dtype.kind == 'f' and not np.isfinite(arr).all():
        raise InvalidInputError(f'{what} holds NaN or inf values')
    out = arr > 0
    if not out.any():
        raise InvalidInputError(
            f'{what} is all zero (black): nothing would be '
            'allowed to change (nonzero / white = editable '
            'region); remove the mask instead')
    return out


def _open_mask(path: str, size: Optional[int]):
    """Open a mask image lazily (header only) and check its pixel size
    before anything is decoded, so a decompression bomb is never unpacked.
    """
    from PIL import Image, UnidentifiedImageError
    check_file(path, 'mask file', MAX_BYTES,
               'give a PNG, white = region allowed to change')
    try:
        img = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError,
            ValueError) as e:
        raise InvalidInputError(
            f'cannot read mask {path!r} as an image ({e}); give '
            'a PNG, white = region allowed to change') from None
    w, h = img.size
    if size is not None and (w, h) != (size, size):
        img.close()
        raise InvalidInputError(
            f'mask {path!r} is {h}x{w} (HxW) but the image is '
            f'{size}x{size}; give a {size}x{size} mask')
    if max(w, h) > MAX_SIDE:
        img.close()
        raise InvalidInputError(
            f'mask {path!r} is {w}x{h} px, over the limit of '
            f'{MAX_SIDE} px a side')
    return img


def read_mask(path: PathLike, size: Optional[int] = None) -> np.ndarray:
    """Read a mask image (PNG recommended: lossless).

    Args:
        path (str): The image file.
        size (int, optional): The image side H = W it must have (checked
            from the header, before decoding).

    Returns:
        np.ndarray: (H, W) bool, True = may change.

    Raises:
        ValueError: Missing, unreadable or oversized file, or what
            :func:`check_mask` refuses.
    """
    path = str(path)
    img = _open_mask(path, size)
    try:
        with img:
            grey = np.asarray(img.convert('L'))
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise InvalidInputError(
            f'cannot decode mask {path!r} ({e}); give a PNG, '
            'white = region allowed to change') from None
    return check_mask(grey, size, what=f'mask {path!r}')


def check_mask_file(path: PathLike, size: Optional[int] = None) -> None:
    """Check that a mask file exists, is an image and has the right size,
    reading only its header (cheap: for validating many tasks up front).

    Raises:
        ValueError: Missing, unreadable or oversized file, or another size.
    """
    _open_mask(str(path), size).close()


def save_mask(mask: np.ndarray, path: PathLike) -> str:
    """Write an (H, W) bool mask as an 8-bit PNG (255 = may change)."""
    from PIL import Image
    Image.fromarray(np.asarray(mask).astype(bool).astype(np.uint8) *
                    255).save(str(path))
    return str(path)
