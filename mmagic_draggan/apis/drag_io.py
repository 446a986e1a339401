"""Files of a headless drag: latents (``.pt``), masks (``.png``), paths.

Latents are W+ tensors of shape (1, L, C) written with :func:`torch.save` and
read back with ``torch.load(..., weights_only=True)`` (no code runs on load).
Masks are 8-bit PNGs: white / nonzero = the region allowed to change, black =
kept fixed.
"""
import os
import os.path as osp
from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

from mmagic_draggan.utils.paths import repo_root

PathLike = Union[str, os.PathLike]


def load_latent_file(path: PathLike, model=None) -> Tensor:
    """Read a W+ latent saved with :func:`save_latent` (or ``torch.save``).

    Args:
        path (str): A ``.pt`` file holding one tensor, (1, L, C) or (L, C).
        model (DragGAN, optional): When given, the shape must be this model's
            W+ shape ``(1, num_latents, style_channels)``.

    Returns:
        Tensor: The latent, (1, L, C) float32 on the CPU.

    Raises:
        ValueError: Missing or unreadable file, not a tensor, NaN/inf values,
            or a shape that does not fit ``model`` (the message gives both).
    """
    path = str(path)
    if not osp.isfile(path):
        raise ValueError(f'latent file {path!r} does not exist (give a '
                         'latent.pt written by tools/drag.py)')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # pickle, zip and weights_only errors alike
        first = str(e).strip().splitlines()[0] if str(e).strip() else \
            type(e).__name__
        raise ValueError(
            f'cannot read latent file {path!r} with torch.load(weights_only='
            f'True): {first}. Give a latent.pt written by tools/drag.py (a '
            'tensor of shape (1, L, C))') from None
    if not isinstance(obj, Tensor):
        raise ValueError(
            f'latent file {path!r} holds a {type(obj).__name__}, not a '
            'tensor; expected a W+ tensor of shape (1, L, C) saved with torch.save')
    latent = obj.detach().float()
    if latent.ndim == 2:
        latent = latent[None]
    if model is not None:
        shape = (1, model.num_latents, model.style_channels)
        if tuple(latent.shape) != shape:
            cfg = getattr(getattr(model, 'cfg', None), 'filename', None)
            which = f' of {cfg}' if cfg else ''
            raise ValueError(
                f'latent file {path!r} has shape {tuple(obj.shape)} but this '
                f'model{which} needs {shape} (W+: 1 x num_latents x '
                'style_channels); was it saved with another config?')
    elif latent.ndim != 3 or latent.shape[0] != 1:
        raise ValueError(f'latent file {path!r} has shape {tuple(obj.shape)};'
                         ' expected a W+ tensor (1, L, C)')
    if not torch.isfinite(latent).all():
        raise ValueError(f'latent file {path!r} holds NaN or inf values')
    return latent.contiguous()


def save_latent(latent: Tensor, path: PathLike) -> str:
    """Write a W+ latent (1, L, C) as a plain CPU float32 tensor.

    Returns:
        str: ``path``.
    """
    torch.save(latent.detach().float().cpu().clone(), str(path))
    return str(path)


def load_mask_file(path: PathLike,
                   size: Optional[int] = None) -> np.ndarray:
    """Read a mask image: white / nonzero = may change, black = fixed.

    Colour images are converted to grey first (alpha is ignored), so any
    nonzero pixel counts as editable.

    Args:
        path (str): An image file (PNG recommended: lossless).
        size (int, optional): The image side H = W it must have.

    Returns:
        np.ndarray: (H, W) bool, True = may change.

    Raises:
        ValueError: Missing/unreadable file, another size (names the
            expected HxW), or an all-black mask (nothing may change).
    """
    from PIL import Image, UnidentifiedImageError
    path = str(path)
    if not osp.isfile(path):
        raise ValueError(f'mask file {path!r} does not exist')
    try:
        with Image.open(path) as img:
            grey = np.asarray(img.convert('L'))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f'cannot read mask {path!r} as an image ({e}); give '
                         'a PNG, white = region allowed to change') from None
    mask = grey > 0
    if size is not None and mask.shape != (size, size):
        h, w = mask.shape
        raise ValueError(
            f'mask {path!r} is {h}x{w} (HxW) but the image is {size}x{size}; '
            f'resize the mask to {size}x{size}')
    if not mask.any():
        raise ValueError(
            f'mask {path!r} is all black: nothing would be allowed to change '
            '(white / nonzero = editable region)')
    return mask


def save_mask(mask: np.ndarray, path: PathLike) -> str:
    """Write an (H, W) bool mask as an 8-bit PNG (255 = may change)."""
    from PIL import Image
    Image.fromarray(np.asarray(mask).astype(bool).astype(np.uint8) *
                    255).save(str(path))
    return str(path)


def save_png(image: np.ndarray, path: PathLike) -> str:
    """Write an (H, W, 3) uint8 RGB image as PNG."""
    from PIL import Image
    Image.fromarray(image).save(str(path))
    return str(path)


def portable_path(path: Optional[PathLike]) -> Optional[str]:
    """A path for a session record: relative to the repository root when it
    lies inside it (``configs/draggan/...``), else absolute."""
    if path is None:
        return None
    full = osp.abspath(str(path))
    root = str(repo_root())
    if full == root or full.startswith(root + os.sep):
        return osp.relpath(full, root).replace(os.sep, '/')
    return full


def find_repo_path(path: Optional[PathLike]) -> Optional[str]:
    """Undo :func:`portable_path`: a relative path is tried from the working
    directory, then from the repository root; returned unchanged when
    neither exists (the caller's error then names it)."""
    if path is None or osp.isabs(str(path)) or osp.exists(str(path)):
        return None if path is None else str(path)
    in_repo = osp.join(repo_root(), str(path))
    return in_repo if osp.exists(in_repo) else str(path)
