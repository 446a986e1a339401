"""Stage A of an inversion: find the pivot latent of a photo.

The StyleGAN2 projector recipe ("Analyzing and Improving the Image Quality
of StyleGAN", Karras et al., CVPR 2020, arXiv 1912.04958, Sec. 5), written
from its published description (docs/inversion.md, Stage A):

* one ``w`` (W space, repeated into every W+ row) starts at ``w_avg``;
* Adam (0.9, 0.999), learning rate ``lr * ramp(t)`` with a cosine ramp-down
  over the last ``rampdown`` of the steps and a linear ramp-up over the first
  ``rampup`` (:func:`lr_ramp`);
* Gaussian noise of std ``w_std * latent_noise * max(0, 1 - t / noise_ramp)^2``
  added to ``w`` each step;
* the generator's noise maps are optimised too, under a regulariser (squared
  lag-1 autocorrelation in x and y over a 2x average-pooled pyramid down to
  8x8, weight ``noise_reg_weight``) and renormalised to mean 0, RMS 1 after
  every step; at the end they are thrown away: the pivot is for the
  generator's own constant noise, as DragGAN renders it.

An optional W+ refinement (``wplus_steps``) then optimises every row on its
own; it reconstructs better but edits worse, so it is off by default.
"""
import math
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.registry import MODELS
from mmagic_draggan.structures.numbers import check_int, check_number
from mmagic_draggan.checkpoints.loader import compute_mean_w
from ..stylegan2_synthesis import synthesize
from .common import StepRecord, psnr_from_mse, with_noise_maps

__all__ = ['Projector', 'ProjectionResult', 'lr_ramp', 'noise_regularizer',
           'latent_stats']

#: ``step_fn(record, image) -> bool``: called after each step with the
#: step's render (1, 3, H, W); returns True to stop.
StepFn = Callable[[StepRecord, Tensor], bool]


def lr_ramp(t: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """Learning-rate factor at progress ``t = step / steps`` in [0, 1).

    ``r = min(1, (1 - t) / rampdown)``, ``r = 0.5 - 0.5 cos(pi r)``, then
    ``r *= min(1, t / rampup)``.
    """
    r = min(1., (1. - t) / rampdown) if rampdown > 0 else 1.
    r = 0.5 - 0.5 * math.cos(math.pi * r)
    if rampup > 0:
        r *= min(1., t / rampup)
    return r


def noise_regularizer(noises: Sequence[Tensor], min_size: int = 8) -> Tensor:
    """Squared lag-1 autocorrelation of noise maps, over a pyramid.

    For each map (1, 1, h, w): add ``mean(n * roll_x(n))^2 +
    mean(n * roll_y(n))^2`` (circular shift by one pixel), then
    average-pool by 2 and repeat while the map is larger than
    ``min_size`` (the ``min_size`` level is included; a map already at or
    below it counts once).

    Returns:
        Tensor: A scalar.
    """
    total = noises[0].new_zeros(())
    for n in noises:
        while True:
            total = total + (n * n.roll(1, dims=3)).mean().square() + \
                (n * n.roll(1, dims=2)).mean().square()
            if n.shape[-1] <= min_size or n.shape[-2] <= min_size:
                break
            n = F.avg_pool2d(n, kernel_size=2)
    return total


@torch.no_grad()
def _renormalise(noises: Sequence[Tensor]) -> None:
    for n in noises:
        n.sub_(n.mean())
        n.mul_(n.square().mean().rsqrt())


@torch.no_grad()
def latent_stats(generator: nn.Module,
                 num_samples: int = 10000,
                 seed: int = 0,
                 batch_size: int = 2000) -> Tuple[Tensor, float]:
    """``w_avg`` and the scalar spread ``w_std`` of the mapping network.

    ``w_avg`` is the generator's ``w_avg`` buffer when it has a non-zero one
    (a trained checkpoint's), else the mean of the mapped samples.
    ``w_std = sqrt(mean_samples ||w - w_avg||^2)`` over ``num_samples``
    mapped ``z`` from a private seeded RNG (the global RNG is untouched).

    Returns:
        tuple[Tensor, float]: ``w_avg`` (C,) float32 on the generator's
        device, and ``w_std``.
    """
    device = next(generator.parameters()).device
    buf = getattr(generator, 'w_avg', None)
    if buf is not None and bool(buf.abs().sum() > 0):
        w_avg = buf.detach().float().reshape(-1).to(device)
    else:
        w_avg = compute_mean_w(generator, num_samples=num_samples,
                               seed=seed + 1).to(device)
    rng = torch.Generator(device='cpu').manual_seed(seed)
    total, done = 0., 0
    while done < num_samples:
        count = min(batch_size, num_samples - done)
        z = torch.randn(count, generator.noise_size, generator=rng)
        w = generator.style_mapping(z.to(device)).double()
        total += float((w - w_avg.double()).square().sum())
        done += count
    return w_avg, math.sqrt(total / num_samples)


@dataclass
class ProjectionResult:
    """What a :class:`Projector` run returns.

    Attributes:
        latent (Tensor): The pivot W+, (1, L, C), detached, on the
            generator's device.
        w_avg (Tensor): The start ``w``, (C,).
        w_std (float): The latent spread used for the latent noise.
        history (list[StepRecord]): One record per step.
        stopped (bool): A stop was requested before the last step.
        seconds (float): Wall time, statistics included.
    """
    latent: Tensor
    w_avg: Tensor
    w_std: float
    history: List[StepRecord] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.


@MODELS.register_module()
class Projector:
    """Stage A: project a target image to a pivot latent (see the module
    docstring for the recipe).

    Args:
        steps (int): W-space steps. Defaults to 1000.
        lr (float): Peak learning rate. Defaults to 0.1.
        rampdown (float): Fraction of the steps of the cosine ramp-down.
            Defaults to 0.25.
        rampup (float): Fraction of the steps of the linear ramp-up.
            Defaults to 0.05.
        latent_noise (float): Latent noise at t = 0, in units of ``w_std``.
            Defaults to 0.05.
        noise_ramp (float): Progress at which the latent noise reaches 0.
            Defaults to 0.75.
        noise_reg_weight (float): Weight of the noise-map regulariser.
            Defaults to 1e5.
        optimize_noise (bool): Optimise the noise maps (then discard them).
            False keeps the generator's constant noise throughout. Defaults
            to True.
        w_lpips (float): Weight of the LPIPS distance (when a perceptual
            loss is given). Defaults to 1.
        w_mse (float): Weight of the pixel MSE (images in [-1, 1]). Without
            a perceptual loss the image loss is the MSE with this weight, or
            1 when it is 0. Defaults to 0.
        wplus_steps (int): W+ refinement steps after the W steps (0: none).
            Defaults to 0.
        wplus_lr (float, optional): Peak learning rate of the refinement;
            None: ``lr``. Defaults to None.
        num_std_samples (int): Mapped samples for ``w_std`` (and ``w_avg``
            when the generator has none). Defaults to 10000.
        seed (int): Seed of the private RNG (samples, noise maps, latent
            noise). Defaults to 0.
    """

    def __init__(self,
                 steps: int = 1000,
                 lr: float = 0.1,
                 rampdown: float = 0.25,
                 rampup: float = 0.05,
                 latent_noise: float = 0.05,
                 noise_ramp: float = 0.75,
                 noise_reg_weight: float = 1e5,
                 optimize_noise: bool = True,
                 w_lpips: float = 1.,
                 w_mse: float = 0.,
                 wplus_steps: int = 0,
                 wplus_lr: Optional[float] = None,
                 num_std_samples: int = 10000,
                 seed: int = 0) -> None:
        steps = check_int(steps, 'steps', 0)
        wplus_steps = check_int(wplus_steps, 'wplus_steps', 0)
        for name, v in (('lr', lr), ('noise_reg_weight', noise_reg_weight),
                        ('w_lpips', w_lpips), ('w_mse', w_mse),
                        ('latent_noise', latent_noise)):
            check_number(v, name, 0)
        if not 0 < noise_ramp:
            raise InvalidInputError(
                f'noise_ramp must be > 0; got {noise_ramp!r}')
        if not 0 <= rampdown <= 1 or not 0 <= rampup <= 1:
            raise InvalidInputError('rampdown and rampup must be in [0, 1]')
        num_std_samples = check_int(num_std_samples, 'num_std_samples', 1)
        self.steps = int(steps)
        self.lr = float(lr)
        self.rampdown = float(rampdown)
        self.rampup = float(rampup)
        self.latent_noise = float(latent_noise)
        self.noise_ramp = float(noise_ramp)
        self.noise_reg_weight = float(noise_reg_weight)
        self.optimize_noise = bool(optimize_noise)
        self.w_lpips = float(w_lpips)
        self.w_mse = float(w_mse)
        self.wplus_steps = int(wplus_steps)
        self.wplus_lr = None if wplus_lr is None else float(wplus_lr)
        self.num_std_samples = int(num_std_samples)
        self.seed = int(seed)

    @property
    def total_steps(self) -> int:
        return self.steps + self.wplus_steps

    def _image_loss(self, img: Tensor, target: Tensor, perceptual,
                    target_feats) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """(image loss, MSE, LPIPS or None); MSE of [-1, 1] images."""
        mse = (img - target).square().mean()
        if perceptual is None:
            return mse * (self.w_mse or 1.), mse, None
        lp = perceptual.distance(img, target_feats).mean()
        loss = self.w_lpips * lp
        if self.w_mse:
            loss = loss + self.w_mse * mse
        return loss, mse, lp

    def run(self,
            generator: nn.Module,
            target: Tensor,
            feat_idx: int,
            perceptual: Optional[nn.Module] = None,
            step_fn: Optional[StepFn] = None) -> ProjectionResult:
        """Project ``target``.

        The generator is not modified (its noise maps are swapped in a
        shallow view, its weights are frozen here).

        Args:
            generator (nn.Module): A MMagic ``StyleGANv2Generator``.
            target (Tensor): The image, (1, 3, H, W) in [-1, 1], H = W the
                generator's side, on its device.
            feat_idx (int): Feature block of the model (passed to
                :func:`synthesize`; the image is what is used).
            perceptual (LPIPSPerceptualLoss, optional): Perceptual distance;
                None: pixel MSE only.
            step_fn (callable, optional): ``step_fn(record, image) -> bool``
                after each step; True stops.

        Returns:
            ProjectionResult: The pivot (W+, (1, L, C)) and the history.
        """
        size = int(generator.out_size)
        if target.ndim != 4 or tuple(target.shape[1:]) != (3, size, size):
            raise InvalidInputError(
                f'target must be (1, 3, {size}, {size}); got '
                f'{tuple(target.shape)}')
        start = time.perf_counter()
        device = target.device
        w_avg, w_std = latent_stats(generator, self.num_std_samples,
                                    self.seed)
        num_latents = int(generator.num_latents)
        rng = torch.Generator(device='cpu').manual_seed(self.seed + 2)
        if self.optimize_noise:
            noises = [
                torch.randn(getattr(generator, f'injected_noise_{i}').shape,
                            generator=rng).to(device).requires_grad_(True)
                for i in range(generator.num_injected_noises)
            ]
            view = with_noise_maps(generator, noises)
        else:
            noises, view = [], generator
        target_feats = None if perceptual is None else \
            perceptual.target_features(target)
        result = ProjectionResult(latent=w_avg[None, None].repeat(
            1, num_latents, 1), w_avg=w_avg, w_std=w_std)

        stages = [('projection', self.steps, self.lr)]
        if self.wplus_steps:
            stages.append(('wplus', self.wplus_steps,
                           self.lr if self.wplus_lr is None else
                           self.wplus_lr))
        w = w_avg[None].clone()  # (1, C)
        with torch.enable_grad():
            for stage, steps, peak in stages:
                if steps == 0:
                    continue
                if stage == 'wplus':
                    w = result.latent.clone()  # (1, L, C)
                w = w.detach().requires_grad_(True)
                opt = torch.optim.Adam([w] + noises, lr=peak,
                                       betas=(0.9, 0.999))
                for i in range(steps):
                    tic = time.perf_counter()
                    t = i / steps
                    lr = peak * lr_ramp(t, self.rampdown, self.rampup)
                    for group in opt.param_groups:
                        group['lr'] = lr
                    sigma = w_std * self.latent_noise * max(
                        0., 1. - t / self.noise_ramp)**2
                    jitter = torch.randn(w.shape, generator=rng).to(device)
                    wn = w + jitter * sigma
                    ws = wn[:, None].repeat(1, num_latents, 1) \
                        if wn.ndim == 2 else wn
                    img = synthesize(view, ws, feat_idx,
                                     return_image=True)[1]
                    loss, mse, lp = self._image_loss(img, target, perceptual,
                                                     target_feats)
                    if noises and self.noise_reg_weight:
                        loss = loss + self.noise_reg_weight * \
                            noise_regularizer(noises)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if noises:
                        _renormalise(noises)
                    with torch.no_grad():
                        result.latent = (w[:, None].repeat(1, num_latents, 1)
                                         if w.ndim == 2 else w).detach(
                                         ).clone()
                    rec = StepRecord(
                        stage=stage, step=i + 1, loss=loss.item(),
                        psnr=psnr_from_mse(mse.item() / 4.), mse=mse.item(),
                        lpips=None if lp is None else lp.item(), lr=lr,
                        seconds=time.perf_counter() - tic)
                    result.history.append(rec)
                    if step_fn is not None and step_fn(rec, img.detach()):
                        last = stage == stages[-1][0] and i == steps - 1
                        result.stopped = not last
                        break
                if result.stopped:
                    break
        result.seconds = time.perf_counter() - start
        return result
