"""Where the repository's folders are, seen from the installed package."""
import os.path as osp


def repo_root() -> str:
    """The repository root (parent of the ``mmagic_draggan`` package)."""
    return osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def config_dir() -> str:
    """``configs/draggan`` of the repository."""
    return osp.join(repo_root(), 'configs', 'draggan')
