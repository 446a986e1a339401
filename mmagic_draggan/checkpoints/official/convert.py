"""Convert an official StyleGAN2 (NVIDIA stylegan2-ada-pytorch) generator to
MMagic's ``StyleGANv2Generator`` state dict (docs/checkpoints.md, Key
conversion table).

Renaming and reshaping only, no rescaling and no flips (k = log2(res),
i = k - 3):

======================================  ====================================
NVIDIA key                              MMagic key (change)
======================================  ====================================
``mapping.fc{n}.weight`` / ``.bias``    ``style_mapping.{n+1}.linear.
                                        weight_orig`` / ``.bias``
``mapping.w_avg``                       ``w_avg``
``synthesis.b4.const``                  ``constant_input.input`` (+1 dim)
``synthesis.b4.conv1.*``                ``conv1.*`` (see below)
``synthesis.b4.torgb.*``                ``to_rgb1.*``
``synthesis.b{res}.conv0.*``            ``convs.{2i}.*``
``synthesis.b{res}.conv1.*``            ``convs.{2i+1}.*``
``synthesis.b{res}.torgb.*``            ``to_rgbs.{i}.*``
``*.resample_filter``                   skipped (MMagic builds the same
                                        blur kernels)
======================================  ====================================

Per layer: ``weight`` -> ``conv.weight_orig`` (unsqueeze 0); ``affine.weight``
/ ``affine.bias`` -> ``conv.style_modulation.linear.weight_orig`` / ``.bias``;
conv layers: ``noise_strength`` -> ``noise_injector.weight`` (shape [1]),
``bias`` -> ``activate.bias``, ``noise_const`` -> ``injected_noise_{j}``
(shape [1, 1, r, r]; j = 0 for b4, 2k-5 / 2k-4 for conv0 / conv1); to-RGB
layers: ``bias`` -> ``bias`` (shape [1, C, 1, 1]).

What MMagic's generator cannot express is refused: conditional generators
(``c_dim > 0``), StyleGAN3, resolutions that are not powers of two, channel
layouts outside MMagic's table (512 up to 32 px, then
``16384 // res * channel_multiplier``), mapping layers wider or narrower
than W, a mapping learning-rate multiplier other than 0.01, the
'orig'/'resnet' synthesis architectures and layers without noise.
"""
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from ..arch import (CHANNEL_BASE, FIXED_CHANNELS, fitting_configs,
                             mmagic_channels)
from .pickle_reader import (OfficialPickleError, PersistentStub,
                              load_official_pickle)

#: MMagic's mapping learning-rate multiplier (``lr_mlp``).
MMAGIC_LR_MLP = 0.01

Reshape = Callable[[Tensor], Tensor]


def _same(t: Tensor) -> Tensor:
    return t


def _unsqueeze0(t: Tensor) -> Tensor:
    return t.unsqueeze(0)


def _to_1(t: Tensor) -> Tensor:
    return t.reshape(1)


def _noise(t: Tensor) -> Tensor:
    return t.reshape(1, 1, *t.shape[-2:])


def _rgb_bias(t: Tensor) -> Tensor:
    return t.reshape(1, -1, 1, 1)


def _layer_rules(nv: str, mm: str, is_rgb: bool) -> List[tuple]:
    rules = [
        (f'{nv}.weight', f'{mm}.conv.weight_orig', _unsqueeze0),
        (f'{nv}.affine.weight', f'{mm}.conv.style_modulation.linear.'
         'weight_orig', _same),
        (f'{nv}.affine.bias', f'{mm}.conv.style_modulation.bias', _same),
    ]
    if is_rgb:
        rules.append((f'{nv}.bias', f'{mm}.bias', _rgb_bias))
    else:
        rules += [(f'{nv}.bias', f'{mm}.activate.bias', _same),
                  (f'{nv}.noise_strength', f'{mm}.noise_injector.weight',
                   _to_1)]
    return rules


def key_table(out_size: int, num_mlps: int) -> List[Tuple[str, str, Reshape]]:
    """The NVIDIA -> MMagic key table for one architecture.

    Args:
        out_size (int): Image side (a power of two, >= 4).
        num_mlps (int): Number of mapping layers.

    Returns:
        list[tuple]: ``(nvidia_key, mmagic_key, reshape)`` rows, where
        ``reshape`` turns the NVIDIA tensor into the MMagic one.
    """
    rows = []
    for n in range(num_mlps):
        rows += [(f'mapping.fc{n}.weight',
                  f'style_mapping.{n + 1}.linear.weight_orig', _same),
                 (f'mapping.fc{n}.bias', f'style_mapping.{n + 1}.bias', _same)]
    rows.append(('mapping.w_avg', 'w_avg', _same))
    rows.append(('synthesis.b4.const', 'constant_input.input', _unsqueeze0))
    rows += _layer_rules('synthesis.b4.conv1', 'conv1', False)
    rows.append(('synthesis.b4.conv1.noise_const', 'injected_noise_0', _noise))
    rows += _layer_rules('synthesis.b4.torgb', 'to_rgb1', True)
    for k in range(3, out_size.bit_length()):
        res, i = 2**k, k - 3
        block = f'synthesis.b{res}'
        rows += _layer_rules(f'{block}.conv0', f'convs.{2 * i}', False)
        rows += _layer_rules(f'{block}.conv1', f'convs.{2 * i + 1}', False)
        rows += _layer_rules(f'{block}.torgb', f'to_rgbs.{i}', True)
        rows += [(f'{block}.conv0.noise_const', f'injected_noise_{2 * k - 5}',
                  _noise),
                 (f'{block}.conv1.noise_const', f'injected_noise_{2 * k - 4}',
                  _noise)]
    return rows


def _refuse(msg: str) -> None:
    raise OfficialPickleError(
        f'this generator cannot be expressed by MMagic\'s '
        f'StyleGANv2Generator: {msg}')


def _get(nv: Mapping[str, Tensor], key: str) -> Tensor:
    if key not in nv:
        raise OfficialPickleError(f'the generator lacks {key}')
    return nv[key]


def _block_resolutions(nv: Mapping[str, Tensor]) -> List[int]:
    found = sorted({
        int(m.group(1))
        for k in nv
        for m in [re.match(r'synthesis\.b(\d+)\.', k)] if m
    })
    if not found:
        _refuse('no synthesis.b{res} blocks found (not a StyleGAN2 '
                'generator?)')
    top = found[-1]
    if top & (top - 1) or top < 4:
        _refuse(f'resolution {top} is not a power of two')
    if found != [2**k for k in range(2, top.bit_length())]:
        _refuse(f'blocks {found} are not 4, 8, ..., {top}')
    return found


def _check_channels(nv: Mapping[str, Tensor], resolutions: List[int]) -> int:
    channels = {
        r: int(_get(nv, f'synthesis.b{r}.conv1.weight').shape[0])
        for r in resolutions
    }
    for res in resolutions:
        if res in FIXED_CHANNELS and channels[res] != FIXED_CHANNELS[res]:
            _refuse(f'the {res}x{res} block has {channels[res]} channels, '
                    f'MMagic has {FIXED_CHANNELS[res]} there (channel_max or '
                    'channel_base differ)')
    big = [r for r in resolutions if r >= 64]
    if not big:
        return 2  # not visible below 64 px; MMagic's default
    mult, rem = divmod(channels[big[0]] * big[0], CHANNEL_BASE)
    if rem or mult < 1:
        _refuse(f'{channels[big[0]]} channels at {big[0]}x{big[0]} is not '
                f'{CHANNEL_BASE} // {big[0]} * channel_multiplier')
    for res in big:
        if channels[res] != mmagic_channels(res, mult):
            _refuse(f'{channels[res]} channels at {res}x{res}, MMagic has '
                    f'{mmagic_channels(res, mult)} with channel_multiplier '
                    f'{mult} (other channel_base)')
    return mult


def _check_stub(g: PersistentStub, nv: Mapping[str, Tensor]) -> None:
    kwargs = g.init_kwargs
    if g.class_name != 'Generator':
        _refuse(f'the network is a {g.class_name}, not a Generator')
    if int(kwargs.get('c_dim') or 0) > 0 or 'mapping.embed.weight' in nv:
        _refuse('it is conditional (c_dim > 0); MMagic-DragGAN needs an '
                'unconditional generator')
    if any(
            k.startswith('synthesis.input.')
            or re.match(r'synthesis\.L\d+_', k) for k in nv):
        _refuse('it is a StyleGAN3 generator')
    if any('.skip.' in k for k in nv):
        _refuse("it uses the 'resnet' synthesis architecture (MMagic: 'skip')")
    synthesis = g.child('synthesis')
    for block in (synthesis.state.get('_modules') or {}).values() \
            if synthesis else []:
        arch = getattr(block, 'state', {}).get('architecture', 'skip')
        if arch != 'skip':
            _refuse(f"it uses the '{arch}' synthesis architecture "
                    "(MMagic: 'skip')")
    mapping = g.child('mapping')
    fc0 = mapping.child('fc0') if mapping else None
    gain = fc0.state.get('bias_gain') if fc0 else None
    if gain is not None and abs(float(gain) - MMAGIC_LR_MLP) > 1e-9:
        _refuse(f'mapping lr_multiplier {float(gain)} (MMagic: '
                f'{MMAGIC_LR_MLP})')


def infer_official_arch(g: PersistentStub,
                        nv: Mapping[str, Tensor]) -> Dict[str, int]:
    """Read and check the architecture of an official generator.

    Args:
        g (PersistentStub): The ``Generator`` stand-in.
        nv (Mapping[str, Tensor]): Its NVIDIA-named state dict.

    Returns:
        dict: MMagic generator kwargs: ``out_size``, ``style_channels``,
        ``num_mlps``, ``channel_multiplier`` and ``noise_size``.

    Raises:
        OfficialPickleError: It is something MMagic cannot express.
    """
    _check_stub(g, nv)
    resolutions = _block_resolutions(nv)
    out_size = resolutions[-1]
    img_res = g.init_kwargs.get('img_resolution')
    if img_res is not None and int(img_res) != out_size:
        _refuse(f'img_resolution {img_res} but blocks up to {out_size}')
    fcs = sorted(
        int(m.group(1)) for k in nv
        for m in [re.match(r'mapping\.fc(\d+)\.weight$', k)] if m)
    if not fcs or fcs != list(range(len(fcs))):
        _refuse(f'mapping layers {fcs} are not fc0..fcN-1')
    w_dim = int(_get(nv, f'mapping.fc{fcs[-1]}.weight').shape[0])
    for n in fcs:
        out_f = nv[f'mapping.fc{n}.weight'].shape[0]
        if out_f != w_dim:
            _refuse(f'mapping.fc{n} has {out_f} outputs, W has {w_dim} '
                    '(layer_features != w_dim)')
    rgb = int(_get(nv, 'synthesis.b4.torgb.weight').shape[0])
    if rgb != 3:
        _refuse(f'{rgb} image channels (DragGAN needs RGB)')
    return dict(
        out_size=out_size,
        style_channels=w_dim,
        num_mlps=len(fcs),
        channel_multiplier=_check_channels(nv, resolutions),
        noise_size=int(nv['mapping.fc0.weight'].shape[1]))


def official_to_mmagic(
        g: PersistentStub) -> Tuple[Dict[str, Tensor], Dict[str, int]]:
    """Rename and reshape an official generator's weights to MMagic's.

    Args:
        g (PersistentStub): The ``Generator`` stand-in (``G`` or ``G_ema``).

    Returns:
        tuple: ``(state_dict, arch)``: MMagic keys (blur kernels excluded;
        ``w_avg`` only if the pickle had it) and :func:`infer_official_arch`.

    Raises:
        OfficialPickleError: Unsupported architecture, or a key the table
            does not cover (nothing is dropped silently).
    """
    nv = g.state_dict()
    arch = infer_official_arch(g, nv)
    out: Dict[str, Tensor] = {}
    used = set()
    for nv_key, mm_key, reshape in key_table(arch['out_size'],
                                             arch['num_mlps']):
        if nv_key not in nv:
            if nv_key == 'mapping.w_avg':
                continue  # the loader computes it
            if nv_key.endswith(('noise_const', 'noise_strength')):
                _refuse(f'{nv_key} is missing (a layer without noise)')
            raise OfficialPickleError(f'the generator lacks {nv_key}')
        out[mm_key] = reshape(nv[nv_key]).clone().contiguous()
        used.add(nv_key)
    left = sorted(
        k for k in set(nv) - used if not k.endswith('resample_filter'))
    if left:
        raise OfficialPickleError(
            'the generator has weights the conversion table does not cover: ' +
            ', '.join(left[:8]) + (' ...' if len(left) > 8 else ''))
    return out, arch


def pick_generator(data: Mapping,
                   which: Optional[str] = None) -> Tuple[PersistentStub, str]:
    """Choose the generator in an official pickle (``G_ema`` preferred).

    Args:
        data (Mapping): What :func:`load_official_pickle` returned.
        which (str, optional): ``'G_ema'`` or ``'G'``; None takes ``G_ema``
            when present, else ``G``.

    Returns:
        tuple: ``(generator_stub, key)``.

    Raises:
        OfficialPickleError: The requested (or any) generator is absent.
    """
    keys = [which] if which else ['G_ema', 'G']
    for key in keys:
        g = data.get(key)
        if isinstance(g, PersistentStub):
            return g, key
    have = ', '.join(map(str, data)) or 'nothing'
    raise OfficialPickleError(
        f"the pickle has no {' or '.join(keys)} network (it holds: {have})")


__all__ = [
    'key_table', 'official_to_mmagic', 'infer_official_arch', 'pick_generator',
    'convert_official_pickle', 'MMAGIC_LR_MLP'
]


def build_mmagic_generator(arch: Mapping[str, int]) -> torch.nn.Module:
    """Build the MMagic generator that ``arch`` describes (random weights).

    Args:
        arch (Mapping): :func:`infer_official_arch` output.

    Returns:
        nn.Module: A ``StyleGANv2Generator`` with a ``w_avg`` buffer.
    """
    from mmagic.registry import MODELS
    cfg = dict(
        type='StyleGANv2Generator',
        out_size=arch['out_size'],
        style_channels=arch['style_channels'],
        num_mlps=arch['num_mlps'],
        channel_multiplier=arch['channel_multiplier'],
        update_mean_latent_with_ema=True)
    if arch['noise_size'] != arch['style_channels']:
        cfg['noise_size'] = arch['noise_size']
    return MODELS.build(cfg)


def convert_official_pickle(src: str,
                            dst: str,
                            which: Optional[str] = None) -> dict:
    """Convert an official ``.pkl`` into a MMagic checkpoint file.

    The output is ``{'state_dict': {'generator_ema.<key>': tensor, ...},
    'meta': {...}}`` (prefix ``generator.`` when ``G`` was converted), which
    :func:`~mmagic_draggan.checkpoints.loader.load_generator_checkpoint` and
    MMagic's own ``_load_checkpoint_with_prefix`` read. It holds every key of
    the MMagic generator: the blur kernels come from a freshly built MMagic
    generator, the rest from the pickle. ``meta`` holds only plain types
    (the file loads with ``weights_only=True``).

    Args:
        src (str): The official pickle. Nothing stored in it is executed.
        dst (str): Output ``.pth`` path (written atomically).
        which (str, optional): ``'G_ema'`` or ``'G'``; None prefers
            ``G_ema``.

    Returns:
        dict: ``which``, ``arch`` (generator kwargs), ``configs`` (our
        configs that fit), ``w_avg`` (whether the pickle had one), ``dst``.

    Raises:
        OfficialPickleError: Unsafe, unsupported or malformed pickle.
    """
    data = load_official_pickle(src)
    stub, key = pick_generator(data, which)
    weights, arch = official_to_mmagic(stub)
    reference = build_mmagic_generator(arch).state_dict()
    for name, value in weights.items():
        if name not in reference or reference[name].shape != value.shape:
            want = tuple(reference[name].shape) if name in reference else None
            raise OfficialPickleError(
                f'{name}: converted shape {tuple(value.shape)} does not fit '
                f'the MMagic generator ({want})')
    rest = set(reference) - set(weights) - {'w_avg'}
    if any(not k.endswith('.kernel') for k in rest):
        raise OfficialPickleError(
            'the conversion left MMagic keys unset: ' +
            ', '.join(sorted(k for k in rest if not k.endswith('.kernel'))))
    full = {k: reference[k].clone() for k in sorted(rest)}
    full.update(weights)
    prefix = 'generator_ema.' if key == 'G_ema' else 'generator.'
    configs = fitting_configs(arch)
    meta = dict(
        converted_from=Path(src).name,
        network=key,
        generator=dict(arch),
        configs=configs,
        converter='mmagic_draggan.checkpoints.official.convert')
    ckpt = dict(state_dict={prefix + k: v for k, v in full.items()}, meta=meta)
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix='.part')
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dict(
        which=key,
        arch=arch,
        configs=configs,
        w_avg='w_avg' in weights,
        dst=str(out))
