"""Models shared by every browser session of the demo.

A model is built once per (config, checkpoint, device) and then only read:
every session keeps its own latent, optimiser and points in a
:class:`~mmagic_draggan.models.DragSession`, and the generator's weights have
``requires_grad=False``, so several sessions may step on one model at once.
"""
import os.path as osp
import threading
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from mmagic_draggan.utils.checkpoint import CheckpointError
from .checkpoints import CheckpointStatus, checkpoint_status

ModelKey = Tuple[str, Optional[str], str]


class ModelCache:
    """Build models on first use and keep the last few.

    Args:
        device (str | torch.device): Device of every model.
        checkpoint_dir (str, optional): Where checkpoints are looked up (see
            :func:`~mmagic_draggan.demo.checkpoints.checkpoint_status`).
        max_models (int): Models kept; the least recently used is dropped
            (sessions that still hold it keep it alive). Defaults to 2.
    """

    def __init__(self,
                 device: torch.device,
                 checkpoint_dir: Optional[str] = None,
                 max_models: int = 2):
        self.device = torch.device(device)
        self.checkpoint_dir = checkpoint_dir
        self.max_models = max(1, int(max_models))
        self._models: 'OrderedDict[ModelKey, object]' = OrderedDict()
        self._lock = threading.Lock()
        #: config (real path) -> checkpoint file given with ``--checkpoint``
        self._overrides: Dict[str, str] = {}

    def set_checkpoint(self, config: str, path: str) -> None:
        """Use ``path`` for ``config`` instead of the file in the checkpoint
        folder (the demo's ``--checkpoint PATH``).

        Raises:
            CheckpointError: ``path`` is not a file.
        """
        if not osp.isfile(path):
            raise CheckpointError(f'checkpoint file {path!r} does not exist')
        self._overrides[osp.realpath(config)] = osp.abspath(path)

    def status(self, config: str) -> CheckpointStatus:
        """The checkpoint status of ``config`` in this cache's folder (or
        the file set with :meth:`set_checkpoint`)."""
        path = self._overrides.get(osp.realpath(config))
        if path is not None:
            return CheckpointStatus(config, osp.basename(path), path,
                                    osp.isfile(path), None)
        return checkpoint_status(config, self.checkpoint_dir)

    def key(self, config: str, random_weights: bool = False) -> ModelKey:
        """The cache key of a model, after checking its checkpoint exists.

        Raises:
            CheckpointError: The checkpoint is not on disk (the message gives
                the download command).
        """
        status = self.status(config)
        if random_weights or (status.path is None and status.name is None):
            return (config, None, str(self.device))
        if not status.exists:
            raise CheckpointError(status.describe().replace('**', ''))
        return (config, status.path, str(self.device))

    def add(self, config: str, model, random_weights: bool = False) -> None:
        """Put an already built model into the cache (e.g. a preloaded
        one); it is then returned by :meth:`get` for the same arguments."""
        key = self.key(config, random_weights)
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)

    def get(self, config: str, random_weights: bool = False):
        """Return the model of ``config``, building it if needed.

        Args:
            config (str): Config file.
            random_weights (bool): Use seeded random weights instead of the
                checkpoint (forced for configs without one).

        Returns:
            DragGAN: The shared model (do not modify it).

        Raises:
            CheckpointError: Missing, unreadable or unfitting checkpoint.
            FileNotFoundError | ValueError: Bad config.
        """
        from mmagic_draggan.apis import init_model
        key = self.key(config, random_weights)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                _, path, _ = key
                model = init_model(
                    config,
                    checkpoint=path,
                    device=str(self.device),
                    random_weights=path is None)
                self._models[key] = model
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
            self._models.move_to_end(key)
            return model
