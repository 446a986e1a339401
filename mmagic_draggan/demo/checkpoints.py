"""Where the demo looks for a config's checkpoint, and how it gets it.

The demo keeps checkpoints in one folder (``--checkpoint-dir``, default
``checkpoints`` at the repository root, where the configs and
``tools/download_checkpoint.py`` put them). Which file a config (or a
``--checkpoint`` name or path) means is decided by
:func:`~mmagic_draggan.utils.weights.resolve_weights` alone; this module only
asks it with the demo's folder and downloads what is missing.
"""
from pathlib import Path
from typing import Callable, Optional

from mmagic_draggan.utils.weights import WeightsSpec, resolve_weights
from mmagic_draggan.utils.zoo import checkpoint_url

__all__ = ['CheckpointStatus', 'checkpoint_status', 'download_checkpoint']

#: What the demo knows about a config's checkpoint (``name``, ``path``,
#: ``exists``, ``command``, ``needs_download``, ``describe()``).
CheckpointStatus = WeightsSpec


def checkpoint_status(config: str,
                      checkpoint_dir: Optional[str] = None,
                      checkpoint: Optional[str] = None) -> WeightsSpec:
    """Find a config's checkpoint in the demo's checkpoint folder.

    Args:
        config (str): Config file path.
        checkpoint_dir (str, optional): The demo's checkpoint folder; None
            looks where the config says (as given, then under the repository
            root).
        checkpoint (str, optional): A ``--checkpoint`` path, zoo name or
            ``none``/``random`` to use instead of the config's own.

    Returns:
        WeightsSpec: Name, expected path, whether it exists, the download
        command (``path`` is None for a config without a checkpoint, such
        as the tiny test config: random weights only).

    Raises:
        CheckpointError: A ``checkpoint`` that is neither a file nor a zoo
            name, or one that does not fit the config.
    """
    return resolve_weights(checkpoint, config, checkpoint_dir=checkpoint_dir)


def download_checkpoint(status: WeightsSpec,
                        log: Callable[[str], None] = print) -> Path:
    """Download a released checkpoint into the place ``status`` names.

    Uses :func:`mmagic_draggan.utils.download.download_file` (atomic, resumed,
    verified; its tqdm bar is what ``gr.Progress(track_tqdm=True)`` shows).

    Args:
        status (WeightsSpec): From :func:`checkpoint_status`.
        log (callable): Where retry notices go. Defaults to ``print``.

    Returns:
        Path: The downloaded file.

    Raises:
        ValueError: Nothing to download (random weights, or no released
            checkpoint).
        DownloadError: The download failed (its message says why).
    """
    from mmagic_draggan.utils.download import download_file
    if status.random or status.name is None or status.path is None:
        raise ValueError('this model has no released checkpoint to '
                         'download; use random weights')
    return download_file(
        checkpoint_url(status.name), status.path, progress=True, log=log)
