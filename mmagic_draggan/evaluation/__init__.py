"""Metrics of batch drag runs (registered in MMagic's ``METRICS``)."""
from .metrics import (BaseDragMetric, ConvergenceRate, DragDistance,
                      DragSteps, DragTime, MaskedChange, masked_difference,
                      psnr_from_mse)

__all__ = [
    'BaseDragMetric', 'DragDistance', 'ConvergenceRate', 'DragSteps',
    'DragTime', 'MaskedChange', 'masked_difference', 'psnr_from_mse'
]
