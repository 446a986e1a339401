"""Read a MMagic ``StyleGANv2Generator`` architecture off its state dict.

Used to explain why a checkpoint does not fit a model ("this checkpoint is a
256x256 generator ...") and to point at the configs that would fit.
"""
import re
from typing import Dict, List, Mapping, Optional

from torch import Tensor

from .zoo import configs_for

#: MMagic's channel table: channels of the block at each resolution.
FIXED_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512}
#: Above 32 px: channels = BASE // res * channel_multiplier.
CHANNEL_BASE = 16384


def mmagic_channels(res: int, channel_multiplier: int) -> int:
    """Channels of MMagic's generator block at ``res``.

    Args:
        res (int): Block resolution (4 .. 1024).
        channel_multiplier (int): The generator's ``channel_multiplier``.

    Returns:
        int: The number of feature channels.
    """
    return FIXED_CHANNELS.get(res, CHANNEL_BASE // res * channel_multiplier)


def _indices(keys, pattern: str) -> List[int]:
    regex = re.compile(pattern)
    found = (regex.match(k) for k in keys)
    return sorted({int(m.group(1)) for m in found if m})


def infer_arch(state_dict: Mapping[str, Tensor]) -> Dict[str, Optional[int]]:
    """Infer the generator settings that produced a MMagic state dict.

    Args:
        state_dict (Mapping[str, Tensor]): Bare generator keys
            (``style_mapping.1.linear.weight_orig``, ``to_rgbs.0.bias``, ...).

    Returns:
        dict: ``out_size``, ``style_channels``, ``noise_size``, ``num_mlps``
        and ``channel_multiplier``; a value is None where the keys do not
        tell (``channel_multiplier`` below 64 px, for instance).
    """
    keys = list(state_dict)
    arch: Dict[str, Optional[int]] = dict(
        out_size=None,
        style_channels=None,
        noise_size=None,
        num_mlps=None,
        channel_multiplier=None)
    rgbs = _indices(keys, r'to_rgbs\.(\d+)\.')
    noises = _indices(keys, r'injected_noise_(\d+)$')
    if rgbs:
        arch['out_size'] = 2**(max(rgbs) + 3)
    elif noises:
        side = state_dict[f'injected_noise_{max(noises)}'].shape[-1]
        arch['out_size'] = int(side)
    elif 'to_rgb1.bias' in state_dict:
        arch['out_size'] = 4
    mlps = _indices(keys, r'style_mapping\.(\d+)\.linear\.weight_orig$')
    if mlps:
        arch['num_mlps'] = len(mlps)
        first = state_dict[f'style_mapping.{mlps[0]}.linear.weight_orig']
        arch['noise_size'] = int(first.shape[1])
        arch['style_channels'] = int(first.shape[0])
    mod = state_dict.get('conv1.conv.style_modulation.linear.weight_orig')
    if mod is not None:
        arch['style_channels'] = int(mod.shape[1])
    for idx in _indices(keys, r'convs\.(\d+)\.conv\.weight_orig$'):
        res = 2**(idx // 2 + 3)
        if res >= 64:
            out_ch = state_dict[f'convs.{idx}.conv.weight_orig'].shape[1]
            arch['channel_multiplier'] = max(1,
                                             int(out_ch) * res // CHANNEL_BASE)
            break
    return arch


def describe_arch(arch: Mapping[str, Optional[int]]) -> str:
    """Describe an architecture in words.

    Args:
        arch (Mapping): As returned by :func:`infer_arch`.

    Returns:
        str: e.g. ``'a 256x256 generator (style_channels 512, 8 mapping
        layers, channel_multiplier 2)'``.
    """
    size = arch.get('out_size')
    head = f'a {size}x{size} generator' if size else 'a generator'
    parts = []
    if arch.get('style_channels') is not None:
        parts.append(f"style_channels {arch['style_channels']}")
    if arch.get('num_mlps') is not None:
        parts.append(f"{arch['num_mlps']} mapping layers")
    if arch.get('channel_multiplier') is not None:
        parts.append(f"channel_multiplier {arch['channel_multiplier']}")
    return head + (f" ({', '.join(parts)})" if parts else '')


def fitting_configs(arch: Mapping[str, Optional[int]]) -> List[str]:
    """List our configs whose generator matches ``arch``.

    Args:
        arch (Mapping): As returned by :func:`infer_arch`.

    Returns:
        list[str]: Config paths (relative to the repo root); empty when the
        size is unknown or no config fits.
    """
    if not arch.get('out_size'):
        return []
    if arch.get('noise_size') not in (None, arch.get('style_channels')):
        return []  # our configs all have noise_size == style_channels
    return configs_for(
        arch['out_size'],
        style_channels=arch.get('style_channels'),
        num_mlps=arch.get('num_mlps'),
        channel_multiplier=arch.get('channel_multiplier'))


def suggest_configs(arch: Mapping[str, Optional[int]]) -> str:
    """A sentence naming the configs that fit ``arch`` (or saying none do).

    Args:
        arch (Mapping): As returned by :func:`infer_arch`.

    Returns:
        str: e.g. ``'use configs/draggan/a.py or configs/draggan/b.py'``.
    """
    fits = fitting_configs(arch)
    if fits:
        return 'use ' + ' or '.join(fits)
    size = arch.get('out_size')
    if size and configs_for(size):
        return ('no config has exactly this architecture; the '
                f'{size}x{size} configs are ' + ', '.join(configs_for(size)) +
                ' (copy one and set model.generator accordingly)')
    return ('none of configs/draggan/*.py fits; write a config whose '
            'model.generator matches it')
