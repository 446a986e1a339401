"""The one check a file passes before any reader opens it."""
import os
import os.path as osp
from typing import Optional, Union

from mmagic_draggan.errors import InvalidInputError

__all__ = ['check_file']


def check_file(path: Union[str, os.PathLike],
               what: str,
               max_bytes: Optional[int] = None,
               fix: str = '') -> int:
    """Check that ``path`` is a non-empty file of at most ``max_bytes``,
    before anything of it is read.

    Args:
        path (str): The file.
        what (str): What it is, for messages (``'image'``, ``'mask'``).
        max_bytes (int, optional): Largest accepted size; None: any.
        fix (str): What to do about an oversized file, appended to its
            message.

    Returns:
        int: Its size in bytes.

    Raises:
        InvalidInputError: Missing, not a file, empty or too large (the
            message names the file, and the limit).
    """
    path = str(path)
    if not osp.exists(path):
        raise InvalidInputError(f'{what} {path!r} does not exist')
    if not osp.isfile(path):
        raise InvalidInputError(f'{what} {path!r} is not a file')
    nbytes = osp.getsize(path)
    if nbytes == 0:
        raise InvalidInputError(f'{what} {path!r} is empty (0 bytes)')
    if max_bytes is not None and nbytes > max_bytes:
        raise InvalidInputError(
            f'{what} {path!r} is {nbytes / 2**20:.1f} MB, over the limit of '
            f'{max_bytes / 2**20:.0f} MB' + (f'; {fix}' if fix else ''))
    return nbytes
