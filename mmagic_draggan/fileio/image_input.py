"""Photos to invert: the one reader (any Pillow format, safely).

:func:`load_image` turns a file into the square RGB image a generator makes:
EXIF orientation applied, transparency composited on white, grey / palette /
CMYK / 16-bit converted to 8-bit RGB, centre-cropped (or padded) to a square
and resized with Lanczos to the generator's side. The file size and the
pixel size from the header are checked before any pixel is decoded, so a
decompression bomb is refused without being loaded.
"""
import os
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.utils.files import check_file

__all__ = ['RESIZE_MODES', 'MIN_SIDE', 'MAX_SIDE', 'MAX_BYTES',
           'check_image_file', 'load_image', 'prepare_image']

PathLike = Union[str, os.PathLike]

#: ``'crop'``: centre crop to a square; ``'pad'``: pad to a square.
RESIZE_MODES = ('crop', 'pad')
#: Smallest accepted side (pixels).
MIN_SIDE = 16
#: Default largest accepted side (pixels).
MAX_SIDE = 8192
#: Default largest accepted file size (bytes).
MAX_BYTES = 25 * 2**20

_ORIENTATION_TAG = 0x0112


def _open(path: str, max_side: int, max_bytes: int):
    """Open (header only) and check a file; returns the lazy PIL image."""
    from PIL import Image, UnidentifiedImageError
    check_file(path, 'image', max_bytes, 'resize or re-compress it')
    try:
        im = Image.open(path)  # reads the header only
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError,
            SyntaxError, ValueError) as e:
        raise InvalidInputError(
            f'image {path!r} is not an image Pillow can read '
            f'({type(e).__name__}: {e})') from None
    width, height = im.size
    if max(width, height) > max_side:
        im.close()
        raise InvalidInputError(
            f'image {path!r} is {width}x{height} px, over the limit of '
            f'{max_side} px a side; resize it first')
    if min(width, height) < MIN_SIDE:
        im.close()
        raise InvalidInputError(
            f'image {path!r} is {width}x{height} px, under the '
            f'minimum of {MIN_SIDE} px a side')
    return im


def check_image_file(path: PathLike,
                     max_side: int = MAX_SIDE,
                     max_bytes: int = MAX_BYTES) -> Tuple[int, int]:
    """Check a photo from its size and header, without decoding it.

    Args:
        path (str): The image file.
        max_side (int): Largest accepted width or height in pixels.
        max_bytes (int): Largest accepted file size.

    Returns:
        tuple[int, int]: Its (width, height) as stored (before EXIF
        rotation).

    Raises:
        ValueError: Missing, empty, not an image, too small or too large
            (the message names the file and the limit).
    """
    im = _open(str(path), int(max_side), int(max_bytes))
    size = im.size
    im.close()
    return size


def _to_rgb(im) -> Tuple[Any, str]:
    """8-bit RGB of any PIL image; transparency composited on white."""
    from PIL import Image
    mode = im.mode
    if mode in ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F'):
        arr = np.asarray(im, dtype=np.float64)
        if mode != 'F' or arr.max(initial=0) > 1:
            scale = 255. / 65535. if arr.max(initial=0) > 255 else 1.
        else:
            scale = 255.  # float images in [0, 1]
        grey = np.clip(arr * scale, 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, 'L').convert('RGB'), mode
    has_alpha = mode in ('RGBA', 'LA', 'PA', 'La', 'RGBa') or (
        mode == 'P' and 'transparency' in im.info) or (
            mode in ('L', 'RGB') and 'transparency' in im.info)
    if has_alpha:
        rgba = im.convert('RGBA')
        white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert('RGB'), mode
    if mode != 'RGB':
        return im.convert('RGB'), mode
    return im, mode


def prepare_image(image, size: int,
                  resize: str = 'crop',
                  pad_value: Tuple[int, int, int] = (255, 255, 255)
                  ) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Square and resize an in-memory image for a generator.

    Args:
        image (PIL.Image.Image | np.ndarray): A PIL image (any mode) or an
            array (H, W, 3) / (H, W, 4) / (H, W) uint8.
        size (int): The generator's side in pixels.
        resize (str): ``'crop'``: centre crop to a square of the short side;
            ``'pad'``: pad to a square of the long side with ``pad_value``.
        pad_value (tuple): RGB of the padding. Defaults to white.

    Returns:
        tuple[np.ndarray, dict]: The image (size, size, 3) uint8 RGB and the
        preprocessing info: ``original_size`` [width, height] (after EXIF
        rotation), ``box`` [x0, y0, x1, y1], the square taken, in those
        pixels (inside the image for crop; reaching past its edges for pad),
        ``resize``, ``size``, ``mode`` (the input's PIL mode).
    """
    from PIL import Image
    if resize not in RESIZE_MODES:
        raise InvalidInputError(f'resize must be one of {RESIZE_MODES}; got '
                                f'{resize!r}')
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise InvalidInputError(
            f'size must be a positive integer; got {size!r}')
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (
                arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise InvalidInputError(
                'an image array must be uint8 (H, W), (H, W, 3) or '
                f'(H, W, 4); got {arr.dtype} {arr.shape}')
        if min(arr.shape[:2]) < MIN_SIDE:
            raise InvalidInputError(
                f'image is {arr.shape[1]}x{arr.shape[0]} px, '
                f'under the minimum of {MIN_SIDE} px a side')
        image = Image.fromarray(np.ascontiguousarray(arr))
    rgb, mode = _to_rgb(image)
    width, height = rgb.size
    if resize == 'crop':
        side = min(width, height)
    else:
        side = max(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    box = (x0, y0, x0 + side, y0 + side)
    if resize == 'crop':
        square = rgb.crop(box)
    else:
        square = Image.new('RGB', (side, side), tuple(pad_value))
        square.paste(rgb, (-x0, -y0))
    if side != size:
        square = square.resize((int(size), int(size)), Image.LANCZOS)
    out = np.asarray(square, dtype=np.uint8).copy()
    info = dict(original_size=[int(width), int(height)],
                box=[int(v) for v in box], resize=resize, size=int(size),
                mode=mode)
    return out, info


def load_image(path: PathLike,
               size: int,
               resize: str = 'crop',
               max_side: int = MAX_SIDE,
               max_bytes: int = MAX_BYTES,
               pad_value: Tuple[int, int, int] = (255, 255, 255)
               ) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Read a photo as the square RGB target of an inversion.

    Args:
        path (str): Any image file Pillow reads (PNG, JPEG, WebP, GIF (first
            frame), TIFF, BMP...).
        size (int): The generator's side in pixels.
        resize (str): ``'crop'`` (centre crop) or ``'pad'`` (pad to square
            with ``pad_value``). Defaults to 'crop'.
        max_side (int): Largest accepted width or height (checked from the
            header, before decoding). Defaults to 8192.
        max_bytes (int): Largest accepted file size. Defaults to 25 MB.
        pad_value (tuple): RGB of the padding. Defaults to white.

    Returns:
        tuple[np.ndarray, dict]: The image, shape (size, size, 3) uint8 RGB,
        and its preprocessing info (see :func:`prepare_image`) plus
        ``orientation`` (the EXIF orientation applied, 1 = none) and
        ``frames`` (the file's frame count; the first is used).

    Raises:
        ValueError: Missing, empty, unreadable or not an image, smaller than
            16 px or larger than ``max_side`` a side, larger than
            ``max_bytes`` (the message names the file and the limit).
    """
    from PIL import Image, ImageOps
    path = str(path)
    if resize not in RESIZE_MODES:
        raise InvalidInputError(f'resize must be one of {RESIZE_MODES}; got '
                                f'{resize!r}')
    im = _open(path, int(max_side), int(max_bytes))
    try:
        with im:
            try:
                orientation = int(im.getexif().get(_ORIENTATION_TAG, 1))
            except Exception:  # a broken EXIF block: ignore it
                orientation = 1
            frames = int(getattr(im, 'n_frames', 1))
            im.seek(0)
            im.load()
            upright: Optional[Any] = ImageOps.exif_transpose(im)
            image = upright if upright is not None else im
            out, info = prepare_image(image, size, resize, pad_value)
    except ValueError:
        raise
    except (OSError, SyntaxError, Image.DecompressionBombError,
            EOFError) as e:
        raise InvalidInputError(
            f'image {path!r} cannot be decoded (truncated or '
            f'corrupt: {type(e).__name__}: {e})') from None
    info.update(orientation=orientation, frames=frames)
    return out, info
