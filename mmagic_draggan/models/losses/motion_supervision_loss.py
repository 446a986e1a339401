"""DragGAN's motion-supervision loss (Pan et al. 2023, Eq. 1)."""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.registry import MODELS
from mmagic_draggan.structures.drag_options import check_option, default_r1
from ..feature_maps import FeatureMap


def disc_offsets(radius: float) -> Tensor:
    """Integer (drow, dcol) offsets with distance < ``radius`` (at least the
    centre), shape (K, 2), float."""
    r = int(radius) + 1
    d = torch.arange(-r, r + 1, dtype=torch.float32)
    grid = torch.stack(torch.meshgrid(d, d, indexing='ij'), -1).reshape(-1, 2)
    keep = grid.norm(dim=1) < radius
    keep[grid.abs().sum(1) == 0] = True
    return grid[keep]


#: How the disc of pixels around a handle is laid out: ``'centred'`` (the
#: paper: integer offsets around the handle) or ``'linspace'`` (the official
#: code's coordinates, for reproducing its numbers).
DISC_LAYOUTS = ('centred', 'linspace')


def linspace_disc(p_rc: Tensor, radius: float,
                  size: Tuple[int, int]) -> Tensor:
    """The official code's disc: the integer pixels ``(i, j)`` whose
    ``torch.linspace(0, H, H)`` coordinates ``(i * H / (H - 1),
    j * W / (W - 1))`` lie closer than ``radius`` to the handle.

    Pixel ``i`` sits at ``i * H / (H - 1)`` there, so the disc is shifted by
    up to about 1 px from the handle towards the image origin (at 256 px and
    ``radius=2`` the disc of row 128 spans rows 126-129, not 127-129).
    Computed over a window around the handle, not the whole image.

    Args:
        p_rc (Tensor): The handle, (2,) float, (row, col) in image pixels.
        radius (float): Disc radius, px.
        size (tuple[int, int]): Image size (H, W).

    Returns:
        Tensor: The disc's pixels, (K, 2) float, (row, col), row-major order;
        K may be 0 for a handle outside the image.
    """
    axes = []
    for c, n in zip(p_rc.tolist(), size):
        scale = n / (n - 1) if n > 1 else 1.
        lo = max(math.floor((c - radius) / scale) - 1, 0)
        hi = min(math.ceil((c + radius) / scale) + 1, n - 1)
        idx = torch.arange(lo, hi + 1, dtype=torch.float32)
        axes.append((idx, idx * scale - c))
    (rows, drow), (cols, dcol) = axes
    if len(rows) == 0 or len(cols) == 0:
        return torch.zeros(0, 2)
    dist2 = drow[:, None]**2 + dcol[None, :]**2  # (R, C)
    rr, cc = torch.meshgrid(rows, cols, indexing='ij')
    keep = dist2 < radius**2
    return torch.stack([rr[keep], cc[keep]], 1)


@MODELS.register_module()
class MotionSupervisionLoss(nn.Module):
    """Motion supervision: pull the features around each handle one pixel
    towards its target, plus an optional fixed-region term.

    For handle ``p`` and target ``t`` with ``|t - p| > min_distance`` and
    ``d = (t - p) / |t - p|``, over the pixels ``q`` of the disc of radius
    ``r1`` around ``p`` (inside the image)::

        L_i = mean | sg(F(q)) - F(q + d) |        (F(q + d) bilinear)

    The gradient flows through the shifted sample only. With a mask ``M``
    (1 = may change)::

        L += lambda_mask * mean | (F - F0) * (1 - M) |   over (C, H, W)

    (:meth:`~mmagic_draggan.models.feature_maps.FeatureMap.weighted_l1`:
    dense for a dense ``F``, chunked at feature resolution for a lazy one.)

    ``disc='linspace'`` lays the disc out as the official code does
    (:func:`linspace_disc`), shifted by up to ~1 px towards the image
    origin: use it only to reproduce that code's numbers.

    ``r1`` and ``lambda_mask`` given here are the model's defaults (they
    become its :class:`~mmagic_draggan.structures.DragOptions`); a session
    passes its own values to :meth:`forward`.

    Args:
        r1 (float, optional): Disc radius in image pixels. None means
            ``round(3 * H / 512)`` (at least 1). Defaults to None.
        lambda_mask (float): Weight of the fixed-region term. Defaults to 20.
        min_distance (float): Points closer than this to their target (px)
            get no motion term. Defaults to 1.
        disc (str): One of :data:`DISC_LAYOUTS`: ``'centred'`` (the paper's
            disc around the handle) or ``'linspace'`` (the official code's,
            for parity runs). Defaults to ``'centred'``.
    """

    def __init__(self,
                 r1: Optional[float] = None,
                 lambda_mask: float = 20.,
                 min_distance: float = 1.,
                 disc: str = 'centred'):
        super().__init__()
        self.r1 = check_option('r1', r1)
        self.lambda_mask = check_option('lambda_mask', lambda_mask)
        self.min_distance = float(min_distance)
        if disc not in DISC_LAYOUTS:
            raise InvalidInputError(
                f'MotionSupervisionLoss disc must be one of '
                f'{list(DISC_LAYOUTS)}; got {disc!r} (set it with '
                f'--cfg-options model.motion_loss.disc=centred)')
        self.disc = disc

    def reach(self, r1: float) -> int:
        """Pixels (every direction) of ``F`` around the (tracked) handle
        that :meth:`forward` reads with disc radius ``r1`` and no mask: the
        disc, its shift of one pixel towards the target and the bilinear
        taps of that shifted read; plus one pixel for the ``'linspace'``
        disc's offset."""
        extra = 1 if self.disc == 'linspace' else 0
        return int(math.ceil(r1)) + 2 + extra

    def forward(self,
                feats: FeatureMap,
                handles_rc: Tensor,
                targets_rc: Tensor,
                mask: Optional[Tensor] = None,
                feats0: Optional[FeatureMap] = None,
                r1: Optional[float] = None,
                lambda_mask: Optional[float] = None) -> Optional[Tensor]:
        """Compute the loss.

        Args:
            feats (FeatureMap): Current features ``F`` (C, H, W).
            handles_rc (Tensor): Current handles, (N, 2) float, (row, col).
            targets_rc (Tensor): Targets, (N, 2) float, (row, col).
            mask (Tensor, optional): (H, W) float, 1 where the image may
                change. None: no fixed-region term.
            feats0 (FeatureMap, optional): Features at the start of the drag;
                required with ``mask``.
            r1 (float, optional): Disc radius, px; None: this loss's ``r1``
                (auto when that is None too).
            lambda_mask (float, optional): Weight of the mask term; None:
                this loss's.

        Returns:
            Tensor | None: Scalar loss; None when no term applies (every point
            is within ``min_distance`` and there is no mask).
        """
        H, W = feats.size
        r1 = self.r1 if r1 is None else r1
        lam = self.lambda_mask if lambda_mask is None else lambda_mask
        radius = default_r1(H) if r1 is None else r1
        offsets = disc_offsets(radius)
        terms = []
        for p, t in zip(handles_rc.float().cpu(), targets_rc.float().cpu()):
            delta = t - p
            dist = float(delta.norm())
            if dist <= self.min_distance:
                continue
            if self.disc == 'linspace':
                q = linspace_disc(p, radius, (H, W))
            else:
                q = p[None] + offsets
            inside = (q[:, 0] >= 0) & (q[:, 0] <= H - 1) & \
                (q[:, 1] >= 0) & (q[:, 1] <= W - 1)
            q = q[inside]
            if len(q) == 0:
                continue
            patch = feats.sample(q).detach()
            shifted = feats.sample(q + delta / dist)
            terms.append(F.l1_loss(shifted, patch))
        if mask is not None and lam > 0:
            if feats0 is None:
                raise InvalidInputError(
                    'a mask needs feats0 (features at the start '
                    'of the drag)')
            # (H, W), 1 where F is held to F0
            fixed = 1 - mask.to(device=feats.feat.device,
                                dtype=feats.feat.dtype)
            terms.append(lam * feats.weighted_l1(feats0, fixed))
        if not terms:
            return None
        return torch.stack(terms).sum()
