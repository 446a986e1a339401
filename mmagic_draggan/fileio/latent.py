"""W+ latent files: the one reader and writer.

A latent file holds a W+ tensor of shape (1, L, C) (or (L, C)): a ``.pt`` /
``.pth`` written by :func:`torch.save` (a tensor, or a dict with one of the
keys ``latent``, ``w``, ``ws``) read with ``torch.load(weights_only=True)``,
so no code runs on load, or a ``.npy`` read without pickle. Its size is
checked from the file's header and zip directory before any tensor is
unpacked (:func:`~mmagic_draggan.utils.torch_file.load_tensor_file`): at most
what a (1, L, C) float64 tensor of the expected shape needs, else
:data:`MAX_LATENT_BYTES`.
"""
import os
import os.path as osp
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.utils.torch_file import TensorFileError, load_tensor_file

__all__ = ['LATENT_SUFFIXES', 'LATENT_KEYS', 'MAX_LATENT_BYTES', 'read_latent',
           'save_latent', 'check_latent', 'latent_file_limit']

PathLike = Union[str, os.PathLike]

#: File name endings a latent file may have.
LATENT_SUFFIXES = ('.pt', '.pth', '.npy')
#: Keys under which a dict file may hold the latent (first found wins).
LATENT_KEYS = ('latent', 'w', 'ws')
#: Most bytes a latent file may unpack to when its shape is not known (a
#: W+ of 18 x 512 float64 needs 72 KB).
MAX_LATENT_BYTES = 8 * 2**20
#: Room for the pickle and the zip's small records beside the tensor data.
_OVERHEAD_BYTES = 2**20


def latent_file_limit(shape: Optional[Sequence[int]] = None) -> int:
    """Most bytes a latent file for a W+ of ``shape`` (1, L, C) may unpack
    to: the tensor in float64 plus room for its pickle."""
    if shape is None:
        return MAX_LATENT_BYTES
    return int(np.prod(shape)) * 8 + _OVERHEAD_BYTES


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
        raise InvalidInputError(
            f'{what} has shape {given} but this model needs {tuple(shape)} '
            '(W+: 1 x num_latents x style_channels); was it made with '
            'another config?')
    if shape is None and (out.ndim != 3 or out.shape[0] != 1):
        raise InvalidInputError(
            f'{what} has shape {given}; expected a W+ tensor '
            '(1, L, C)')
    if not torch.isfinite(out).all():
        raise InvalidInputError(f'{what} holds NaN or inf values')
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
        raise InvalidInputError(
            f'latent file {path!r} does not exist (give a '
            'latent.pt written by tools/drag.py, or a .npy)')
    if not path.lower().endswith(LATENT_SUFFIXES):
        raise InvalidInputError(f'latent file {path!r} must end with one of '
                                f'{list(LATENT_SUFFIXES)}')
    try:
        obj = load_tensor_file(path, latent_file_limit(shape),
                               what=f'latent file {path!r}')
    except TensorFileError as e:
        raise InvalidInputError(
            f'{e} (give a latent.pt written by tools/drag.py: '
            'a tensor of shape (1, L, C))') from None
    except Exception as e:  # pickle, zip, numpy and weights_only errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else \
            type(e).__name__
        raise InvalidInputError(
            f'cannot read latent file {path!r} safely (torch.load(weights_'
            f'only=True) / np.load(allow_pickle=False)): {first}. Give a '
            'latent.pt written by tools/drag.py (a tensor of shape '
            '(1, L, C))') from None
    if isinstance(obj, dict):
        found = [obj[k] for k in LATENT_KEYS if k in obj]
        if not found:
            raise InvalidInputError(
                f'latent file {path!r} holds a dict without a '
                f'{" / ".join(LATENT_KEYS)} tensor')
        obj = found[0]
    if not isinstance(obj, Tensor):
        raise InvalidInputError(
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
