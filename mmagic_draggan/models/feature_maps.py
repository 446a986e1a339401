"""Generator feature maps, read at image pixels.

DragGAN works on ``F``: a generator feature map (N=1, C, h, w) bilinearly
resized to the image size (H, W) with ``align_corners=False``. Both the motion
loss and the tracker only need ``F`` inside small windows around the handles,
so two readers with the same interface exist:

* :class:`DenseFeatureMap` materialises ``F`` at (C, H, W) with
  :func:`torch.nn.functional.interpolate` (the literal reference, ``exact``).
* :class:`LazyFeatureMap` evaluates the same bilinear resize only at the
  requested pixels (``fast``), which gives the same numbers (up to float
  summation order) without a (C, H, W) tensor and its gradient.

Coordinates here are always (row, col) pixel indices of the *image*.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def resize_source_index(dst: Tensor, in_size: int,
                        out_size: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Source taps of a 1-D bilinear resize with ``align_corners=False``.

    Mirrors PyTorch's ``upsample_bilinear2d``: ``src = (dst + 0.5) * in /
    out - 0.5``, clamped at 0; the upper tap is clamped to ``in_size - 1``.

    Args:
        dst (Tensor): Integer output indices, shape (K,).
        in_size (int): Input length (feature map side).
        out_size (int): Output length (image side).

    Returns:
        tuple[Tensor, Tensor, Tensor]: Lower tap (K,), upper tap (K,) (both
        long) and the weight of the upper tap (K,) (float).
    """
    scale = in_size / out_size
    src = ((dst.to(torch.float64) + 0.5) * scale - 0.5).clamp(min=0)
    lo = src.floor().long().clamp(max=in_size - 1)
    hi = (lo + 1).clamp(max=in_size - 1)
    w_hi = (src - lo.to(torch.float64)).to(torch.float32)
    return lo, hi, w_hi


class FeatureMap:
    """Interface: the image-size feature map ``F`` of shape (C, H, W).

    Args:
        feat (Tensor): Generator features, shape (1, C, h, w).
        size (tuple[int, int]): Image size (H, W).
    """

    def __init__(self, feat: Tensor, size: Tuple[int, int]):
        assert feat.ndim == 4 and feat.shape[0] == 1, feat.shape
        self.feat = feat
        #: image size (H, W)
        self.size = (int(size[0]), int(size[1]))
        #: number of channels C
        self.channels = feat.shape[1]

    def window(self, rows: Tensor, cols: Tensor) -> Tensor:
        """``F[:, rows][:, :, cols]``: a (C, len(rows), len(cols)) block."""
        raise NotImplementedError

    def dense(self) -> Tensor:
        """The whole map ``F``, shape (C, H, W)."""
        raise NotImplementedError

    def sample(self, points_rc: Tensor) -> Tensor:
        """Bilinear reads of ``F`` at sub-pixel points.

        Points are clamped to the image ([0, H-1] x [0, W-1]) first.

        Args:
            points_rc (Tensor): (N, 2) float points, (row, col) order.

        Returns:
            Tensor: (C, N) features; differentiable w.r.t. the map.
        """
        H, W = self.size
        pts = torch.stack([points_rc[:, 0].clamp(0, H - 1),
                           points_rc[:, 1].clamp(0, W - 1)], dim=1)
        base = pts.floor()
        frac = (pts - base).to(torch.float32)
        base = base.long()
        r0, c0 = base[:, 0], base[:, 1]
        r1, c1 = (r0 + 1).clamp(max=H - 1), (c0 + 1).clamp(max=W - 1)
        row_lo, col_lo = int(r0.min()), int(c0.min())
        rows = torch.arange(row_lo, int(r1.max()) + 1)
        cols = torch.arange(col_lo, int(c1.max()) + 1)
        win = self.window(rows, cols)  # (C, R, K)
        r0, r1, c0, c1 = r0 - row_lo, r1 - row_lo, c0 - col_lo, c1 - col_lo
        fr = frac[:, 0].to(win.device)
        fc = frac[:, 1].to(win.device)
        top = win[:, r0, c0] * (1 - fc) + win[:, r0, c1] * fc
        bottom = win[:, r1, c0] * (1 - fc) + win[:, r1, c1] * fc
        return top * (1 - fr) + bottom * fr


class DenseFeatureMap(FeatureMap):
    """``F`` materialised with ``F.interpolate`` (the reference path).

    Args:
        feat (Tensor): Generator features, shape (1, C, h, w).
        size (tuple[int, int]): Image size (H, W).
    """

    def __init__(self, feat: Tensor, size: Tuple[int, int]):
        super().__init__(feat, size)
        self._dense = F.interpolate(
            feat, size=self.size, mode='bilinear', align_corners=False)[0]

    def window(self, rows: Tensor, cols: Tensor) -> Tensor:
        dev = self._dense.device
        return self._dense[:, rows.to(dev)][:, :, cols.to(dev)]

    def dense(self) -> Tensor:
        return self._dense


class LazyFeatureMap(FeatureMap):
    """``F`` evaluated only at requested pixels (separable bilinear taps).

    Args:
        feat (Tensor): Generator features, shape (1, C, h, w).
        size (tuple[int, int]): Image size (H, W).
    """

    def window(self, rows: Tensor, cols: Tensor) -> Tensor:
        f = self.feat[0]  # (C, h, w)
        dev = f.device
        h, w = f.shape[1:]
        r_lo, r_hi, r_w = (t.to(dev) for t in resize_source_index(
            rows, h, self.size[0]))
        c_lo, c_hi, c_w = (t.to(dev) for t in resize_source_index(
            cols, w, self.size[1]))
        # rows first, then cols: the same order as upsample_bilinear2d
        rows_f = f[:, r_lo] * (1 - r_w)[None, :, None] + \
            f[:, r_hi] * r_w[None, :, None]  # (C, R, w)
        return rows_f[:, :, c_lo] * (1 - c_w) + rows_f[:, :, c_hi] * c_w

    def dense(self) -> Tensor:
        return F.interpolate(
            self.feat, size=self.size, mode='bilinear',
            align_corners=False)[0]


def build_feature_map(feat: Tensor, size: Tuple[int, int],
                      dense: bool) -> FeatureMap:
    """A :class:`DenseFeatureMap` (``dense=True``) or a lazy one."""
    return DenseFeatureMap(feat, size) if dense else LazyFeatureMap(feat, size)
