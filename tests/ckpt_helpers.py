"""Helpers shared by the checkpoint tests: tiny generators with random weights.

Every parameter and buffer (except the blur-kernel constants) is filled from a
seeded private ``torch.Generator``, so two generators built with different
seeds differ in every tensor and "loaded exactly" checks mean something.
"""
import copy
import functools
from typing import Dict

import torch
from torch import Tensor, nn

TINY = dict(
    type='StyleGANv2Generator',
    out_size=64,
    style_channels=64,
    num_mlps=2,
    channel_multiplier=1,
    update_mean_latent_with_ema=True)


@functools.lru_cache(maxsize=None)
def _template(overrides: tuple) -> nn.Module:
    import mmagic_draggan  # noqa: F401  (registers, aliases diffusers)
    from mmagic.registry import MODELS
    return MODELS.build({**TINY, **dict(overrides)}).eval()


@functools.lru_cache(maxsize=None)
def _seeded_state(seed: int, overrides: tuple) -> Dict[str, Tensor]:
    rng = torch.Generator().manual_seed(seed)
    return {
        name:
        t.clone() if name.endswith('.kernel') else torch.randn(
            t.shape, generator=rng)
        for name, t in _template(overrides).state_dict().items()
    }


def make_generator(seed: int = 0, **overrides) -> nn.Module:
    """Build the tiny generator (or a variant) with seeded random tensors.

    MMagic builds the template once per variant; each call returns a fresh
    deep copy filled with the (cached) seeded tensors, so tests stay fast.
    """
    key = tuple(sorted(overrides.items()))
    gen = copy.deepcopy(_template(key))
    gen.load_state_dict(_seeded_state(seed, key))
    return gen


def state(gen: nn.Module) -> Dict[str, Tensor]:
    """A detached copy of a module's state dict."""
    return {k: v.detach().clone() for k, v in gen.state_dict().items()}


def assert_same_state(a: Dict[str, Tensor], b: Dict[str, Tensor],
                      skip=()) -> None:
    """Every tensor of ``a`` equals ``b``'s exactly (keys outside ``skip``)."""
    keys = [k for k in a if k not in skip]
    assert sorted(keys) == sorted(k for k in b if k not in skip)
    for k in keys:
        assert a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k
