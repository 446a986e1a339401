"""Where the project's folders are, from a checkout or an installed package.

The configs (``configs/``), the shipped task files (``data/``) and the tools
(``tools/``) live at the root of a checkout. A built package (wheel,
``pip install .``) carries copies of them inside itself, under
``mmagic_draggan/.mim/`` (as MMagic ships its own under ``mmagic/.mim/``;
``setup.py`` copies them at build time). :func:`repo_root` is whichever of
the two this package has, so every lookup below works from both.
"""
import os
import os.path as osp
from pathlib import Path
from typing import Any, Optional, Tuple, Union

PathLike = Union[str, os.PathLike]


#: Where a built package keeps its configs, task files and tools.
PACKAGE_DATA = '.mim'


def is_path(value: Any) -> bool:
    """Whether ``value`` names a file: a ``str``, ``bytes`` or
    ``os.PathLike`` (not an array, tensor or file object)."""
    return isinstance(value, (str, bytes)) or hasattr(value, '__fspath__')


def checkout_root() -> Optional[Path]:
    """The checkout this package runs from (the folder that holds
    ``mmagic_draggan`` and ``configs/draggan``), or None for an installed
    package."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / 'configs' / 'draggan').is_dir() else None


def repo_root() -> Path:
    """The folder that holds ``configs/``, ``data/`` and ``tools/``: the
    checkout's root, else the package's own copy (``mmagic_draggan/.mim``)."""
    return checkout_root() or Path(__file__).resolve().parents[1] / \
        PACKAGE_DATA


def config_dir() -> Path:
    """``<root>/configs/draggan``: the DragGAN configs."""
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


#: The inversion recipe used when none is named (first of
#: :func:`inversion_presets`).
DEFAULT_INVERSION_PRESET = 'pti'


def inversion_dir() -> Path:
    """``<root>/configs/_base_/inversion``: the shipped inversion recipes."""
    return repo_root() / 'configs' / '_base_' / 'inversion'


def inversion_preset_path(name: str) -> str:
    """The recipe file of a preset: ``<inversion_dir>/<name>.py``."""
    return str(inversion_dir() / f'{name}.py')


def inversion_presets() -> Tuple[str, ...]:
    """The shipped inversion presets: one per recipe file in
    :func:`inversion_dir`, :data:`DEFAULT_INVERSION_PRESET` first, then the
    others by name (``('pti', 'projector')``)."""
    names = sorted(p.stem for p in inversion_dir().glob('*.py')
                   if not p.stem.startswith('_'))
    return tuple(sorted(names, key=lambda n: n != DEFAULT_INVERSION_PRESET))
