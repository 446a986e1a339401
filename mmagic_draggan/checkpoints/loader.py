"""Load MMagic StyleGAN2 checkpoints into a generator, strictly and safely.

:func:`load_generator_checkpoint` reads any MMagic layout (see
:mod:`mmagic_draggan.checkpoints.reader`), prefers the EMA generator and
requires every weight to match the model exactly. Two buffers get special
treatment because older files may lack them:

* ``injected_noise_*`` (the constant noise maps): when missing, the
  generator's own (seeded) buffers are kept; images then differ from the
  original ones, so a warning is issued and the info says so.
* ``w_avg`` (the mean W, the truncation centre): when missing, it is computed
  as the mean of ``style_mapping(z)`` over :data:`W_AVG_SAMPLES` z drawn from a
  private ``torch.Generator`` seeded with :data:`W_AVG_SEED` (never the global
  RNG), so the result is reproducible.

Blur-kernel buffers (``*.kernel``, constants that MMagic derives from
``blur_kernel``) missing from a file are taken from the generator; any other
missing, unexpected or mis-shaped key is an error.

Which file a checkpoint argument means is decided by
:func:`mmagic_draggan.checkpoints.resolver.resolve_weights`.
"""
import warnings
from typing import Dict, Mapping, Optional

import torch
from torch import Tensor, nn

from .reader import CheckpointError, find_generator_state, \
    read_checkpoint
from .arch import describe_arch, infer_arch, suggest_configs

__all__ = [
    'CheckpointError', 'load_generator_checkpoint', 'load_generator_state',
    'compute_mean_w', 'W_AVG_SAMPLES', 'W_AVG_SEED'
]

#: Number of z samples averaged when a checkpoint has no ``w_avg``.
W_AVG_SAMPLES = 10000
#: Seed of the private generator that draws those samples.
W_AVG_SEED = 0


@torch.no_grad()
def compute_mean_w(generator: nn.Module,
                   num_samples: int = W_AVG_SAMPLES,
                   seed: int = W_AVG_SEED,
                   batch_size: int = 2000) -> Tensor:
    """Mean of the mapping network's output over seeded random z.

    The global RNG is neither used nor changed.

    Args:
        generator (nn.Module): A MMagic ``StyleGANv2Generator`` (uses its
            ``style_mapping`` and ``noise_size``).
        num_samples (int): Number of z vectors. Defaults to 10000.
        seed (int): Seed of the private ``torch.Generator``. Defaults to 0.
        batch_size (int): z vectors mapped at once. Defaults to 2000.

    Returns:
        Tensor: The mean W, shape ``(style_channels,)``, float32, on the
        generator's device.
    """
    rng = torch.Generator(device='cpu').manual_seed(seed)
    device = next(generator.parameters()).device
    total = None
    done = 0
    while done < num_samples:
        count = min(batch_size, num_samples - done)
        z = torch.randn(count, generator.noise_size, generator=rng)
        w = generator.style_mapping(z.to(device)).double().sum(dim=0)
        total = w if total is None else total + w
        done += count
    return (total / num_samples).float()


def _fit_error(sd: Mapping[str, Tensor], expected: Mapping[str, Tensor],
               path: str, config_hint: Optional[str], problems: str) -> str:
    ckpt_arch = infer_arch(sd)
    model_arch = infer_arch(expected)
    model = f'the model ({config_hint})' if config_hint else 'the model'
    if ckpt_arch != model_arch:
        return (f'{path} does not fit {model}: this checkpoint is '
                f'{describe_arch(ckpt_arch)}, the model is '
                f'{describe_arch(model_arch)}; {suggest_configs(ckpt_arch)}.'
                f'\nDetails: {problems}')
    return f'{path} does not fit {model}: {problems}'


def _list(keys, limit: int = 6) -> str:
    keys = sorted(keys)
    more = f' and {len(keys) - limit} more' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def _match(sd: Dict[str, Tensor], expected: Mapping[str, Tensor], path: str,
           config_hint: Optional[str]) -> dict:
    """Check ``sd`` against the model; return what is allowed to be missing."""
    missing = set(expected) - set(sd)
    noise = {k for k in missing if k.startswith('injected_noise_')}
    kernels = {k for k in missing if k.endswith('.kernel')}
    w_avg = 'w_avg' in missing
    missing -= noise | kernels | {'w_avg'}
    unexpected = set(sd) - set(expected)
    shapes = [
        f'{k} {tuple(sd[k].shape)} vs {tuple(expected[k].shape)}'
        for k in sorted(set(sd) & set(expected))
        if sd[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f'missing keys: {_list(missing)}')
    if unexpected:
        hint = (' (the model has no w_avg buffer: build the generator with '
                'update_mean_latent_with_ema=True)'
                if 'w_avg' in unexpected else '')
        problems.append(f'unexpected keys: {_list(unexpected)}{hint}')
    if shapes:
        problems.append(f'shape mismatches (checkpoint vs model): '
                        f'{_list(shapes, 4)}')
    if problems:
        raise CheckpointError(
            _fit_error(sd, expected, path, config_hint, '; '.join(problems)))
    return dict(noise=sorted(noise), kernels=sorted(kernels), w_avg=w_avg)


def load_generator_checkpoint(generator: nn.Module,
                              path: str,
                              config_hint: Optional[str] = None) -> dict:
    """Load a MMagic checkpoint file into a ``StyleGANv2Generator``, strictly.

    Reads the file safely (:func:`read_checkpoint`), then
    :func:`load_generator_state`.

    Args:
        generator (nn.Module): The generator to fill in place.
        path (str): A ``.pth`` file in any MMagic layout (bare generator keys,
            ``generator.``, ``generator_ema.``, ``generator_ema.module.``,
            with or without a ``state_dict`` wrapper, with or without the
            discriminator and other whole-GAN keys).
        config_hint (str, optional): The config the generator came from;
            named in error messages. Defaults to None.

    Returns:
        dict: See :func:`load_generator_state`; ``path`` is the file.

    Raises:
        CheckpointError: The file is missing (the message names the download
            command), unreadable, unsafe, or does not fit the generator (the
            message says what the checkpoint is and which configs fit).
    """
    return load_generator_state(generator, read_checkpoint(path), str(path),
                                config_hint)


def load_generator_state(generator: nn.Module,
                         ckpt: Mapping,
                         source: str,
                         config_hint: Optional[str] = None) -> dict:
    """Load the generator held by a loaded checkpoint (or state dict), in
    place and strictly: the one loading code of every front end
    (:func:`load_generator_checkpoint` for files, ``DragGAN``'s state-dict
    hook for MMEngine's ``load_from`` / ``Runner.load_checkpoint`` /
    ``init_cfg=dict(type='Pretrained')`` and ``model.load_state_dict``).

    Args:
        generator (nn.Module): The generator to fill in place.
        ckpt (Mapping): A checkpoint dict (any layout of
            :func:`~mmagic_draggan.checkpoints.reader.find_generator_state`;
            EMA preferred).
        source (str): What ``ckpt`` came from (a path), for messages.
        config_hint (str, optional): The config the generator came from;
            named in error messages. Defaults to None.

    Returns:
        dict: What was loaded: ``path`` (``source``); ``container``
        (``'state_dict'``, ``'ema_state_dict'`` or None for the top level)
        and ``prefix``; ``ema`` (True when the EMA generator was used);
        ``other_keys`` (tensors ignored, e.g. the discriminator); ``noise``
        (``'checkpoint'`` or ``'generator'`` when the noise buffers were
        missing and the generator's own were kept), ``noise_missing`` (their
        names); ``w_avg`` (``'checkpoint'``, ``'computed'`` or ``None`` when
        the model has none) and, when computed, ``w_avg_samples`` /
        ``w_avg_seed``; ``kernels_filled`` (blur-kernel constants the file
        lacked).

    Raises:
        CheckpointError: No generator in ``ckpt``, or one that does not fit
            (missing, unexpected or mis-shaped keys; the message says what
            the checkpoint is and which configs fit).
    """
    path = source
    sd, layout = find_generator_state(ckpt)
    expected = generator.state_dict()
    allowed = _match(sd, expected, str(path), config_hint)

    merged = dict(expected)
    merged.update(sd)
    generator.load_state_dict(merged, strict=True)

    info = dict(path=str(path), **layout)
    info['noise'] = 'generator' if allowed['noise'] else 'checkpoint'
    info['noise_missing'] = allowed['noise']
    info['kernels_filled'] = allowed['kernels']
    if allowed['noise']:
        warnings.warn(
            f'{path} has no constant noise buffers '
            f'({_list(allowed["noise"], 3)}); the generator keeps its own, so '
            'images will differ from those of the original model.',
            stacklevel=2)
    if 'w_avg' not in expected:
        info['w_avg'] = None
    elif allowed['w_avg']:
        generator.w_avg.copy_(compute_mean_w(generator))
        info.update(
            w_avg='computed',
            w_avg_samples=W_AVG_SAMPLES,
            w_avg_seed=W_AVG_SEED)
        warnings.warn(
            f'{path} has no w_avg; computed it as the mean of the mapping '
            f'network over {W_AVG_SAMPLES} z (seed {W_AVG_SEED}).',
            stacklevel=2)
    else:
        info['w_avg'] = 'checkpoint'
    return info
