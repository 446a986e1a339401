"""Checkpoint utilities: the model zoo, safe loading and official-pickle
conversion."""
from .checkpoint import (CheckpointError, compute_mean_w,
                         load_generator_checkpoint, resolve_checkpoint)
from .zoo import DEFAULT_BASE_URL, checkpoint_url, list_configs, list_zoo

__all__ = [
    'CheckpointError', 'load_generator_checkpoint', 'resolve_checkpoint',
    'compute_mean_w', 'list_zoo', 'list_configs', 'checkpoint_url',
    'DEFAULT_BASE_URL'
]
