"""W+ latent files: the one reader and writer.

A latent file holds a W+ tensor of shape (1, L, C) (or (L, C)): a ``.pt`` /
``.pth`` written by :func:`torch.save` (a tensor, or a dict with one of the
keys ``latent``, ``w``, ``ws``) read with ``torch.load(weights_only=True)``,
so no code runs on load, or a ``.npy`` read without pickle.
"""
import os
import os.path as osp
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ['LATENT_SUFFIXES', 'LATENT_KEYS', 'read_latent', 'save_latent',
           'check_latent']

PathLike = Union[str, os.PathLike]

#: File name endings a latent file may have.
LATENT_SUFFIXES = ('.pt', '.pth', '.npy')
#: Keys under which a dict file may hold the latent (first found wins).
LATENT_KEYS = ('latent', 'w', 'ws')


def check_latent(latent: Tensor,
                 shape: Optional[Sequence[int]] = None,
                 what: str = 'latent') -> Tensor:
    """Check a W+ latent; returns it detached as (1, L, C) float32.

    Args:
        latent (Tensor): (1, L, C) or (L, C).
        shape (tuple, optional): The W+ shape ``(1, L, C)`` of the generator
            it is for.
        what (str): Its name in messages (a file name, ``'latent'``).

    Raises:
        TypeError: Not a tensor.
        ValueError: Wrong shape (naming both shapes) or NaN/inf values.
    """
    if not isinstance(latent, Tensor):
        raise TypeError(f'{what} must be a torch.Tensor; got '
                        f'{type(latent).__name__}')
    given = tuple(latent.shape)
    out = latent.detach().float()
    if out.ndim == 2:
        out = out[None]
    if shape is not None and tuple(out.shape) != tuple(shape):
        raise ValueError(
            f'{what} has shape {given} but this model needs {tuple(shape)} '
            '(W+: 1 x num_latents x style_channels); was it made with '
            'another config?')
    if shape is None and (out.ndim != 3 or out.shape[0] != 1):
        raise ValueError(f'{what} has shape {given}; expected a W+ tensor '
                         '(1, L, C)')
    if not torch.isfinite(out).all():
        raise ValueError(f'{what} holds NaN or inf values')
    return out.contiguous()


def read_latent(path: PathLike,
                shape: Optional[Sequence[int]] = None) -> Tensor:
    """Read a W+ latent file.

    Args:
        path (str): A ``.pt``/``.pth``/``.npy`` file (see the module doc).
        shape (tuple, optional): The W+ shape ``(1, L, C)`` it must have.

    Returns:
        Tensor: The latent, (1, L, C) float32 on the CPU.

    Raises:
        ValueError: Missing, unreadable or unsafe file, no tensor in it, a
            shape that does not fit, or NaN/inf values (the message names
            the file and the fix).
    """
    path = str(path)
    if not osp.isfile(path):
        raise ValueError(f'latent file {path!r} does not exist (give a '
                         'latent.pt written by tools/drag.py, or a .npy)')
    if not path.lower().endswith(LATENT_SUFFIXES):
        raise ValueError(f'latent file {path!r} must end with one of '
                         f'{list(LATENT_SUFFIXES)}')
    try:
        if path.lower().endswith('.npy'):
            obj = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # pickle, zip, numpy and weights_only errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else \
            type(e).__name__
        raise ValueError(
            f'cannot read latent file {path!r} safely (torch.load(weights_'
            f'only=True) / np.load(allow_pickle=False)): {first}. Give a '
            'latent.pt written by tools/drag.py (a tensor of shape '
            '(1, L, C))') from None
    if isinstance(obj, dict):
        found = [obj[k] for k in LATENT_KEYS if k in obj]
        if not found:
            raise ValueError(f'latent file {path!r} holds a dict without a '
                             f'{" / ".join(LATENT_KEYS)} tensor')
        obj = found[0]
    if not isinstance(obj, Tensor):
        raise ValueError(
            f'latent file {path!r} holds a {type(obj).__name__}, not a '
            'tensor; expected a W+ tensor of shape (1, L, C) saved with '
            'torch.save')
    return check_latent(obj, shape, what=f'latent file {path!r}')


def save_latent(latent: Tensor, path: PathLike) -> str:
    """Write a W+ latent (1, L, C) as a plain CPU float32 tensor.

    Returns:
        str: ``path``.
    """
    torch.save(latent.detach().float().cpu().clone(), str(path))
    return str(path)
