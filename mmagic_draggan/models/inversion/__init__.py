"""Inverting a photo into a StyleGAN2 generator (docs/inversion.md).

* :class:`Projector`: stage A, the pivot latent (StyleGAN2 projector recipe);
* :class:`PivotalTuner`: stage B, pivotal tuning of a private copy of the
  synthesis weights (PTI);
* :class:`LPIPSPerceptualLoss` (alias :data:`PerceptualLoss`): the LPIPS
  distance both stages use;
* :class:`Inverter`: both stages from one recipe (``configs/_base_/
  inversion/*.py``).

All four are registered in ``MODELS``.
"""
from .common import (MAX_PSNR, StepRecord, apply_synthesis_delta,
                     image_to_tensor, psnr_from_mse, synthesis_delta,
                     synthesis_keys)
from .inverter import STAGES, InversionResult, Inverter
from .perceptual_loss import (TRUNK_FILES, LPIPSPerceptualLoss,
                              PerceptualLoss, PerceptualWeightsError,
                              trunk_weights_path)
from .pivotal_tuner import PivotalTuner, TuningResult
from .projector import (ProjectionResult, Projector, latent_stats, lr_ramp,
                        noise_regularizer)

__all__ = [
    'Projector', 'ProjectionResult', 'PivotalTuner', 'TuningResult',
    'Inverter', 'InversionResult', 'STAGES', 'LPIPSPerceptualLoss',
    'PerceptualLoss', 'PerceptualWeightsError', 'TRUNK_FILES',
    'trunk_weights_path', 'StepRecord', 'MAX_PSNR', 'apply_synthesis_delta',
    'synthesis_delta', 'synthesis_keys', 'image_to_tensor',
    'psnr_from_mse', 'lr_ramp', 'noise_regularizer',
    'latent_stats'
]
