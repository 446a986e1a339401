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

The mask term ``mean(|F - F0| * w)`` over (C, H, W) needs every pixel where
``w != 0``; :func:`resized_weighted_l1` evaluates it (and its gradient) in
row chunks at feature resolution, so that no (C, H, W) tensor and no autograd
graph of one is kept (:meth:`FeatureMap.weighted_l1`).

Coordinates here are always (row, col) pixel indices of the *image*.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

#: elements (C x rows x W) of one chunk of :func:`resized_weighted_l1`
CHUNK_ELEMENTS = 1 << 21


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

    def weighted_l1(self, other: 'FeatureMap', weight: Tensor) -> Tensor:
        """``mean(|F - F_other| * weight)`` over (C, H, W), the mask term.

        ``other`` is held constant (no gradient reaches it). This is the
        dense reference: both maps materialised at (C, H, W).

        Args:
            other (FeatureMap): The map to compare with (``F0``), same size.
            weight (Tensor): (H, W) float weights (``1 - M``).

        Returns:
            Tensor: Scalar; differentiable w.r.t. this map.
        """
        dense = self.dense()
        assert tuple(weight.shape) == self.size, (weight.shape, self.size)
        diff = (dense - other.dense().detach()) * \
            weight.to(device=dense.device, dtype=dense.dtype)[None]
        return diff.abs().mean()


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
        return _resized_window(f, resize_source_index(
            rows, f.shape[1], self.size[0]), resize_source_index(
                cols, f.shape[2], self.size[1]))

    def dense(self) -> Tensor:
        return F.interpolate(
            self.feat, size=self.size, mode='bilinear',
            align_corners=False)[0]

    def weighted_l1(self, other: FeatureMap, weight: Tensor) -> Tensor:
        """``mean(|F - F_other| * weight)`` over (C, H, W), without a
        (C, H, W) tensor: the resize is linear, so ``F - F_other`` is the
        resize of the difference of the two generator feature maps, and
        :func:`resized_weighted_l1` evaluates that in row chunks (rows where
        ``weight`` is 0 are skipped). Same value and gradient as
        :meth:`FeatureMap.weighted_l1` up to float summation order; where
        ``F`` equals ``F_other`` bit for bit (a drag's first step) both give
        exactly 0 and a zero gradient.

        Args:
            other (FeatureMap): The map to compare with (``F0``), same size
                and generator feature shape (1, C, h, w).
            weight (Tensor): (H, W) float weights (``1 - M``).

        Returns:
            Tensor: Scalar; differentiable w.r.t. this map.
        """
        if other.size != self.size or other.feat.shape != self.feat.shape:
            return super().weighted_l1(other, weight)
        diff = self.feat[0] - other.feat[0].detach().to(self.feat.device)
        return resized_weighted_l1(diff, weight, self.size)


def _resized_window(f: Tensor, row_taps: Tuple[Tensor, Tensor, Tensor],
                    col_taps: Tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """Bilinear resize of the (C, h, w) map ``f`` at the pixels whose taps
    (:func:`resize_source_index`, indices into ``f``) are given; rows first,
    then cols, the same order as ``upsample_bilinear2d``. Returns (C, R, K).
    """
    dev = f.device
    r_lo, r_hi, r_w = (t.to(dev) for t in row_taps)
    c_lo, c_hi, c_w = (t.to(dev) for t in col_taps)
    rows_f = f[:, r_lo] * (1 - r_w)[None, :, None] + \
        f[:, r_hi] * r_w[None, :, None]  # (C, R, w)
    return rows_f[:, :, c_lo] * (1 - c_w) + rows_f[:, :, c_hi] * c_w


class WindowMissError(RuntimeError):
    """A read of a :class:`WindowedFeatureMap` outside its boxes."""


class WindowedFeatureMap(FeatureMap):
    """``F`` known only inside boxes of the generator feature map (what
    :func:`~.stylegan2_synthesis.synthesize_windows` computes around the
    handles), read like a :class:`LazyFeatureMap`.

    A read outside every box is a bug in the caller's boxes, not a value:
    it raises instead of returning anything.

    Args:
        crops (list[tuple[Box, Tensor]]): ``(box, features)`` pairs, box
            ``(row0, row1, col0, col1)`` half-open in feature-map pixels,
            features (1, C, box rows, box cols).
        feat_size (tuple[int, int]): Whole feature map size (h, w).
        size (tuple[int, int]): Image size (H, W).
    """

    def __init__(self, crops: List[Tuple[Tuple[int, int, int, int], Tensor]],
                 feat_size: Tuple[int, int], size: Tuple[int, int]):
        assert crops and all(t.ndim == 4 and t.shape[0] == 1
                             for _, t in crops), [t.shape for _, t in crops]
        self.crops = [(tuple(int(v) for v in box), t) for box, t in crops]
        self.feat_size = (int(feat_size[0]), int(feat_size[1]))
        self.size = (int(size[0]), int(size[1]))
        self.channels = crops[0][1].shape[1]

    @property
    def feat(self) -> Tensor:
        raise AttributeError(
            'a WindowedFeatureMap holds the features around the handles '
            'only; build the whole map (DragGAN.features without windows) '
            'for a mask term or a start-of-drag F0')

    def window(self, rows: Tensor, cols: Tensor) -> Tensor:
        r_taps = resize_source_index(rows, self.feat_size[0], self.size[0])
        c_taps = resize_source_index(cols, self.feat_size[1], self.size[1])
        need_r = (int(r_taps[0].min()), int(r_taps[1].max()))
        need_c = (int(c_taps[0].min()), int(c_taps[1].max()))
        for (r0, r1, c0, c1), t in self.crops:
            if r0 <= need_r[0] and need_r[1] < r1 and \
                    c0 <= need_c[0] and need_c[1] < c1:
                return _resized_window(
                    t[0], (r_taps[0] - r0, r_taps[1] - r0, r_taps[2]),
                    (c_taps[0] - c0, c_taps[1] - c0, c_taps[2]))
        raise WindowMissError(
            f'features of rows {need_r} and cols {need_c} of the '
            f'{self.feat_size} map were read, but only the boxes '
            f'{[box for box, _ in self.crops]} were synthesised: the '
            'windows given to the synthesis are too small')

    def sample(self, points_rc: Tensor) -> Tensor:
        """As :meth:`FeatureMap.sample`; points in different boxes (say,
        one per handle) are read box by box."""
        try:
            return super().sample(points_rc)
        except WindowMissError:
            if len(points_rc) < 2:
                raise
        return torch.cat([super(WindowedFeatureMap, self).sample(p[None])
                          for p in points_rc], dim=1)

    def dense(self) -> Tensor:
        raise NotImplementedError(
            'a WindowedFeatureMap has no dense form; synthesise the whole '
            'map instead')

    def weighted_l1(self, other: FeatureMap, weight: Tensor) -> Tensor:
        raise NotImplementedError(
            'the mask term needs the whole feature map; synthesise it '
            'without windows')


def _row_chunks(rows: Tensor, per_chunk: int) -> List[Tensor]:
    """Split sorted row indices into chunks of at most ``per_chunk`` rows,
    each a run of consecutive rows."""
    if len(rows) == 0:
        return []
    breaks = torch.nonzero(rows[1:] - rows[:-1] != 1).flatten() + 1
    chunks = []
    for run in torch.tensor_split(rows, breaks.tolist()):
        chunks.extend(torch.split(run, per_chunk))
    return chunks


class _ResizedWeightedL1(torch.autograd.Function):
    """``sum(|U d| * w)`` and its gradient ``U^T (sign(U d) * w)``, both in
    one chunked pass (see :func:`resized_weighted_l1`)."""

    @staticmethod
    def forward(ctx, diff: Tensor, weight: Tensor, size: Tuple[int, int],
                chunk_elements: int) -> Tensor:
        C, h, w = diff.shape
        H, W = size
        dev, dtype = diff.device, diff.dtype
        weight = weight.to(device=dev, dtype=dtype)
        need_grad = ctx.needs_input_grad[0]
        grad = torch.zeros_like(diff) if need_grad else None
        # rows with any nonzero weight; the others contribute nothing
        rows = torch.nonzero(weight.ne(0).any(dim=1)).flatten().cpu()
        per_chunk = max(1, chunk_elements // max(1, C * W))
        totals = []
        for chunk in _row_chunks(rows, per_chunk):
            R = len(chunk)
            r_lo, r_hi, r_w = resize_source_index(chunk, h, H)
            # the chunk's rows read source rows k0 .. k0 + K - 1: the row
            # resize is a small (R, K) matrix
            k0 = int(r_lo.min())
            K = int(r_hi.max()) - k0 + 1
            taps = torch.zeros(R, K, dtype=torch.float32)
            taps[torch.arange(R), r_lo - k0] += 1 - r_w
            taps[torch.arange(R), r_hi - k0] += r_w
            taps = taps.to(device=dev, dtype=dtype)
            # rows: (C, R, w); then the columns by a 1-D linear resize with
            # the same align_corners=False taps as the 2-D bilinear one
            rows_f = torch.matmul(taps, diff[:, k0:k0 + K])
            up = F.interpolate(rows_f.reshape(1, C * R, w), size=W,
                               mode='linear', align_corners=False)
            w_chunk = weight[chunk.to(dev)]  # (R, W)
            g = up.sign_().view(C, R, W).mul_(w_chunk)  # in place of up
            # the column resize's adjoint: g_cols = U_c^T g, (C, R, w)
            g_cols = torch.ops.aten.upsample_linear1d_backward(
                g.view(1, C * R, W), [W], [1, C * R, w], False).view(C, R, w)
            # sum |u| w = <u, g> = <U_c rows_f, g> = <rows_f, U_c^T g>: the
            # sum at feature width, one pass fewer over the image-size rows
            totals.append(torch.dot(rows_f.reshape(-1), g_cols.reshape(-1)))
            if need_grad:
                grad[:, k0:k0 + K] += torch.matmul(taps.t(), g_cols)
        ctx.save_for_backward(grad)
        if not totals:
            return diff.new_zeros(())
        return torch.stack(totals).sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        grad, = ctx.saved_tensors
        return (None if grad is None else grad * grad_out), None, None, None


def resized_weighted_l1(diff: Tensor,
                        weight: Tensor,
                        size: Tuple[int, int],
                        chunk_elements: Optional[int] = None) -> Tensor:
    """``mean(|U(diff)| * weight)`` over (C, H, W), ``U`` the bilinear resize
    to ``size`` (``align_corners=False``), in bounded memory.

    The resized map is built a chunk of image rows at a time (rows where
    ``weight`` is 0 everywhere are skipped) and the gradient w.r.t.
    ``diff``, ``U^T(sign(U diff) * weight) / (C H W)``, is accumulated in the
    same pass, so neither a (C, H, W) tensor nor an autograd graph of one is
    kept: peak extra memory is about ``3 * chunk_elements`` floats.
    ``sign(0) = 0``: where ``U(diff)`` is 0 the gradient is 0, as for
    :func:`torch.abs`.

    Args:
        diff (Tensor): Feature difference at feature resolution, (C, h, w).
        weight (Tensor): (H, W) weights.
        size (tuple[int, int]): Image size (H, W).
        chunk_elements (int, optional): Elements (C x rows x W) per chunk.
            Defaults to :data:`CHUNK_ELEMENTS`.

    Returns:
        Tensor: Scalar; differentiable w.r.t. ``diff`` (not ``weight``).
    """
    assert diff.ndim == 3, diff.shape
    size = (int(size[0]), int(size[1]))
    assert tuple(weight.shape) == size, (weight.shape, size)
    total = _ResizedWeightedL1.apply(
        diff, weight.detach(), size,
        int(chunk_elements or CHUNK_ELEMENTS))
    return total / (diff.shape[0] * size[0] * size[1])


def build_feature_map(feat: Tensor, size: Tuple[int, int],
                      dense: bool) -> FeatureMap:
    """A :class:`DenseFeatureMap` (``dense=True``) or a lazy one."""
    return DenseFeatureMap(feat, size) if dense else LazyFeatureMap(feat, size)
