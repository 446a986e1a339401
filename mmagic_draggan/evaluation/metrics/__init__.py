from .base_drag_metric import BaseDragMetric
from .convergence_rate import ConvergenceRate
from .drag_distance import DragDistance
from .drag_steps import DragSteps
from .drag_time import DragTime
from .masked_change import MaskedChange, masked_difference, psnr_from_mse

__all__ = [
    'BaseDragMetric', 'DragDistance', 'ConvergenceRate', 'DragSteps',
    'DragTime', 'MaskedChange', 'masked_difference', 'psnr_from_mse'
]
