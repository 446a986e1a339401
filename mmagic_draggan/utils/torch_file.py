"""Tensor files written by :func:`torch.save` or numpy: sized before loaded.

The one place where a ``.pt`` / ``.pth`` / ``.npy`` file is opened. Every
reader of a latent, an inversion or a checkpoint goes through
:func:`load_tensor_file`, which

1. checks the file's size against a limit (``max_bytes``) before reading;
2. for ``torch.save``'s zip format, reads only the zip directory first: each
   entry must be *stored* (``torch.save`` never compresses, so a compressed
   entry is a file re-packed by someone else and could unpack to far more
   than its size: a 1 MB file can hold a 1 GB tensor), the pickle must be
   small, and the sizes the directory declares must add up to at most
   ``max_bytes``;
3. for a ``.npy`` file, reads the header (dtype and shape) and checks the
   array's size before the data;
4. only then loads with ``torch.load(weights_only=True)`` (or
   ``np.load(allow_pickle=False)``), so no code in the file ever runs.

The legacy (non-zip) ``torch.save`` format and ``.npy`` files are never
compressed, so their file size bounds what they unpack to.
"""
import os
import os.path as osp
import zipfile
from typing import Any, Optional, Union

from mmagic_draggan.errors import InvalidInputError

__all__ = ['MAX_PICKLE_BYTES', 'TensorFileError', 'check_tensor_file',
           'load_tensor_file', 'human_bytes']

PathLike = Union[str, os.PathLike]

#: Largest pickle (the object structure, not the tensor data) accepted in a
#: ``torch.save`` zip: a state dict of thousands of keys needs well under
#: 1 MB.
MAX_PICKLE_BYTES = 16 * 2**20

_ZIP_MAGIC = b'PK\x03\x04'
_NPY_MAGIC = b'\x93NUMPY'


class TensorFileError(InvalidInputError):
    """A tensor file is missing, too large, re-compressed or unreadable.

    Attributes:
        reason (str): ``'missing'``, ``'empty'``, ``'damaged'``,
            ``'compressed'``, ``'too_large'`` or ``'objects'``.
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def human_bytes(n: float) -> str:
    """``1536 -> '1.5 KB'``: a size for messages."""
    if n < 1024:
        return f'{int(n)} bytes'
    for unit in ('KB', 'MB', 'GB'):
        n /= 1024
        if n < 1024 or unit == 'GB':
            break
    return f'{n:.1f} {unit}'


def _head(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read(16)


def _check_zip(path: str, max_bytes: Optional[int], what: str) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise TensorFileError(f'{what} is corrupt or truncated (a damaged '
                              f'zip: {err}); write it again with '
                              'torch.save', 'damaged') from None
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise TensorFileError(
                f'{what} holds a compressed entry ({info.filename!r}); '
                'torch.save never compresses, and a compressed entry could '
                'unpack to far more than the file size, so it is refused: '
                'save the tensors again with torch.save', 'compressed')
        if info.filename.endswith('.pkl') and \
                info.file_size > MAX_PICKLE_BYTES:
            raise TensorFileError(
                f'{what} has a {human_bytes(info.file_size)} pickle '
                f'({info.filename!r}), over the limit of '
                f'{human_bytes(MAX_PICKLE_BYTES)}: it is not a plain tensor '
                'file', 'too_large')
        total += info.file_size
    if max_bytes is not None and total > max_bytes:
        raise TensorFileError(
            f'{what} unpacks to {human_bytes(total)}, more than the '
            f'{human_bytes(max_bytes)} such a file can need; is it the right '
            'file?', 'too_large')


def _check_npy(path: str, max_bytes: Optional[int], what: str) -> None:
    import numpy as np
    try:
        with open(path, 'rb') as f:
            version = np.lib.format.read_magic(f)
            shape, _, dtype = np.lib.format._read_array_header(f, version)
    except (ValueError, OSError, SyntaxError) as err:
        raise TensorFileError(f'{what} has a broken .npy header ({err})',
                              'damaged') from None
    if dtype.hasobject:
        raise TensorFileError(
            f'{what} holds Python objects (dtype {dtype}); only numeric '
            'arrays are read', 'objects')
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if max_bytes is not None and nbytes > max_bytes:
        raise TensorFileError(
            f'{what} holds a {shape} {dtype} array ({human_bytes(nbytes)}), '
            f'more than the {human_bytes(max_bytes)} such a file can need',
            'too_large')


def check_tensor_file(path: PathLike,
                      max_bytes: Optional[int] = None,
                      what: Optional[str] = None) -> str:
    """Check a tensor file's size and structure without loading any tensor.

    Args:
        path (str): A ``torch.save`` file (zip or legacy format) or ``.npy``.
        max_bytes (int, optional): Most bytes its data may unpack to; None
            for no size limit (compressed zip entries are refused anyway).
        what (str, optional): Its name in messages (default: the path).

    Returns:
        str: Its format: ``'zip'``, ``'legacy'`` or ``'npy'``.

    Raises:
        TensorFileError: Missing, empty, too large, a compressed or damaged
            zip, or an object ``.npy``.
    """
    path = str(path)
    what = what or f'{path!r}'
    if not osp.isfile(path):
        raise TensorFileError(f'{what} does not exist', 'missing')
    size = osp.getsize(path)
    if size == 0:
        raise TensorFileError(f'{what} is empty (0 bytes)', 'empty')
    head = _head(path)
    if head.startswith(_ZIP_MAGIC):
        _check_zip(path, max_bytes, what)
        return 'zip'
    if max_bytes is not None and size > max_bytes:
        raise TensorFileError(
            f'{what} is {human_bytes(size)}, more than the '
            f'{human_bytes(max_bytes)} such a file can need; is it the right '
            'file?', 'too_large')
    if head.startswith(_NPY_MAGIC):
        _check_npy(path, max_bytes, what)
        return 'npy'
    return 'legacy'


def load_tensor_file(path: PathLike,
                     max_bytes: Optional[int] = None,
                     what: Optional[str] = None,
                     mmap: bool = False,
                     safe_globals: Optional[list] = None) -> Any:
    """Check (:func:`check_tensor_file`), then load a tensor file safely.

    Args:
        path (str): The file.
        max_bytes (int, optional): See :func:`check_tensor_file`.
        what (str, optional): Its name in messages.
        mmap (bool): Memory-map a zip file's tensors (only those used are
            read into memory).
        safe_globals (list, optional): Extra globals the restricted
            unpickler may build (e.g. numpy scalars in checkpoint metadata).

    Returns:
        Any: What ``torch.load(weights_only=True)`` returns (a tensor for a
        ``.npy``), tensors on the CPU.

    Raises:
        TensorFileError: What :func:`check_tensor_file` refuses.
        Exception: ``torch.load``'s own errors (pickle, zip, runtime) are
            left to the caller, which knows what the file should be.
    """
    import numpy as np
    import torch
    kind = check_tensor_file(path, max_bytes, what)
    if kind == 'npy':
        return torch.from_numpy(np.load(str(path), allow_pickle=False))
    kwargs = dict(map_location='cpu', weights_only=True)
    if mmap and kind == 'zip':
        kwargs['mmap'] = True
    if safe_globals:
        with torch.serialization.safe_globals(safe_globals):
            return torch.load(str(path), **kwargs)
    return torch.load(str(path), **kwargs)
