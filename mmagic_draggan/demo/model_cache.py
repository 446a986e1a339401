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

from mmagic_draggan.checkpoints.resolver import WeightsSpec, resolve_weights

__all__ = ['ModelCache', 'ModelKey']

#: (config, checkpoint file or None for random weights, device)
ModelKey = Tuple[str, Optional[str], str]


class ModelCache:
    """Build models on first use and keep the last few.

    Args:
        device (str | torch.device): Device of every model.
        checkpoint_dir (str, optional): Where checkpoints are looked up (see
            :func:`~mmagic_draggan.checkpoints.resolver.resolve_weights`).
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
        #: config (real path) -> checkpoint argument given with --checkpoint
        self._overrides: Dict[str, str] = {}

    def set_checkpoint(self, config: str, checkpoint: str,
                       spec: Optional[WeightsSpec] = None) -> WeightsSpec:
        """Use ``checkpoint`` (a file path, zoo name or ``none``/``random``)
        for ``config`` instead of the config's own (the demo's
        ``--checkpoint``).

        Args:
            config (str): The config file.
            checkpoint (str): The ``--checkpoint`` argument.
            spec (WeightsSpec, optional): What it was resolved to already
                (:func:`~mmagic_draggan.checkpoints.resolver.resolve_weights`
                with this cache's folder); resolved here when None.

        Returns:
            WeightsSpec: What it means (a missing zoo file is offered for
            download by the page).

        Raises:
            CheckpointError: Neither an existing file nor a zoo name, or a
                zoo checkpoint that does not fit the config.
        """
        if spec is None:
            spec = resolve_weights(checkpoint, config,
                                   checkpoint_dir=self.checkpoint_dir)
        # a file is kept as an absolute path: later lookups do not depend on
        # the working directory
        self._overrides[osp.realpath(config)] = \
            spec.path if spec.source == 'path' else checkpoint
        return spec

    def status(self, config: str) -> WeightsSpec:
        """The checkpoint of ``config`` in this cache's folder (or the one
        set with :meth:`set_checkpoint`), looked up now."""
        return resolve_weights(self._overrides.get(osp.realpath(config)),
                               config, checkpoint_dir=self.checkpoint_dir)

    def key(self, config: str, random_weights: bool = False) -> ModelKey:
        """The cache key of a model, after checking its checkpoint exists.
        Configs without a checkpoint (the tiny one) get random weights.

        Raises:
            CheckpointError: The checkpoint is not on disk (the message gives
                the download command).
        """
        spec = self.status(config)
        if random_weights or spec.random or spec.path is None:
            return (config, None, str(self.device))
        return (config, spec.require(), str(self.device))

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
