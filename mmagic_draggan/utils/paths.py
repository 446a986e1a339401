"""Where the repository's folders are, seen from the installed package."""
import os
import os.path as osp
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, os.PathLike]


def repo_root() -> Path:
    """The repository root (the folder that holds ``mmagic_draggan``)."""
    return Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    """``<root>/configs/draggan``: the DragGAN configs (may be absent for a
    wheel install)."""
    return repo_root() / 'configs' / 'draggan'


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
