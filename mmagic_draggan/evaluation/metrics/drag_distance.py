"""Handle-target distance before and after a drag."""
from typing import Any, Dict

from mmagic_draggan.registry import METRICS
from .base_drag_metric import BaseDragMetric


@METRICS.register_module()
class DragDistance(BaseDragMetric):
    """Mean handle-target distance in pixels, the paper's accuracy measure.

    Per task: the mean over its points of |target - handle| (Euclidean, px)
    with the handles where they were set (``initial_distance``) and where
    the tracker put them at the end (``final_distance``); both averaged over
    the tasks.

    Args:
        **kwargs: See :class:`BaseDragMetric`.
    """

    def measure(self, sample: Dict[str, Any]) -> Dict[str, float]:
        return dict(
            final_distance=float(sample['final_distance']),
            initial_distance=float(sample['initial_distance']))
