"""Fingerprints of generator weights and of the config that builds them.

An inversion (pivot latent plus tuned-weight delta) only means something on
the generator it was made with; these short hashes let a reader check that.
"""
import hashlib
import json
from typing import Any, Mapping, Union

import torch
from torch import Tensor, nn

__all__ = ['FINGERPRINT_CHARS', 'weights_fingerprint', 'config_fingerprint',
           'generator_config']

#: Hex characters kept of a sha256 digest (64 bits).
FINGERPRINT_CHARS = 16


def _tensor_bytes(t: Tensor):
    """The raw bytes of a tensor as a buffer (contiguous, CPU; any dtype)."""
    flat = t.detach().to('cpu').contiguous().reshape(-1)
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)
    return flat.view(torch.uint8).numpy()


def weights_fingerprint(
        module: Union[nn.Module, Mapping[str, Tensor]]) -> str:
    """Hash of every tensor of a module's ``state_dict``.

    The sha256 runs over the sorted key names and, for each key, the shape,
    the dtype and the raw bytes of the tensor (so buffers such as the
    constant noise maps and ``w_avg`` count too). A 512 px generator
    (about 30M parameters) hashes in a fraction of a second.

    Args:
        module (nn.Module | Mapping[str, Tensor]): A module or a state dict.

    Returns:
        str: The first :data:`FINGERPRINT_CHARS` hex digits of the digest.
    """
    sd = module.state_dict() if isinstance(module, nn.Module) else module
    h = hashlib.sha256()
    for key in sorted(sd):
        value = sd[key]
        h.update(key.encode('utf-8') + b'\0')
        if not isinstance(value, Tensor):
            h.update(repr(value).encode('utf-8') + b'\0')
            continue
        h.update(f'{tuple(value.shape)}|{value.dtype}'.encode('ascii'))
        h.update(_tensor_bytes(value))
    return h.hexdigest()[:FINGERPRINT_CHARS]


def _plain(obj: Any) -> Any:
    """ConfigDicts, tuples and classes as JSON-able values."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, type):
        return obj.__name__
    return repr(obj)


def generator_config(model_cfg: Mapping) -> dict:
    """The parts of a ``DragGAN`` model config that decide the generator:
    its ``generator`` dict and ``feat_idx`` (plain types)."""
    model_cfg = _plain(model_cfg)
    return dict(generator=model_cfg.get('generator'),
                feat_idx=model_cfg.get('feat_idx', 5))


def config_fingerprint(model_cfg: Mapping) -> str:
    """Hash of the generator-deciding part of a model config.

    Args:
        model_cfg (Mapping): ``cfg.model`` of a DragGAN config (a dict or
            ``ConfigDict``).

    Returns:
        str: The first :data:`FINGERPRINT_CHARS` hex digits of the sha256 of
        ``json.dumps(generator_config(model_cfg), sort_keys=True)``.
    """
    text = json.dumps(generator_config(model_cfg), sort_keys=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[
        :FINGERPRINT_CHARS]
