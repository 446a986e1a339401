"""Invert a photo for DragGAN: one call finds the pivot latent, tunes the
generator around it (PTI) and writes the inversion file.

For notebooks and pipelines; ``tools/invert.py`` is an argparse layer over
this module. It runs on a built model (:func:`~.inference.init_model`).
Example::

    from mmagic_draggan.apis import init_model, invert
    model = init_model('configs/draggan/draggan_stylegan2_lions-512x512.py')
    out = invert(model, 'photos/lion.jpg', out_dir='outputs/invert/lion')
    out.metrics['psnr'], out.paths['inversion']
    out.inversion.latent        # pivot W+ (1, L, C)
    out.inversion.synthesis_delta   # tuned - base weights

The recipe (``preset``) is ``configs/_base_/inversion/<preset>.py``
(:data:`PRESETS`): ``'pti'`` (W pivot, 450 steps, then pivotal tuning, 350
steps) or ``'projector'`` (1000 W steps, no tuning). Without ``preset`` a
model config's own top-level ``inversion = dict(type='Inverter', ...)`` is
used when it has one, else ``'pti'``.

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

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.fileio.bundle import check_bundle_dir, save_png
from mmagic_draggan.fileio.image_input import (RESIZE_MODES,
                                               check_image_file, load_image,
                                               prepare_image)
from mmagic_draggan.fileio.inversion_file import (InversionFile,
                                                  save_inversion)
from mmagic_draggan.utils.fingerprint import (config_fingerprint,
                                              weights_fingerprint)
from mmagic_draggan.structures.numbers import check_int
from mmagic_draggan.utils.paths import (DEFAULT_INVERSION_PRESET,
                                        find_repo_path,
                                        inversion_preset_path,
                                        inversion_presets, portable_path)
from .inference import draggan_of
from .stop_signal import StopOnSigint

__all__ = ['PRESETS', 'PERCEPTUAL_CHOICES', 'INVERSION_FILE_NAMES',
           'InvertOutput', 'invert', 'load_recipe']

#: Shipped recipes (``configs/_base_/inversion/<name>.py``, the default
#: first; :func:`~mmagic_draggan.utils.paths.inversion_presets`).
PRESETS = inversion_presets()
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
            the default preset (``'pti'``).
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
            preset = DEFAULT_INVERSION_PRESET
    if isinstance(preset, dict):
        recipe = _plain(preset)
    elif isinstance(preset, str):
        # a name, else a file: as given, else under the repository
        path = inversion_preset_path(preset) if preset in PRESETS else \
            find_repo_path(preset)
        if not (path.endswith('.py') and osp.isfile(path)):
            raise InvalidInputError(
                f'unknown inversion preset {preset!r}: use one '
                f'of {list(PRESETS)} or a .py file with an '
                '`inversion = dict(type="Inverter", ...)`')
        cfg = Config.fromfile(path)
        if 'inversion' not in cfg:
            raise InvalidInputError(
                f'{path!r} has no top-level `inversion` dict')
        recipe = _plain(cfg['inversion'])
    elif preset is not None:
        raise InvalidInputError(
            f'preset must be a name, a .py file or a dict; got '
            f'{type(preset).__name__}')
    if not isinstance(recipe, dict) or recipe.get('type', 'Inverter') != \
            'Inverter':
        raise InvalidInputError(
            'an inversion recipe must be dict(type="Inverter", '
            f'...); got {recipe!r:.80}')
    recipe.setdefault('type', 'Inverter')
    return recipe


def _apply_overrides(recipe: Dict[str, Any], perceptual: str,
                     steps: Optional[int],
                     pti_steps: Optional[int]) -> Dict[str, Any]:
    recipe = json.loads(json.dumps(recipe))
    recipe.setdefault('projector', dict(type='Projector'))
    if recipe['projector'] is None:
        raise InvalidInputError('the recipe has no projector (stage A)')
    if steps is not None:
        recipe['projector']['steps'] = int(steps)
    if pti_steps is not None:
        if recipe.get('tuner', dict(type='PivotalTuner')) is None:
            if pti_steps > 0:
                raise InvalidInputError(
                    'this preset has no pivotal tuning: drop --pti-steps or '
                    'use --preset pti')
        else:
            recipe.setdefault('tuner', dict(type='PivotalTuner'))
            recipe['tuner']['steps'] = int(pti_steps)
    if perceptual == 'none':
        recipe['perceptual'] = None
    return recipe


# ----------------------------------------------------------------------
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


def invert(model,
           image: Union[str, os.PathLike, np.ndarray],
           *,
           out_dir: Optional[str] = None,
           preset: Union[str, dict, None] = None,
           perceptual: str = 'lpips',
           steps: Optional[int] = None,
           pti_steps: Optional[int] = None,
           resize: str = 'crop',
           callback=None,
           progress: bool = True,
           handle_sigint: bool = True,
           overwrite: bool = False) -> InvertOutput:
    """Invert a photo into a DragGAN model's generator.

    Every argument is checked (and the LPIPS network built) before any
    optimisation runs. The model's own generator is never changed: the
    tuning works on a copy.

    Args:
        model (DragGAN | DragGANInferencer): A built model
            (:func:`~.inference.init_model`); its config's ``inversion``
            recipe is the default, and its config and weights are named in
            the inversion file.
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
    """
    # --- the call's values, checked once
    model = draggan_of(model, 'invert()')
    if resize not in RESIZE_MODES:
        raise InvalidInputError(
            f'resize must be one of {list(RESIZE_MODES)}; got '
            f'{resize!r}')
    if perceptual not in PERCEPTUAL_CHOICES:
        raise InvalidInputError(
            f'perceptual must be one of '
            f'{list(PERCEPTUAL_CHOICES)}; got {perceptual!r}')
    if steps is not None:
        steps = check_int(steps, 'steps', 0)
    if pti_steps is not None:
        pti_steps = check_int(pti_steps, 'pti_steps', 0)
    image_file = None
    if isinstance(image, np.ndarray):
        prepare_image(image, 16, resize)  # dtype / shape check, cheap
    elif isinstance(image, (str, os.PathLike)):
        image_file = str(image)
        check_image_file(image_file)
    else:
        raise InvalidInputError(
            f'image must be a file path or a uint8 array; got '
            f'{type(image).__name__}')
    if out_dir is not None:
        out_dir = str(out_dir)
    check_bundle_dir(out_dir, overwrite,
                     marker=INVERSION_FILE_NAMES['inversion'],
                     what='an inversion.pth', flags='--out-dir')
    model_cfg = getattr(model, 'cfg', None)
    recipe = _apply_overrides(load_recipe(preset, model_cfg), perceptual,
                              steps, pti_steps)
    import mmagic_draggan.models.inversion  # noqa: F401 (registers)
    from mmagic_draggan.registry import MODELS
    inverter = MODELS.build(recipe)
    inverter.perceptual  # builds LPIPS now: fails fast when offline

    # --- the target
    config_file = getattr(model_cfg, 'filename', None)
    size = model.image_size
    if image_file is not None:
        target, preprocess = load_image(image_file, size, resize)
        # the photo's file name only: a folder path tells nothing the
        # file needs and may be a server's upload folder
        preprocess['source'] = osp.basename(str(image_file))
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
             DEFAULT_INVERSION_PRESET if preset is None else 'custom'),
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
