"""Invert a photo for DragGAN: one call finds the pivot latent, tunes the
generator around it (PTI) and writes the inversion file.

For notebooks and pipelines; ``tools/invert.py`` is an argparse layer over
this module. Example::

    from mmagic_draggan.apis.invert import invert
    out = invert('configs/draggan/draggan_stylegan2_lions-512x512.py',
                 'photos/lion.jpg', out_dir='outputs/invert/lion')
    out.metrics['psnr'], out.paths['inversion']
    out.inversion.latent        # pivot W+ (1, L, C)
    out.inversion.synthesis_delta   # tuned - base weights

The recipe (``preset``) is ``configs/_base_/inversion/<preset>.py``:
``'pti'`` (W pivot, 450 steps, then pivotal tuning, 350 steps) or
``'projector'`` (1000 W steps, no tuning). Without ``preset`` a model
config's own top-level ``inversion = dict(type='Inverter', ...)`` is used
when it has one, else ``'pti'``.

Files written to ``out_dir``: ``inversion.pth`` (see
:mod:`mmagic_draggan.fileio.inversion_file`), ``target.png`` (the cropped,
resized photo), ``pivot.png`` (stage A's latent, base weights),
``reconstruction.png`` (the final render), ``metrics.json`` and
``curves.png`` (loss and PSNR per step).

An inversion is only as good as the photo fits the generator's domain: a
face model expects an FFHQ-aligned face, a lion model a lion filling the
frame; a photo far from that reconstructs with PTI but edits badly.
"""
import json
import math
import os
import os.path as osp
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import numpy as np
from torch import nn

from mmagic_draggan.fileio.bundle import check_bundle_dir, save_png
from mmagic_draggan.fileio.image_input import (RESIZE_MODES,
                                               check_image_file, load_image,
                                               prepare_image)
from mmagic_draggan.fileio.inversion_file import (InversionFile,
                                                  save_inversion)
from mmagic_draggan.utils.fingerprint import (config_fingerprint,
                                              weights_fingerprint)
from mmagic_draggan.utils.paths import portable_path, repo_root
from .stop_signal import StopOnSigint

__all__ = ['PRESETS', 'PERCEPTUAL_CHOICES', 'INVERSION_FILE_NAMES',
           'InvertOutput', 'invert', 'load_recipe', 'preset_path']

#: Shipped recipes (``configs/_base_/inversion/<name>.py``).
PRESETS = ('pti', 'projector')
#: ``perceptual`` values: the recipe's LPIPS, or pixel losses only.
PERCEPTUAL_CHOICES = ('lpips', 'none')
#: What :func:`invert` writes, by kind.
INVERSION_FILE_NAMES = dict(inversion='inversion.pth', target='target.png',
                            pivot='pivot.png',
                            reconstruction='reconstruction.png',
                            metrics='metrics.json', curves='curves.png')


@dataclass
class InvertOutput:
    """What :func:`invert` returns.

    Attributes:
        inversion (InversionFile): What ``inversion.pth`` holds (pivot W+
            (1, L, C), weight delta, fingerprints, recipe, metrics).
        target (np.ndarray): The target, (H, W, 3) uint8 RGB.
        reconstruction (np.ndarray): The final render, (H, W, 3) uint8.
        metrics (dict): What ``metrics.json`` holds.
        paths (dict[str, str]): Written files by kind (see
            :data:`INVERSION_FILE_NAMES`); empty without ``out_dir``.
        history (list[dict]): Per-step records (stage, step, loss, psnr,
            mse, lpips, lr, seconds).
        pivot_image (np.ndarray): Stage A's render with the base weights.
        generator (nn.Module): The generator that renders the result (the
            tuned copy; the model's own generator is unchanged).
        model (nn.Module): The ``DragGAN`` model used.
    """
    inversion: InversionFile
    target: np.ndarray
    reconstruction: np.ndarray
    metrics: Dict[str, Any]
    paths: Dict[str, str] = field(default_factory=dict)
    history: List[Dict[str, Any]] = field(default_factory=list)
    pivot_image: Optional[np.ndarray] = None
    generator: Optional[nn.Module] = None
    model: Optional[nn.Module] = None


# ----------------------------------------------------------------------
# recipes
def preset_path(name: str) -> str:
    """``<repo>/configs/_base_/inversion/<name>.py``."""
    return str(repo_root() / 'configs' / '_base_' / 'inversion' /
               f'{name}.py')


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict) or hasattr(obj, 'items'):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def load_recipe(preset: Union[str, dict, None] = None,
                model_cfg: Optional[Any] = None) -> Dict[str, Any]:
    """The inversion recipe (an ``Inverter`` config dict).

    Args:
        preset (str | dict | None): A shipped preset name
            (:data:`PRESETS`), a ``.py`` config file holding a top-level
            ``inversion`` dict, or the recipe dict itself. None: the
            ``inversion`` dict of ``model_cfg`` when it has one, else
            ``'pti'``.
        model_cfg (Config, optional): The model's whole config.

    Returns:
        dict: The recipe, plain types (``type='Inverter'``).

    Raises:
        ValueError: Unknown preset, or a file without ``inversion``.
    """
    from mmengine.config import Config
    if preset is None:
        if model_cfg is not None and model_cfg.get('inversion'):
            recipe = _plain(model_cfg['inversion'])
        else:
            preset = 'pti'
    if isinstance(preset, dict):
        recipe = _plain(preset)
    elif isinstance(preset, str):
        if preset in PRESETS:
            path = preset_path(preset)
        elif preset.endswith('.py') and osp.isfile(preset):
            path = preset
        else:
            raise ValueError(f'unknown inversion preset {preset!r}: use one '
                             f'of {list(PRESETS)} or a .py file with an '
                             '`inversion = dict(type="Inverter", ...)`')
        cfg = Config.fromfile(path)
        if 'inversion' not in cfg:
            raise ValueError(f'{path!r} has no top-level `inversion` dict')
        recipe = _plain(cfg['inversion'])
    elif preset is not None:
        raise ValueError(f'preset must be a name, a .py file or a dict; got '
                         f'{type(preset).__name__}')
    if not isinstance(recipe, dict) or recipe.get('type', 'Inverter') != \
            'Inverter':
        raise ValueError('an inversion recipe must be dict(type="Inverter", '
                         f'...); got {recipe!r:.80}')
    recipe.setdefault('type', 'Inverter')
    return recipe


def _is_count(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) \
        and v >= 0


def _apply_overrides(recipe: Dict[str, Any], perceptual: str,
                     steps: Optional[int],
                     pti_steps: Optional[int]) -> Dict[str, Any]:
    recipe = json.loads(json.dumps(recipe))
    recipe.setdefault('projector', dict(type='Projector'))
    if recipe['projector'] is None:
        raise ValueError('the recipe has no projector (stage A)')
    if steps is not None:
        recipe['projector']['steps'] = int(steps)
    if pti_steps is not None:
        if recipe.get('tuner', dict(type='PivotalTuner')) is None:
            if pti_steps > 0:
                raise ValueError(
                    'this preset has no pivotal tuning: drop --pti-steps or '
                    'use --preset pti')
        else:
            recipe.setdefault('tuner', dict(type='PivotalTuner'))
            recipe['tuner']['steps'] = int(pti_steps)
    if perceptual == 'none':
        recipe['perceptual'] = None
    return recipe


# ----------------------------------------------------------------------
def _model_cfg_of(model_or_config):
    """The whole config (no model built): a path, Config, dict or model."""
    from .inference import load_config
    if hasattr(model_or_config, 'new_session'):
        return getattr(model_or_config, 'cfg', None)
    if model_or_config is None:
        raise ValueError('no config given: pass a config file, e.g. '
                         'configs/draggan/draggan_stylegan2_lions-512x512.py')
    try:
        return load_config(model_or_config)
    except FileNotFoundError as e:
        raise ValueError(str(e)) from None


def _config_fingerprint(model) -> str:
    cfg = getattr(model, 'cfg', None)
    if cfg is not None and 'model' in cfg:
        return config_fingerprint(cfg['model'])
    g = model.generator
    return config_fingerprint(dict(
        generator=dict(type=type(g).__name__, out_size=int(g.out_size),
                       style_channels=int(g.style_channels),
                       num_latents=int(g.num_latents)),
        feat_idx=int(model.feat_idx)))


def invert(model_or_config,
           image: Union[str, os.PathLike, np.ndarray],
           *,
           out_dir: Optional[str] = None,
           preset: Union[str, dict, None] = None,
           perceptual: str = 'lpips',
           steps: Optional[int] = None,
           pti_steps: Optional[int] = None,
           checkpoint: Optional[str] = None,
           random_weights: bool = False,
           device: Optional[str] = None,
           resize: str = 'crop',
           callback=None,
           progress: bool = True,
           handle_sigint: bool = True,
           overwrite: bool = False) -> InvertOutput:
    """Invert a photo into a DragGAN model's generator.

    Every argument is checked (and the LPIPS network built) before the
    model is built or any optimisation runs.

    Args:
        model_or_config: A built ``DragGAN`` or its config (path, Config,
            dict).
        image (str | np.ndarray): An image file (any Pillow format; see
            :func:`~mmagic_draggan.fileio.image_input.load_image`) or an
            (H, W, 3) / (H, W) uint8 array; squared by ``resize`` and
            resized to the generator's side.
        out_dir (str, optional): Folder for the files (see the module
            docstring); None writes nothing.
        preset (str | dict, optional): ``'pti'``, ``'projector'``, a
            ``.py`` file with an ``inversion`` dict, or a recipe dict. None:
            the model config's ``inversion`` when it has one, else
            ``'pti'``.
        perceptual (str): ``'lpips'`` (the recipe's LPIPS; its trunk
            weights must be on disk or downloadable) or ``'none'`` (pixel
            MSE only; offline). Defaults to 'lpips'.
        steps (int, optional): Stage A steps (overrides the recipe).
        pti_steps (int, optional): Pivotal-tuning steps (0: no tuning).
        checkpoint (str, optional): Checkpoint path or zoo name (None: the
            config's); only when building from a config.
        random_weights (bool): Seeded random weights (tests, smoke runs).
        device (str, optional): ``'cpu'``, ``'cuda'``...; None: CUDA if any.
        resize (str): ``'crop'`` (centre crop) or ``'pad'`` (pad to a
            square). Defaults to 'crop'.
        callback (callable, optional): ``callback(stage, step, total, loss,
            psnr, preview) -> Optional[bool]`` after every step (see
            :class:`~mmagic_draggan.models.inversion.Inverter`); False
            stops after this step (the files are still written).
        progress (bool): A tqdm bar on stderr. Defaults to True.
        handle_sigint (bool): The first Ctrl-C stops after the current step
            (files still written, ``metrics['stopped']``), the second raises
            ``KeyboardInterrupt``. Main thread only. Defaults to True.
        overwrite (bool): Allow an ``out_dir`` that already holds an
            ``inversion.pth``. Defaults to False.

    Returns:
        InvertOutput: The inversion, images, metrics, history and paths.

    Raises:
        ValueError: A bad argument, image or recipe (one line, naming it).
        PerceptualWeightsError: LPIPS trunk weights missing offline (a
            ``FileNotFoundError`` naming the file and folder).
        CheckpointError: No checkpoint where one is needed.
    """
    # --- checks that need no model
    if resize not in RESIZE_MODES:
        raise ValueError(f'resize must be one of {list(RESIZE_MODES)}; got '
                         f'{resize!r}')
    if perceptual not in PERCEPTUAL_CHOICES:
        raise ValueError(f'perceptual must be one of '
                         f'{list(PERCEPTUAL_CHOICES)}; got {perceptual!r}')
    for name, v in (('steps', steps), ('pti_steps', pti_steps)):
        if v is not None and not _is_count(v):
            raise ValueError(f'{name} must be an integer >= 0; got {v!r}')
    image_file = None
    if isinstance(image, np.ndarray):
        prepare_image(image, 16, resize)  # dtype / shape check, cheap
    elif isinstance(image, (str, os.PathLike)):
        image_file = str(image)
        check_image_file(image_file)
    else:
        raise ValueError(f'image must be a file path or a uint8 array; got '
                         f'{type(image).__name__}')
    if out_dir is not None:
        out_dir = str(out_dir)
    check_bundle_dir(out_dir, overwrite,
                     marker=INVERSION_FILE_NAMES['inversion'],
                     what='an inversion.pth', flags='--out-dir')
    model_cfg = _model_cfg_of(model_or_config)
    recipe = _apply_overrides(load_recipe(preset, model_cfg), perceptual,
                              steps, pti_steps)
    import mmagic_draggan.models.inversion  # noqa: F401 (registers)
    from mmagic_draggan.registry import MODELS
    inverter = MODELS.build(recipe)
    inverter.perceptual  # builds LPIPS now: fails fast when offline

    # --- the model and the target
    from .drag import _get_model
    config_file = None
    if not hasattr(model_or_config, 'new_session'):
        if isinstance(model_or_config, (str, os.PathLike)):
            config_file = str(model_or_config)
        model_or_config = model_cfg
    model = _get_model(model_or_config, checkpoint, random_weights, device,
                       None)
    if config_file is None:
        config_file = getattr(getattr(model, 'cfg', None), 'filename', None)
    size = model.image_size
    if image_file is not None:
        target, preprocess = load_image(image_file, size, resize)
        preprocess['source'] = portable_path(image_file)
    else:
        target, preprocess = prepare_image(image, size, resize)
        preprocess['source'] = None

    # --- run
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=inverter.total_steps, desc='invert', unit='step',
                   file=sys.stderr, dynamic_ncols=True)

    def on_step(stage, step, total, loss, psnr, preview):
        if bar is not None:
            bar.set_postfix(dict(stage=stage, step=f'{step}/{total}',
                                 loss=f'{loss:.4g}', psnr=f'{psnr:.2f}dB'),
                            refresh=False)
            bar.update(1)
        if callback is not None and callback(stage, step, total, loss, psnr,
                                             preview) is False:
            return False
        return None

    stopper = StopOnSigint(inverter.request_stop, enabled=handle_sigint)
    start = time.perf_counter()
    with stopper:
        try:
            res = inverter.invert(
                model.generator, target, model.feat_idx, callback=on_step,
                grad_rows=model.default_options.num_opt_latents)
        finally:
            if bar is not None:
                bar.close()
        info = getattr(model, 'checkpoint_info', None) or {}
        metrics = dict(res.metrics)
        metrics.update(
            preset=preset if isinstance(preset, str) else
            ('config' if preset is None and model_cfg is not None
             and model_cfg.get('inversion') else
             'pti' if preset is None else 'custom'),
            perceptual=perceptual,
            total_seconds=time.perf_counter() - start,
            image_size=size)
        inv = InversionFile(
            latent=res.latent, synthesis_delta=res.synthesis_delta,
            base_fingerprint=weights_fingerprint(model.generator),
            config_fingerprint=_config_fingerprint(model),
            config=portable_path(config_file) if config_file else None,
            checkpoint=portable_path(info['path'])
            if info.get('path') else None,
            random_weights=bool(info.get('random_weights', False)),
            image_size=size, recipe=inverter.recipe(), metrics=metrics,
            preprocess=preprocess)
        paths: Dict[str, str] = {}
        if out_dir is not None:
            paths = _write(out_dir, inv, res)
    return InvertOutput(inversion=inv, target=res.target,
                        reconstruction=res.reconstruction, metrics=metrics,
                        paths=paths, history=res.history,
                        pivot_image=res.pivot_image,
                        generator=res.generator, model=model)


def _write(out_dir: str, inv: InversionFile, res) -> Dict[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = {k: osp.join(out_dir, v) for k, v in INVERSION_FILE_NAMES.items()}
    save_png(res.target, paths['target'])
    save_png(res.pivot_image, paths['pivot'])
    save_png(res.reconstruction, paths['reconstruction'])
    plot_inversion_curves(res.history, paths['curves'])
    with open(paths['metrics'], 'w') as f:
        json.dump(inv.metrics, f, indent=2, allow_nan=True)
        f.write('\n')
    save_inversion(paths['inversion'], inv)  # last: marks a complete run
    return paths


def plot_inversion_curves(history: List[Dict[str, Any]], path: str) -> str:
    """Loss (log scale) and PSNR per step, stages one after another."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), dpi=100,
                                   sharex=True)
    colours = dict(projection='tab:blue', wplus='tab:green',
                   tuning='tab:red')
    x = 0
    for stage in ('projection', 'wplus', 'tuning'):
        recs = [r for r in history if r['stage'] == stage]
        if not recs:
            continue
        xs = list(range(x + 1, x + len(recs) + 1))
        losses = [r['loss'] if r['loss'] > 0 and math.isfinite(r['loss'])
                  else float('nan') for r in recs]
        ax1.plot(xs, losses, color=colours[stage], label=stage)
        ax2.plot(xs, [r['psnr'] for r in recs], color=colours[stage])
        if x:
            for ax in (ax1, ax2):
                ax.axvline(x + 0.5, color='grey', lw=0.8, ls='--')
        x += len(recs)
    ax1.set_yscale('log')
    ax1.set_ylabel('loss')
    if history:
        ax1.legend(loc='upper right')
    ax2.set_ylabel('PSNR (dB)')
    ax2.set_xlabel('step (all stages)')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
