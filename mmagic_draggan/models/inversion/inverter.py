"""The inversion of a photo: stage A (:class:`Projector`), then stage B
(:class:`PivotalTuner`), from one recipe dict.

Example::

    inverter = MODELS.build(dict(type='Inverter', ...))   # or Inverter()
    res = inverter.invert(model.generator, target_uint8, model.feat_idx,
                          callback=print_progress)
    res.latent             # pivot W+ (1, L, C), CPU
    res.synthesis_delta    # tuned - base weights, per state-dict key
    res.generator          # the tuned copy (model.generator is unchanged)
"""
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.registry import MODELS
from mmagic_draggan.structures.numbers import check_int
from mmagic_draggan.utils.image import to_uint8_image
from ..stylegan2_synthesis import synthesize
from .common import (ProgressCallback, StepRecord, apply_synthesis_delta,
                     image_to_tensor, psnr_from_mse)
from .perceptual_loss import LPIPSPerceptualLoss
from .pivotal_tuner import PivotalTuner
from .projector import Projector

__all__ = ['Inverter', 'InversionResult', 'STAGES']

#: Stage names, in running order (``'wplus'`` only with ``wplus_steps``).
STAGES = ('projection', 'wplus', 'tuning')

ComponentType = Union[dict, Any, None]


def _build(cfg: ComponentType):
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg


@dataclass
class InversionResult:
    """What :meth:`Inverter.invert` returns.

    Attributes:
        latent (Tensor): The pivot W+, (1, L, C) float32, CPU.
        synthesis_delta (dict[str, Tensor]): ``tuned - base`` per changed
            generator ``state_dict`` key (float32, CPU); empty without
            tuning.
        generator (nn.Module): The generator that renders the result: the
            tuned copy, or the given generator when nothing was tuned.
        target (np.ndarray): The target, (H, W, 3) uint8 RGB.
        pivot_image (np.ndarray): Stage A's render of the pivot with the
            generator's constant noise, (H, W, 3) uint8.
        reconstruction (np.ndarray): The final render, (H, W, 3) uint8.
        metrics (dict): ``psnr`` (dB) and ``mse`` (images in [0, 1]) of
            the uint8 reconstruction, ``lpips`` (with a perceptual loss),
            ``pivot_psnr``, ``steps`` and ``seconds`` per stage,
            ``tuning_converged``, ``stopped``.
        history (list[dict]): One :class:`StepRecord` dict per step.
        stopped (bool): A stop was requested (callback or
            :meth:`Inverter.request_stop`) before the recipe finished.
    """
    latent: Tensor
    synthesis_delta: Dict[str, Tensor]
    generator: nn.Module
    target: np.ndarray
    pivot_image: np.ndarray
    reconstruction: np.ndarray
    metrics: Dict[str, Any] = field(default_factory=dict)
    history: List[Dict[str, Any]] = field(default_factory=list)
    stopped: bool = False


@MODELS.register_module()
class Inverter:
    """Invert an image into a StyleGAN2 generator (stage A then stage B).

    Stage A (:class:`Projector`) finds a pivot W+; stage B
    (:class:`PivotalTuner`, PTI) tunes a private copy of the synthesis
    weights around it. The generator passed in is never modified.

    Args:
        projector (dict | Projector): Stage A. Defaults to
            ``dict(type='Projector')``.
        tuner (dict | PivotalTuner | None): Stage B; None skips it.
            Defaults to ``dict(type='PivotalTuner')``.
        perceptual (dict | nn.Module | None): The LPIPS distance used by
            both stages (built once, on first use); None: pixel losses only
            (works offline). Defaults to
            ``dict(type='LPIPSPerceptualLoss', net='vgg')``.
        preview_interval (int): A preview image goes to the callback every
            this many steps (and at each stage's last step); 0: never.
            Defaults to 10.
    """

    def __init__(self,
                 projector: ComponentType = dict(type='Projector'),
                 tuner: ComponentType = dict(type='PivotalTuner'),
                 perceptual: ComponentType = dict(
                     type='LPIPSPerceptualLoss', net='vgg'),
                 preview_interval: int = 10) -> None:
        self.projector: Projector = _build(projector)
        self.tuner: Optional[PivotalTuner] = _build(tuner)
        if self.projector is None:
            raise InvalidInputError('an inversion needs a projector (stage A)')
        self._perceptual_cfg = perceptual
        self._perceptual: Optional[nn.Module] = None if isinstance(
            perceptual, dict) else perceptual
        self.preview_interval = check_int(preview_interval,
                                          'preview_interval', 0)
        self._stop = False

    # ------------------------------------------------------------------
    @property
    def uses_perceptual(self) -> bool:
        return self._perceptual_cfg is not None

    @property
    def perceptual(self) -> Optional[nn.Module]:
        """The LPIPS module (built on first access; may raise
        :class:`PerceptualWeightsError`)."""
        if self._perceptual is None and self._perceptual_cfg is not None:
            self._perceptual = _build(dict(self._perceptual_cfg))
        return self._perceptual

    @property
    def total_steps(self) -> int:
        """Most steps of a run (all stages)."""
        return self.projector.total_steps + (
            self.tuner.total_steps if self.tuner is not None else 0)

    def stage_steps(self) -> Dict[str, int]:
        """Most steps per stage that runs."""
        out = {'projection': self.projector.steps}
        if self.projector.wplus_steps:
            out['wplus'] = self.projector.wplus_steps
        if self.tuner is not None and self.tuner.steps:
            out['tuning'] = self.tuner.steps
        return out

    def recipe(self) -> Dict[str, Any]:
        """The resolved recipe, as plain types (for the inversion file)."""
        p = self.perceptual_cfg()
        return dict(
            type='Inverter',
            projector=dict(type='Projector', **vars(self.projector)),
            tuner=None if self.tuner is None else dict(
                type='PivotalTuner', **vars(self.tuner)),
            perceptual=p, preview_interval=self.preview_interval)

    def perceptual_cfg(self) -> Optional[Dict[str, Any]]:
        cfg = self._perceptual_cfg
        if cfg is None:
            return None
        if isinstance(cfg, dict):
            return {k: v for k, v in dict(cfg).items()}
        if isinstance(cfg, LPIPSPerceptualLoss):
            return dict(type='LPIPSPerceptualLoss', net=cfg.net_name,
                        pnet_rand=cfg.pnet_rand, resize=cfg.resize)
        return dict(type=type(cfg).__name__)

    def request_stop(self) -> None:
        """Stop after the current step (thread-safe: a flag)."""
        self._stop = True

    # ------------------------------------------------------------------
    def _step_fn(self, stage_totals: Dict[str, int],
                 callback: Optional[ProgressCallback]):
        def step_fn(rec: StepRecord, img: Tensor) -> bool:
            total = stage_totals[rec.stage]
            preview = None
            if self.preview_interval and (rec.step % self.preview_interval
                                          == 0 or rec.step == total):
                preview = to_uint8_image(img)
            if callback is not None and callback(rec.stage, rec.step, total,
                                                 rec.loss, rec.psnr,
                                                 preview) is False:
                self._stop = True
            return self._stop
        return step_fn

    def invert(self,
               generator: nn.Module,
               target: Union[np.ndarray, Tensor],
               feat_idx: int = 5,
               callback: Optional[ProgressCallback] = None,
               grad_rows: Optional[int] = None) -> InversionResult:
        """Invert one image.

        Args:
            generator (nn.Module): A MMagic ``StyleGANv2Generator`` (left
                unchanged).
            target (np.ndarray | Tensor): The image, (H, W, 3) uint8 RGB or
                (1, 3, H, W) float in [-1, 1], at the generator's side.
            grad_rows (int, optional): Render the pivot and the
                reconstruction by the route a drag session uses
                (:func:`~..stylegan2_synthesis.synthesize`; a session passes
                its ``num_opt_latents``), so that the session's start image
                equals the reconstruction bit for bit.
            feat_idx (int): The model's feature block (synthesis walk).
                Defaults to 5.
            callback (callable, optional): ``callback(stage, step, total,
                loss, psnr, preview) -> Optional[bool]`` after every step
                (``preview``: (H, W, 3) uint8 every ``preview_interval``
                steps, else None); False stops after this step.

        Returns:
            InversionResult: Pivot, delta, images, metrics and history.

        Raises:
            PerceptualWeightsError: LPIPS trunk weights missing offline.
        """
        self._stop = False
        device = next(generator.parameters()).device
        size = int(generator.out_size)
        if isinstance(target, np.ndarray):
            if target.shape != (size, size, 3):
                raise InvalidInputError(
                    f'target must be ({size}, {size}, 3) uint8 '
                    f'for this generator; got {target.shape}')
            target_t = image_to_tensor(target, device)
        else:
            if tuple(target.shape) != (1, 3, size, size):
                raise InvalidInputError(
                    f'target must be (1, 3, {size}, {size}); '
                    f'got {tuple(target.shape)}')
            target_t = target.detach().float().to(device)
        target_u8 = to_uint8_image(target_t)
        target_t = image_to_tensor(target_u8, device)  # what is saved
        perceptual = self.perceptual  # may raise before any heavy work
        if perceptual is not None:
            perceptual = perceptual.to(device)
        totals = {'projection': self.projector.steps,
                  'wplus': self.projector.wplus_steps,
                  'tuning': 0 if self.tuner is None else self.tuner.steps}
        step_fn = self._step_fn(totals, callback)

        proj = self.projector.run(generator, target_t, feat_idx, perceptual,
                                  step_fn)
        pivot = proj.latent
        history = [r.as_dict() for r in proj.history]
        seconds = {'projection': sum(r.seconds for r in proj.history
                                     if r.stage == 'projection'),
                   'statistics': proj.seconds - sum(r.seconds
                                                    for r in proj.history)}
        steps = {'projection': sum(1 for r in proj.history
                                   if r.stage == 'projection')}
        if self.projector.wplus_steps:
            steps['wplus'] = sum(1 for r in proj.history
                                 if r.stage == 'wplus')
            seconds['wplus'] = sum(r.seconds for r in proj.history
                                   if r.stage == 'wplus')
        with torch.no_grad():
            pivot_img = synthesize(generator, pivot, feat_idx,
                                   grad_rows=grad_rows)[1]
        pivot_u8 = to_uint8_image(pivot_img)
        stopped = proj.stopped
        out_gen, delta, recon_u8 = generator, {}, pivot_u8
        converged = None
        if self.tuner is not None and self.tuner.steps and not stopped:
            tun = self.tuner.run(generator, pivot, target_t, feat_idx,
                                 perceptual, step_fn)
            history += [r.as_dict() for r in tun.history]
            steps['tuning'] = tun.steps
            seconds['tuning'] = tun.seconds
            converged = tun.converged
            stopped = tun.stopped
            # base + delta, exactly as a drag session rebuilds the weights
            # (tuned - base + base may differ from tuned in the last bit)
            delta = tun.delta
            out_gen = apply_synthesis_delta(generator, delta)
            with torch.no_grad():
                recon_u8 = to_uint8_image(
                    synthesize(out_gen, pivot, feat_idx,
                               grad_rows=grad_rows)[1])
        metrics = self._metrics(target_u8, recon_u8, pivot_u8, perceptual,
                                device)
        metrics.update(steps=steps, seconds=seconds,
                       tuning_converged=converged, stopped=bool(stopped))
        return InversionResult(
            latent=pivot.detach().float().cpu(), synthesis_delta=delta,
            generator=out_gen, target=target_u8, pivot_image=pivot_u8,
            reconstruction=recon_u8, metrics=metrics, history=history,
            stopped=bool(stopped))

    @staticmethod
    @torch.no_grad()
    def _metrics(target: np.ndarray, recon: np.ndarray, pivot: np.ndarray,
                 perceptual: Optional[nn.Module], device) -> Dict[str, Any]:
        def mse(a, b):
            return float(np.mean((a.astype(np.float64) / 255. -
                                  b.astype(np.float64) / 255.)**2))
        m = mse(recon, target)
        out = dict(psnr=psnr_from_mse(m), mse=m,
                   pivot_psnr=psnr_from_mse(mse(pivot, target)))
        if perceptual is not None:
            t = image_to_tensor(target, device)
            out['lpips'] = float(perceptual(image_to_tensor(recon, device),
                                            t).mean())
            out['pivot_lpips'] = float(perceptual(
                image_to_tensor(pivot, device), t).mean())
        return out
