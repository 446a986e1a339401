"""Stage B of an inversion: pivotal tuning of the synthesis weights.

"Pivotal Tuning for Latent-based Editing of Real Images", Roich et al.,
ACM TOG 2022 (arXiv 2106.05744), written from its published description
(docs/inversion.md, Stage B): with the mapping network frozen, the pivot
W+ fixed and the generator's constant noise, Adam tunes the synthesis
weights so that the pivot renders the photo; loss
``w_mse * MSE + w_lpips * LPIPS``.

Early stop: with a perceptual loss, when the LPIPS of the current render is
at most ``lpips_stop`` (PTI: 0.06, measured with AlexNet); without one, when
its PSNR (images in [0, 1]) reaches ``psnr_stop`` dB. The test runs on the
render of the current weights before their update, so the final weights are
those of a render that met it.

The tuning works on a private deep copy: the given generator is never
modified.
"""
import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch
from torch import Tensor, nn

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.registry import MODELS
from mmagic_draggan.structures.numbers import check_int, check_number
from ..stylegan2_synthesis import synthesize
from .common import (StepRecord, psnr_from_mse, synthesis_delta,
                     synthesis_keys)

__all__ = ['PivotalTuner', 'TuningResult']

StepFn = Callable[[StepRecord, Tensor], bool]


@dataclass
class TuningResult:
    """What a :class:`PivotalTuner` run returns.

    Attributes:
        generator (nn.Module): The tuned copy (frozen, eval mode).
        delta (dict[str, Tensor]): ``tuned - base`` for each changed
            ``state_dict`` key (float32, CPU).
        history (list[StepRecord]): One record per evaluated step.
        converged (bool): The early-stop test was met.
        stopped (bool): A stop was requested.
        steps (int): Optimiser steps taken.
        seconds (float): Wall time.
    """
    generator: nn.Module
    delta: Dict[str, Tensor] = field(default_factory=dict)
    history: List[StepRecord] = field(default_factory=list)
    converged: bool = False
    stopped: bool = False
    steps: int = 0
    seconds: float = 0.


@MODELS.register_module()
class PivotalTuner:
    """Stage B: tune the synthesis weights around a fixed pivot.

    Args:
        steps (int): Most optimiser steps. Defaults to 350.
        lr (float): Adam learning rate (constant). Defaults to 3e-4.
        w_mse (float): Weight of the pixel MSE (images in [-1, 1]).
            Defaults to 1.
        w_lpips (float): Weight of LPIPS (when a perceptual loss is given).
            Defaults to 1.
        lpips_stop (float | None): Early stop at this LPIPS. Defaults to
            0.06.
        psnr_stop (float | None): Early stop at this PSNR in dB when there
            is no perceptual loss. Defaults to 32.
    """

    def __init__(self,
                 steps: int = 350,
                 lr: float = 3e-4,
                 w_mse: float = 1.,
                 w_lpips: float = 1.,
                 lpips_stop: Optional[float] = 0.06,
                 psnr_stop: Optional[float] = 32.) -> None:
        steps = check_int(steps, 'steps', 0)
        for name, v in (('lr', lr), ('w_mse', w_mse), ('w_lpips', w_lpips)):
            check_number(v, name, 0)
        self.steps = int(steps)
        self.lr = float(lr)
        self.w_mse = float(w_mse)
        self.w_lpips = float(w_lpips)
        self.lpips_stop = None if lpips_stop is None else float(lpips_stop)
        self.psnr_stop = None if psnr_stop is None else float(psnr_stop)

    @property
    def total_steps(self) -> int:
        return self.steps

    def run(self,
            generator: nn.Module,
            pivot: Tensor,
            target: Tensor,
            feat_idx: int,
            perceptual: Optional[nn.Module] = None,
            step_fn: Optional[StepFn] = None) -> TuningResult:
        """Tune a copy of ``generator`` so that ``pivot`` renders ``target``.

        Args:
            generator (nn.Module): The base MMagic ``StyleGANv2Generator``
                (left unchanged).
            pivot (Tensor): The pivot W+, (1, L, C), on its device.
            target (Tensor): The image, (1, 3, H, W) in [-1, 1].
            feat_idx (int): Feature block of the model (for
                :func:`synthesize`).
            perceptual (LPIPSPerceptualLoss, optional): None: MSE only.
            step_fn (callable, optional): ``step_fn(record, image) -> bool``
                after each step; True stops.

        Returns:
            TuningResult: The tuned copy, the weight delta and the history.
        """
        if pivot.ndim != 3 or pivot.shape[1] != generator.num_latents:
            raise InvalidInputError(
                f'pivot must be (1, {generator.num_latents}, C); '
                f'got {tuple(pivot.shape)}')
        start = time.perf_counter()
        tuned = copy.deepcopy(generator).eval().requires_grad_(False)
        names = set(synthesis_keys(tuned))
        params = [p for n, p in tuned.named_parameters() if n in names]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=self.lr, betas=(0.9, 0.999))
        ws = pivot.detach()
        target_feats = None if perceptual is None else \
            perceptual.target_features(target)
        result = TuningResult(generator=tuned)
        with torch.enable_grad():
            for i in range(self.steps):
                tic = time.perf_counter()
                img = synthesize(tuned, ws, feat_idx, return_image=True)[1]
                mse = (img - target).square().mean()
                loss = self.w_mse * mse
                lp = None
                if perceptual is not None:
                    lp = perceptual.distance(img, target_feats).mean()
                    loss = loss + self.w_lpips * lp
                psnr = psnr_from_mse(mse.item() / 4.)
                converged = (lp is not None and self.lpips_stop is not None
                             and lp.item() <= self.lpips_stop) or (
                                 lp is None and self.psnr_stop is not None
                                 and psnr >= self.psnr_stop)
                if converged:
                    result.converged = True
                else:
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    result.steps += 1
                rec = StepRecord(
                    stage='tuning', step=i + 1, loss=loss.item(), psnr=psnr,
                    mse=mse.item(), lpips=None if lp is None else lp.item(),
                    lr=self.lr, seconds=time.perf_counter() - tic)
                result.history.append(rec)
                stop = step_fn is not None and step_fn(rec, img.detach())
                if converged:
                    break
                if stop:
                    result.stopped = i < self.steps - 1
                    break
        tuned.requires_grad_(False)
        for p in params:
            p.grad = None
        result.delta = synthesis_delta(generator, tuned)
        result.seconds = time.perf_counter() - start
        return result
