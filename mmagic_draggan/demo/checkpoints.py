"""Where the demo looks for a config's checkpoint, and how it gets it.

The demo keeps checkpoints in one folder (``--checkpoint-dir``, default
``checkpoints`` at the repository root, where the configs and
``tools/download_checkpoint.py`` put them). A config names its released
checkpoint in a top-level ``checkpoint = dict(name=..., path=...)``; the file
is looked up under the demo's folder by the base name of ``path``.
"""
import os.path as osp
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from mmengine.config import Config

from mmagic_draggan.utils.paths import repo_root
from mmagic_draggan.utils.zoo import (checkpoint_url, download_command,
                                      list_configs)

#: Default checkpoint folder, relative to the repository root.
DEFAULT_CHECKPOINT_DIR = 'checkpoints'


@dataclass
class CheckpointStatus:
    """The checkpoint of one config, seen from the demo.

    Attributes:
        config (str): The config file.
        name (str | None): Zoo name of the released checkpoint; None when the
            config has none (the tiny test config: random weights only).
        path (str | None): Where the demo expects the file.
        exists (bool): Whether that file is there.
        command (str | None): Shell command that downloads it.
    """
    config: str
    name: Optional[str]
    path: Optional[str]
    exists: bool
    command: Optional[str]

    @property
    def needs_download(self) -> bool:
        """A released checkpoint that is not on disk yet."""
        return self.name is not None and not self.exists

    def describe(self) -> str:
        """A Markdown line for the UI."""
        if self.exists:
            return f'Checkpoint **{self.name or "file"}**: `{self.path}`'
        if self.path is None:
            return ('This config has no released checkpoint: it runs with '
                    'random weights (for tests and smoke runs).')
        if self.name is None:
            return (f'Checkpoint file `{self.path}` is missing and this '
                    'config names no zoo checkpoint to download: copy the '
                    'file there or use random weights.')
        return (f'Checkpoint **{self.name}** is not downloaded yet '
                f'(expected at `{self.path}`). Press **Download checkpoint** '
                f'below, or run `{self.command}`')


def resolve_checkpoint_dir(checkpoint_dir: Optional[str] = None) -> Path:
    """The checkpoint folder as an absolute path.

    A relative folder is taken from the working directory when it exists
    there, else from the repository root.

    Args:
        checkpoint_dir (str, optional): Folder; None means
            :data:`DEFAULT_CHECKPOINT_DIR`.

    Returns:
        Path: Absolute folder (it may not exist yet).
    """
    folder = Path(checkpoint_dir or DEFAULT_CHECKPOINT_DIR).expanduser()
    if folder.is_absolute():
        return folder
    if folder.is_dir():
        return folder.resolve()
    return repo_root() / folder


def _config_checkpoint(config: str) -> dict:
    """The ``checkpoint`` dict of a config (``name``, ``path``)."""
    wanted = osp.realpath(config)
    for entry in list_configs():
        if osp.realpath(osp.join(repo_root(), entry['config'])) == wanted:
            return dict(name=entry['name'], path=entry['path'])
    cfg = Config.fromfile(config, import_custom_modules=False)
    return dict(cfg.get('checkpoint') or {})


def checkpoint_status(config: str,
                      checkpoint_dir: Optional[str] = None
                      ) -> CheckpointStatus:
    """Find a config's checkpoint in the demo's checkpoint folder.

    Args:
        config (str): Config file path.
        checkpoint_dir (str, optional): The demo's checkpoint folder.

    Returns:
        CheckpointStatus: Name, expected path, whether it exists and the
        download command.
    """
    ckpt = _config_checkpoint(config)
    name, rel = ckpt.get('name'), ckpt.get('path')
    if not rel:
        return CheckpointStatus(config, name, None, False, None)
    folder = resolve_checkpoint_dir(checkpoint_dir)
    path = folder / Path(rel).name
    command = None
    if name:
        command = download_command(name)
        if folder != repo_root() / DEFAULT_CHECKPOINT_DIR:
            command = (f'python tools/download_checkpoint.py {name} '
                       f'--dir {folder}')
    return CheckpointStatus(config, name, str(path), path.is_file(), command)


def download_checkpoint(status: CheckpointStatus,
                        log: Callable[[str], None] = print) -> Path:
    """Download a config's released checkpoint into the demo's folder.

    Uses :func:`mmagic_draggan.utils.download.download_file` (atomic, resumed,
    verified; its tqdm bar is what ``gr.Progress(track_tqdm=True)`` shows).

    Args:
        status (CheckpointStatus): From :func:`checkpoint_status`.
        log (callable): Where retry notices go. Defaults to ``print``.

    Returns:
        Path: The downloaded file.

    Raises:
        ValueError: The config has no released checkpoint.
        DownloadError: The download failed (its message says why).
    """
    from mmagic_draggan.utils.download import download_file
    if status.name is None or status.path is None:
        raise ValueError(f'{status.config} has no released checkpoint to '
                         'download; use random weights')
    return download_file(
        checkpoint_url(status.name), status.path, progress=True, log=log)
