"""Which weights a checkpoint argument means: the one resolver every front
end uses (``init_model``, the CLI, the demo, batch runs, the downloader).

A checkpoint argument is one of:

* ``None``: the config's own checkpoint (its top-level
  ``checkpoint = dict(name=..., path=...)``);
* a file path (tried as given, then relative to the repository root);
* a zoo name (case-insensitive, e.g. ``stylegan2-ffhq``), whose file is
  the config's ``path`` base name in the checkpoint folder;
* ``'none'`` or ``'random'`` (:data:`RANDOM_WEIGHT_WORDS`): seeded random
  weights, like ``random_weights=True``.

:func:`resolve_weights` never raises for a missing file: the
:class:`WeightsSpec` says what is missing and how to get it, and
:meth:`WeightsSpec.require` raises with that message where a file is
needed.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

from mmengine.config import Config

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.utils.paths import (checkout_root, find_repo_path,
                                        repo_root)
from .reader import CheckpointError
from .zoo import (checkpoint_url, download_command, find_zoo_entry,
                  list_configs, list_zoo, missing_checkpoint_message)

__all__ = ['RANDOM_WEIGHT_WORDS', 'DEFAULT_CHECKPOINT_DIR', 'WeightsSpec',
           'resolve_weights', 'resolve_checkpoint_dir', 'config_checkpoint',
           'download_weights']

#: Checkpoint words meaning "seeded random weights".
RANDOM_WEIGHT_WORDS = ('none', 'random')
#: Where checkpoints live, relative to the repository root.
DEFAULT_CHECKPOINT_DIR = 'checkpoints'


@dataclass
class WeightsSpec:
    """The weights a model is to be built with.

    Attributes:
        random (bool): Seeded random weights (asked for).
        path (str | None): The checkpoint file (absolute when found).
        name (str | None): Its zoo name, when it is a released checkpoint.
        exists (bool): Whether ``path`` is a file.
        command (str | None): Shell command that downloads it.
        source (str): ``'random'``, ``'path'``, ``'zoo'``, ``'config'`` or
            ``'none'`` (the config names no checkpoint).
    """
    random: bool
    path: Optional[str] = None
    name: Optional[str] = None
    exists: bool = False
    command: Optional[str] = None
    source: str = 'none'

    @property
    def needs_download(self) -> bool:
        """A released checkpoint that is not on disk yet."""
        return not self.random and self.name is not None and not self.exists

    def missing_message(self) -> str:
        """Why there is no file, and the fix (plain text)."""
        if self.path is None:
            return ('this config names no released checkpoint; pass a '
                    'checkpoint (--checkpoint PATH or a zoo name) or use '
                    'random weights (--random-weights / CHECKPOINT none)')
        return missing_checkpoint_message(self.path, self.name,
                                          self.command)

    def require(self) -> Optional[str]:
        """The file to load, or None for random weights.

        Raises:
            CheckpointError: No file (the message gives the download command
                or says to pass a checkpoint).
        """
        if self.random:
            return None
        if not self.exists:
            raise CheckpointError(self.missing_message())
        return self.path

    def describe(self) -> str:
        """A Markdown line for a UI."""
        if self.random:
            return 'Running with **random weights** (no checkpoint).'
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
    """The checkpoint folder as an absolute path: a relative folder is taken
    from the working directory when it exists there, else from the
    checkout's root (an installed package: the working directory); None is
    :data:`DEFAULT_CHECKPOINT_DIR`."""
    folder = Path(checkpoint_dir or DEFAULT_CHECKPOINT_DIR).expanduser()
    if folder.is_absolute():
        return folder
    if folder.is_dir():
        return folder.resolve()
    return (checkout_root() or Path.cwd()) / folder


def _locate(path: str) -> Optional[Path]:
    """The file by the one path rule (:func:`~.paths.find_repo_path`: as
    given, else under the repository root), if it is one."""
    found = Path(find_repo_path(str(Path(path).expanduser())))
    return found.resolve() if found.is_file() else None


def _as_config(cfg: Union[str, Path, Mapping, Config, None]) -> Mapping:
    if cfg is None:
        return {}
    if isinstance(cfg, (str, Path)):
        wanted = Path(cfg).resolve()
        for entry in list_configs():  # cached reads of the shipped configs
            if (repo_root() / entry['config']).resolve() == wanted:
                return dict(
                    checkpoint=dict(name=entry['name'], path=entry['path']),
                    model=dict(generator=dict(out_size=entry['out_size'])))
        return Config.fromfile(str(cfg), import_custom_modules=False)
    return cfg


def config_checkpoint(cfg: Union[str, Mapping, Config]) -> dict:
    """The ``checkpoint`` dict (``name``, ``path``) a config names."""
    return dict(_as_config(cfg).get('checkpoint') or {})


def _spec(path: str, name: Optional[str], source: str,
          checkpoint_dir: Optional[str]) -> WeightsSpec:
    """A released (or config-named) file, looked up in the folder."""
    if checkpoint_dir is not None:
        folder = resolve_checkpoint_dir(checkpoint_dir)
        full = folder / Path(path).name
        found = full if full.is_file() else None
        shown = str(full)
    else:
        folder = None
        found = _locate(path)
        shown = str(found or path)
    command = None
    if name:
        command = download_command(name)
        if folder is not None and folder != resolve_checkpoint_dir():
            command = (f'python tools/download_checkpoint.py {name} '
                       f'--dir {folder}')
    return WeightsSpec(random=False, path=str(found) if found else shown,
                       name=name, exists=found is not None,
                       command=command, source=source)


def resolve_weights(checkpoint: Optional[str] = None,
                    cfg: Union[str, Mapping, Config, None] = None,
                    random_weights: bool = False,
                    checkpoint_dir: Optional[str] = None) -> WeightsSpec:
    """Decide which weights a checkpoint argument means (see module doc).

    Args:
        checkpoint (str, optional): Path, zoo name, ``none``/``random``, or
            None for the config's checkpoint.
        cfg (str | Mapping | Config, optional): The config (or its path);
            gives the default and the resolution a zoo name must have.
        random_weights (bool): Seeded random weights were asked for.
        checkpoint_dir (str, optional): Folder where zoo files are looked up
            (the demo's ``--checkpoint-dir``); None: the config's path, as
            given or under the repository root.

    Returns:
        WeightsSpec: What to load; check ``exists`` or call ``require()``.

    Raises:
        CheckpointError: Both a checkpoint and random weights, an unknown
            name, or a zoo checkpoint of another resolution than the config.
    """
    if checkpoint is not None and str(checkpoint).strip().lower() in \
            RANDOM_WEIGHT_WORDS:
        return WeightsSpec(random=True, source='random')
    if random_weights:
        if checkpoint:
            raise CheckpointError(
                f'got the checkpoint {checkpoint!r} and random weights: give '
                'one of them (--checkpoint / --random-weights)')
        return WeightsSpec(random=True, source='random')
    conf = _as_config(cfg)
    if not checkpoint:
        own = dict(conf.get('checkpoint') or {})
        if not own.get('path'):
            return WeightsSpec(random=False, name=own.get('name'),
                               source='none')
        return _spec(own['path'], own.get('name'), 'config', checkpoint_dir)
    found = _locate(str(checkpoint))
    if found is not None:
        return WeightsSpec(random=False, path=str(found), exists=True,
                           source='path')
    entry = find_zoo_entry(str(checkpoint))
    if entry is None:
        if any(s in str(checkpoint) for s in ('/', '\\', '.pth', '.pt')):
            raise CheckpointError(
                f'checkpoint file {checkpoint} does not exist.')
        names = ', '.join(e['name'] for e in list_zoo())
        raise CheckpointError(
            f'{checkpoint!r} is neither an existing file nor a zoo checkpoint'
            f' name (names: {names}).')
    out_size = (conf.get('model') or {}).get('generator', {}).get('out_size')
    if out_size and entry['resolution'] and out_size != entry['resolution']:
        res = entry['resolution']
        raise CheckpointError(
            f"{entry['name']} is a {res}x{res} checkpoint but the config "
            f"builds a {out_size}x{out_size} generator; use "
            f"{entry['config']}.")
    return _spec(entry['path'], entry['name'], 'zoo', checkpoint_dir)


def download_weights(spec: WeightsSpec,
                     log: Callable[[str], None] = print) -> Path:
    """Download the released checkpoint a :class:`WeightsSpec` names into
    the place it names (what the demo's *Download checkpoint* does).

    Uses :func:`~mmagic_draggan.checkpoints.download.download_file`
    (atomic, resumed, verified; its tqdm bar is what
    ``gr.Progress(track_tqdm=True)`` shows).

    Args:
        spec (WeightsSpec): From :func:`resolve_weights`.
        log (callable): Where retry notices go. Defaults to ``print``.

    Returns:
        Path: The downloaded file.

    Raises:
        InvalidInputError: Nothing to download (random weights, or no
            released checkpoint).
        DownloadError: The download failed (its message says why).
    """
    from .download import download_file
    if spec.random or spec.name is None or spec.path is None:
        raise InvalidInputError('this model has no released checkpoint to '
                                'download; use random weights')
    return download_file(checkpoint_url(spec.name), spec.path,
                         progress=True, log=log)
