"""Iterations a drag used."""
from typing import Any, Dict

from mmagic_draggan.registry import METRICS
from .base_drag_metric import BaseDragMetric


@METRICS.register_module()
class DragSteps(BaseDragMetric):
    """Mean number of DragGAN iterations per task (the converging step
    included; at most the task's ``max_steps``).

    Args:
        **kwargs: See :class:`BaseDragMetric`.
    """

    def measure(self, sample: Dict[str, Any]) -> Dict[str, float]:
        return dict(steps=float(sample['steps']))
