"""Generator weights: every rule about checkpoints in one subpackage.

* :mod:`.reader`: read a checkpoint file safely (``weights_only``, memory-
  mapped) and find the generator's state dict in any MMagic layout;
* :mod:`.loader`: load it strictly into a generator (missing-buffer rules,
  the mean W);
* :mod:`.arch`: a generator's architecture read off its state dict, and the
  configs that fit it;
* :mod:`.resolver`: what a checkpoint argument means (path | zoo name |
  random | the config's own), the one resolver of every front end;
* :mod:`.zoo`: the released checkpoints and the shipped configs;
* :mod:`.download`: fetching a released checkpoint (atomic, resumed,
  verified);
* :mod:`.record_names`: which configs and checkpoints a name inside a
  session or inversion file may stand for;
* :mod:`.official`: reading and converting official ``.pkl`` files.

Layer: above :mod:`mmagic_draggan.utils`, below
:mod:`mmagic_draggan.fileio` and :mod:`mmagic_draggan.models`.
"""
from .loader import compute_mean_w, load_generator_checkpoint
from .reader import CheckpointError, read_checkpoint
from .resolver import RANDOM_WEIGHT_WORDS, WeightsSpec, resolve_weights
from .zoo import DEFAULT_BASE_URL, checkpoint_url, list_configs, list_zoo

__all__ = [
    'CheckpointError', 'read_checkpoint', 'load_generator_checkpoint',
    'compute_mean_w', 'RANDOM_WEIGHT_WORDS', 'WeightsSpec',
    'resolve_weights', 'list_zoo', 'list_configs', 'checkpoint_url',
    'DEFAULT_BASE_URL'
]
