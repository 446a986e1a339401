"""DragGAN's point tracking by nearest-neighbour feature search (Eq. 2)."""
from typing import Optional

import torch
from torch import Tensor, nn

from mmagic_draggan.registry import MODELS
from mmagic_draggan.structures.drag_options import check_option, default_r2
from ..feature_maps import FeatureMap


@MODELS.register_module()
class NearestNeighbourTracker(nn.Module):
    """Find each handle again: the pixel in the square window of radius
    ``r2`` around its current position (clipped to the image) whose feature
    is nearest to the handle's reference feature ``f_i``.

    ``r2`` and ``metric`` given here are the model's defaults (they become
    its :class:`~mmagic_draggan.structures.DragOptions`); a session passes
    its own values to :meth:`forward`.

    Args:
        r2 (int, optional): Window radius in image pixels. None means
            ``round(12 * H / 512)`` (at least 1). Defaults to None.
        metric (str): ``'l2'`` (official code) or ``'l1'`` (paper).
            Defaults to ``'l2'``.
    """

    def __init__(self, r2: Optional[int] = None, metric: str = 'l2'):
        super().__init__()
        self.r2 = check_option('r2', r2)
        self.metric = check_option('metric', metric)

    def reach(self, r2: int) -> int:
        """Pixels (every direction) of ``F`` around a handle that
        :meth:`forward` reads with window radius ``r2``: the window itself
        (``F`` at integer pixels)."""
        return int(r2)

    @torch.no_grad()
    def forward(self,
                feats: FeatureMap,
                handles_rc: Tensor,
                ref_feats: Tensor,
                r2: Optional[int] = None,
                metric: Optional[str] = None) -> Tensor:
        """Track the handles.

        Args:
            feats (FeatureMap): Current features ``F`` (C, H, W).
            handles_rc (Tensor): Current handles, (N, 2) float, (row, col).
            ref_feats (Tensor): Reference features ``f_i``, (N, C).
            r2 (int, optional): Window radius, px; None: this tracker's
                (auto when that is None too).
            metric (str, optional): ``'l2'`` or ``'l1'``; None: this
                tracker's.

        Returns:
            Tensor: New handles, (N, 2) float (integer pixels), (row, col),
            on the CPU.
        """
        H, W = feats.size
        r2 = self.r2 if r2 is None else r2
        r2 = default_r2(H) if r2 is None else int(r2)
        metric = self.metric if metric is None else metric
        new = handles_rc.detach().float().cpu().clone()
        for i, p in enumerate(new.round().long()):
            rows = torch.arange(max(int(p[0]) - r2, 0),
                                min(int(p[0]) + r2, H - 1) + 1)
            cols = torch.arange(max(int(p[1]) - r2, 0),
                                min(int(p[1]) + r2, W - 1) + 1)
            win = feats.window(rows, cols).detach()  # (C, R, K)
            diff = win - ref_feats[i].to(win)[:, None, None]
            if metric == 'l2':
                dist = diff.square().sum(0)
            else:
                dist = diff.abs().sum(0)
            k = int(dist.flatten().argmin())
            new[i, 0] = float(rows[k // len(cols)])
            new[i, 1] = float(cols[k % len(cols)])
        return new
