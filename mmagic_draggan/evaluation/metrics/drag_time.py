"""Wall-clock time of a drag."""
from typing import Any, Dict

from mmagic_draggan.registry import METRICS
from .base_drag_metric import BaseDragMetric


@METRICS.register_module()
class DragTime(BaseDragMetric):
    """Mean seconds per drag (``DragSession.run``: the iterations and the
    final render; the start image and file writing not included).

    Args:
        **kwargs: See :class:`BaseDragMetric`.
    """

    def measure(self, sample: Dict[str, Any]) -> Dict[str, float]:
        return dict(seconds=float(sample['seconds']))
