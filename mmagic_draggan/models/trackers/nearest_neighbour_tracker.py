"""DragGAN's point tracking by nearest-neighbour feature search (Eq. 2)."""
from typing import Optional

import torch
from torch import Tensor, nn

from mmagic_draggan.registry import MODELS
from ..feature_maps import FeatureMap


def default_r2(image_size: int) -> int:
    """Tracking window radius: ``round(12 * H / 512)``, at least 1."""
    return max(1, round(12 * image_size / 512))


@MODELS.register_module()
class NearestNeighbourTracker(nn.Module):
    """Find each handle again: the pixel in the square window of radius
    ``r2`` around its current position (clipped to the image) whose feature
    is nearest to the handle's reference feature ``f_i``.

    Args:
        r2 (int, optional): Window radius in image pixels. None means
            ``round(12 * H / 512)`` (at least 1). Defaults to None.
        metric (str): ``'l2'`` (official code) or ``'l1'`` (paper).
            Defaults to ``'l2'``.
    """

    def __init__(self, r2: Optional[int] = None, metric: str = 'l2'):
        super().__init__()
        if metric not in ('l1', 'l2'):
            raise ValueError(f"metric must be 'l1' or 'l2'; got {metric!r}")
        if r2 is not None and (int(r2) != r2 or r2 < 1):
            raise ValueError(f'r2 must be an integer >= 1 (or None for '
                             f'auto); got {r2}')
        self.r2 = None if r2 is None else int(r2)
        self.metric = metric

    def radius(self, image_size: int) -> int:
        """The window radius used for an image of side ``image_size``."""
        return default_r2(image_size) if self.r2 is None else self.r2

    @torch.no_grad()
    def forward(self, feats: FeatureMap, handles_rc: Tensor,
                ref_feats: Tensor) -> Tensor:
        """Track the handles.

        Args:
            feats (FeatureMap): Current features ``F`` (C, H, W).
            handles_rc (Tensor): Current handles, (N, 2) float, (row, col).
            ref_feats (Tensor): Reference features ``f_i``, (N, C).

        Returns:
            Tensor: New handles, (N, 2) float (integer pixels), (row, col),
            on the CPU.
        """
        H, W = feats.size
        r2 = self.radius(H)
        new = handles_rc.detach().float().cpu().clone()
        for i, p in enumerate(new.round().long()):
            rows = torch.arange(max(int(p[0]) - r2, 0),
                                min(int(p[0]) + r2, H - 1) + 1)
            cols = torch.arange(max(int(p[1]) - r2, 0),
                                min(int(p[1]) + r2, W - 1) + 1)
            win = feats.window(rows, cols).detach()  # (C, R, K)
            diff = win - ref_feats[i].to(win)[:, None, None]
            if self.metric == 'l2':
                dist = diff.square().sum(0)
            else:
                dist = diff.abs().sum(0)
            k = int(dist.flatten().argmin())
            new[i, 0] = float(rows[k // len(cols)])
            new[i, 1] = float(cols[k % len(cols)])
        return new
