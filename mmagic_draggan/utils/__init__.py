"""Bottom-layer utilities: the model zoo, the checkpoint resolver, safe
checkpoint loading, official-pickle conversion, downloads and drawing."""
from .checkpoint import (CheckpointError, compute_mean_w,
                         load_generator_checkpoint)
from .weights import RANDOM_WEIGHT_WORDS, WeightsSpec, resolve_weights
from .zoo import DEFAULT_BASE_URL, checkpoint_url, list_configs, list_zoo

__all__ = [
    'CheckpointError', 'load_generator_checkpoint', 'compute_mean_w',
    'RANDOM_WEIGHT_WORDS', 'WeightsSpec', 'resolve_weights', 'list_zoo',
    'list_configs', 'checkpoint_url', 'DEFAULT_BASE_URL'
]
