"""Common base of the drag metrics: one record per task, mean over tasks."""
import math
from typing import Any, Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric


class BaseDragMetric(BaseMetric):
    """A metric that measures each drag result and averages over tasks.

    Subclasses implement :meth:`measure`, which returns one dict of numbers
    (or None where a value is undefined for a task) per task result. The
    results of all processes are gathered by MMEngine's
    :meth:`BaseMetric.evaluate` (``collect_device='cpu'``: through files in
    a shared folder), which also drops the samples that the distributed
    sampler repeated to even out the processes. So :meth:`measure` must
    return exactly one dict (never None) per task.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to ``'drag'``.
        collect_dir (str, optional): Shared folder for ``'cpu'`` gathering.
    """

    default_prefix: Optional[str] = 'drag'

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Measure each drag result of a batch.

        Args:
            data_batch (Any): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): The per-task results of
                ``DragGAN.test_step`` (see
                :func:`mmagic_draggan.apis.batch.run_tasks`).
        """
        for sample in data_samples:
            self.results.append(self.measure(sample))

    def measure(self, sample: Dict[str, Any]) -> Dict[str, Optional[float]]:
        """Numbers of one task result; None where undefined."""
        raise NotImplementedError

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Mean of each number over the tasks where it is defined (NaN
        where no task defines it)."""
        keys = list(results[0]) if results else []
        out = {}
        for key in keys:
            values = [r[key] for r in results if r.get(key) is not None]
            out[key] = (math.fsum(values) / len(values)) if values \
                else float('nan')
        return out
