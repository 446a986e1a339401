"""How much a drag changed the image where it should not."""
import math
from typing import Any, Dict, List, Optional

import numpy as np

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.registry import METRICS
from .base_drag_metric import BaseDragMetric


def masked_difference(
        start: np.ndarray, final: np.ndarray,
        mask: Optional[np.ndarray]) -> Dict[str, Optional[float]]:
    """L1 and MSE of ``final`` vs ``start`` over the pixels outside ``mask``
    (the whole image when ``mask`` is None).

    Args:
        start (np.ndarray): (H, W, 3) uint8 RGB before the drag.
        final (np.ndarray): (H, W, 3) uint8 RGB after the drag.
        mask (np.ndarray, optional): (H, W) bool, True = may change.

    Returns:
        dict: ``masked_l1``, the mean absolute difference on the 0-1 scale
        (8-bit values / 255), and ``masked_mse`` on the 0-255 scale; both
        None when the mask covers the whole image.
    """
    start = np.asarray(start)
    final = np.asarray(final)
    if start.shape != final.shape or start.ndim != 3:
        raise InvalidInputError(
            f'start and final images must be (H, W, 3) of one '
            f'shape; got {start.shape} and {final.shape}')
    keep = np.ones(start.shape[:2], bool) if mask is None \
        else ~np.asarray(mask, bool)
    if keep.shape != start.shape[:2]:
        raise InvalidInputError(
            f'mask must be {start.shape[:2]} (H, W) like the '
            f'images; got {keep.shape}')
    if not keep.any():
        return dict(masked_l1=None, masked_mse=None)
    diff = start[keep].astype(np.float64) - final[keep].astype(np.float64)
    return dict(masked_l1=float(np.mean(np.abs(diff))) / 255.,
                masked_mse=float(np.mean(diff**2)))


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of an MSE on the 0-255 scale (inf for 0, NaN for NaN)."""
    if math.isnan(mse):
        return mse
    return math.inf if mse == 0 else 10 * math.log10(255.**2 / mse)


@METRICS.register_module()
class MaskedChange(BaseDragMetric):
    """Change outside the editable mask, final vs start image, over the
    pixels outside the mask (the whole image for tasks without a mask).

    * ``masked_l1``: mean absolute difference on the 0-1 scale, averaged
      over tasks.
    * ``masked_psnr``: PSNR in dB (peak 255) of the MSE averaged over tasks,
      so that a task that changed nothing there (e.g. converged at once)
      does not make the result infinite; inf only when no task changed any
      pixel there.

    Tasks whose mask covers the whole image have no pixels to measure and
    are left out.

    Args:
        **kwargs: See :class:`BaseDragMetric`.
    """

    def measure(self, sample: Dict[str, Any]) -> Dict[str, Optional[float]]:
        return masked_difference(sample['start_image'], sample['final_image'],
                                 sample.get('mask'))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        means = super().compute_metrics(results)
        return dict(masked_l1=means['masked_l1'],
                    masked_psnr=psnr_from_mse(means['masked_mse']))
