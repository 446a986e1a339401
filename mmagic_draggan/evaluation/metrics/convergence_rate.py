"""Share of drags that reached their targets."""
from typing import Any, Dict

from mmagic_draggan.registry import METRICS
from .base_drag_metric import BaseDragMetric


@METRICS.register_module()
class ConvergenceRate(BaseDragMetric):
    """Fraction of tasks (0 to 1) whose handles all came within the stop
    distance of their targets before the step limit.

    Args:
        **kwargs: See :class:`BaseDragMetric`.
    """

    def measure(self, sample: Dict[str, Any]) -> Dict[str, float]:
        return dict(convergence_rate=float(bool(sample['converged'])))
