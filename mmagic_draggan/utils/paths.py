"""Where the repository's folders are, seen from the installed package."""
from pathlib import Path


def repo_root() -> Path:
    """The repository root (the folder that holds ``mmagic_draggan``)."""
    return Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    """``<root>/configs/draggan``: the DragGAN configs (may be absent for a
    wheel install)."""
    return repo_root() / 'configs' / 'draggan'
