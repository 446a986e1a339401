"""Partial synthesis through MMagic's ``StyleGANv2Generator``.

``StyleGANv2Generator.forward`` always runs the whole synthesis. DragGAN's
optimisation only needs the output of one synthesis block (block 5, 128x128),
so :func:`synthesize` walks the generator's own submodules in the same order as
its forward and stops there unless the image is wanted too.

Two implementations of each layer:

* ``impl='fast'`` (default): :mod:`.modulated_conv` evaluates MMagic's layers
  with the style applied to the activations (no per-sample weight, no weight
  gradient), optionally with bfloat16 convolutions (``precision``).
* ``impl='mmagic'``: calls MMagic's modules themselves (the reference; equal
  to ``generator.forward`` bit for bit).

Block index ``b`` counts the 4x4 stage as 0; block ``b >= 1`` has resolution
``4 * 2**b`` and uses latent rows ``2b - 1`` (up-sampling conv) and ``2b``
(conv); its ``to_rgb`` uses row ``2b + 1``. Noise is always the generator's
stored ``injected_noise_*`` buffers (never re-sampled).
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mmagic_draggan.errors import InvalidInputError
from .feature_windows import Box, box_area, clip_box, expand_box, fit_box
from .modulated_conv import (PRECISIONS, precision_context,
                             resolve_precision, style_conv, to_rgb)

IMPLS = ('fast', 'mmagic')

__all__ = ['IMPLS', 'PRECISIONS', 'num_blocks', 'resolve_precision',
           'synthesize', 'synthesize_bands', 'synthesize_rest',
           'synthesize_windows']

#: crop the blocks whose needed boxes cover less than this share of the map
WINDOW_SHARE = 0.5
#: elements (C x rows x W) of the last block's map per band of
#: :func:`synthesize_bands`
BAND_ELEMENTS = 1 << 21


def num_blocks(generator: nn.Module) -> int:
    """Number of synthesis blocks (4x4 stage included)."""
    return len(generator.to_rgbs) + 1


def synthesize(generator: nn.Module,
               ws: Tensor,
               feat_idx: int,
               return_image: bool = True,
               image_grad: bool = True,
               impl: str = 'fast',
               precision: str = 'fp32',
               grad_rows: Optional[int] = None
               ) -> Tuple[Tensor, Optional[Tensor]]:
    """Run the synthesis network on W+ latents.

    Args:
        generator (nn.Module): A MMagic ``StyleGANv2Generator``.
        ws (Tensor): W+ latents, shape (N, num_latents, style_channels).
        feat_idx (int): Synthesis block whose output is returned.
        return_image (bool): Also finish the synthesis and return the image.
            When False the walk stops after block ``feat_idx``.
        image_grad (bool): Whether the image keeps its autograd graph. With
            False, the ``to_rgb`` layers and the layers after block
            ``feat_idx`` run under ``torch.no_grad()`` (the image is only
            shown, the features are what gets optimised), which saves their
            activations.
        impl (str): ``'fast'`` (activation-side modulation, see
            :mod:`.modulated_conv`) or ``'mmagic'`` (MMagic's own modules).
            Default: ``'fast'``.
        precision (str): Convolution precision, ``'fp32'`` (default),
            ``'bf16'`` or ``'tf32'``, passed through
            :func:`resolve_precision` (an unusable one falls back to
            ``'fp32'``). Only with ``impl='fast'``.
        grad_rows (int, optional): Latent rows ``>= grad_rows`` are
            constant (a drag optimises only the first ``num_opt_latents``):
            their layers fold the style into the weight, the others scale
            the activations (both exact; they differ only by float rounding,
            so pass the same value when two calls must agree bit for bit,
            e.g. a step's image and a render). None: every row when ``ws``
            needs a gradient, else none.

    Returns:
        tuple[Tensor, Tensor | None]: Features of block ``feat_idx``, shape
        (N, C_b, 4 * 2**b, 4 * 2**b), float32, and the image (N, 3, H, W) in
        [-1, 1] (None when ``return_image`` is False).
    """
    layers, noise = _prepare(generator, ws, feat_idx, impl, precision,
                             grad_rows)
    precision = layers.precision
    rgb_grad = image_grad and torch.is_grad_enabled()
    with precision_context(precision, ws.device):
        out, skip = _head(generator, ws, noise, layers, feat_idx,
                          rgb_grad if return_image else None)
        feat = out.float()
        if not return_image:
            return feat, None
        # the layers past the feature block only render the image
        with torch.set_grad_enabled(rgb_grad):
            img = _rest(generator, ws, out, skip, noise, feat_idx + 1,
                        layers)
    return feat, img


def _prepare(generator: nn.Module, ws: Tensor, feat_idx: int, impl: str,
             precision: str, grad_rows: Optional[int]
             ) -> Tuple['_Layers', List[Tensor]]:
    """Check the arguments; the layer evaluator and the noise buffers."""
    if ws.ndim != 3 or ws.shape[1] != generator.num_latents:
        raise InvalidInputError(
            f'ws must have shape (N, {generator.num_latents}, '
            f'{generator.style_channels}); got {tuple(ws.shape)}')
    if not 0 <= feat_idx < num_blocks(generator):
        raise InvalidInputError(
            f'feat_idx must be in [0, {num_blocks(generator)}) '
            f'for out_size {generator.out_size}; got {feat_idx}')
    if impl not in IMPLS:
        raise InvalidInputError(f'impl must be one of {IMPLS}; got {impl!r}')
    precision = resolve_precision(precision, ws.device)
    if impl == 'mmagic' and precision != 'fp32':
        raise InvalidInputError("impl='mmagic' runs in fp32 only")
    if grad_rows is None:
        grad_rows = _default_grad_rows(ws)
    noise = [
        getattr(generator, f'injected_noise_{i}')
        for i in range(generator.num_injected_noises)
    ]
    return _Layers(impl, precision, int(grad_rows)), noise


def synthesize_windows(generator: nn.Module,
                       ws: Tensor,
                       feat_idx: int,
                       boxes: Sequence[Box],
                       impl: str = 'fast',
                       precision: str = 'fp32',
                       grad_rows: Optional[int] = None,
                       box_size: Optional[Tuple[int, int]] = None
                       ) -> List[Tuple[Box, Tensor]]:
    """The features of block ``feat_idx`` inside ``boxes`` only.

    Every layer of the synthesis is local (3x3 convolutions, the
    transposed conv + blur of an up-sampling conv, per-pixel noise, bias and
    activation), so a box of the feature block depends on a box of each
    earlier map only: its receptive field. This walks the blocks back from
    ``boxes`` to find those boxes, runs the whole map while the boxes would
    cover at least :data:`WINDOW_SHARE` of it, and from there on each layer
    on its box only. A layer runs on a crop exactly as on the whole map
    (same padding, the crop's part of the noise) and then keeps the part of
    its output that the crop determines (away from the crop's inner edges),
    so the features equal :func:`synthesize`'s inside the boxes up to float
    rounding, and so does the gradient of anything computed from them.

    Each box and each box of its receptive field has a size fixed by
    ``box_size`` alone (shifted inwards at the map borders, never clipped,
    see :func:`~.feature_windows.fit_box`), so a drag's steps convolve the
    same few shapes again and again: no growing cache of convolution
    primitives, whatever the handles do.

    Args:
        generator (nn.Module): A MMagic ``StyleGANv2Generator``.
        ws (Tensor): W+ latents, shape (N, num_latents, style_channels).
        feat_idx (int): Synthesis block of the features.
        boxes (Sequence[Box]): Needed pixels of the feature block's map
            (``(row0, row1, col0, col1)``, half-open, at its resolution
            ``4 * 2**feat_idx``); duplicates are dropped.
        impl, precision, grad_rows: As in :func:`synthesize`.
        box_size (tuple[int, int], optional): (rows, cols) of every
            feature box, at least each box's size. Default: the largest
            box's.

    Returns:
        list[tuple[Box, Tensor]]: ``(box, features)`` pairs, each box
        containing one of ``boxes``: features (N, C_b, box rows, box cols),
        float32. A single pair with the whole map when cropping would not
        pay.
    """
    layers, noise = _prepare(generator, ws, feat_idx, impl, precision,
                             grad_rows)
    side = 4 * 2**feat_idx
    boxes = sorted({clip_box(b, side, side) for b in boxes})
    boxes = [b for b in boxes if box_area(b) > 0]
    if not boxes:
        raise InvalidInputError(
            'synthesize_windows needs at least one non-empty '
            f'box inside the {side}x{side} feature map')
    if box_size is None:
        box_size = (max(b[1] - b[0] for b in boxes),
                    max(b[3] - b[2] for b in boxes))
    # back from the feature block, per box: the needed output of each
    # block's conv (outs[b]) and of its up-sampling conv (mids[b]), each of
    # a size that depends on box_size only
    plans = []
    for box in boxes:
        size = tuple(int(v) for v in box_size)
        outs = {feat_idx: fit_box(box, *size, side, side)}
        mids = {}
        for b in range(feat_idx, 0, -1):
            n = 4 * 2**b
            pad = generator.convs[2 * b - 1].conv.padding
            size = tuple(v + 2 * pad for v in size)
            r0, r1, c0, c1 = outs[b]
            mids[b] = fit_box((r0 - pad, r1 + pad, c0 - pad, c1 + pad),
                              *size, n, n)
            size = tuple(v // 2 + 3 for v in size)  # see _up_input
            outs[b - 1] = fit_box(_up_input(mids[b], None), *size, n // 2,
                                  n // 2)
        plans.append((outs, mids))
    # (compute) the blocks where all boxes together need less than the share
    first = _last_whole_block([p[0] for p in plans], feat_idx, sum)
    with precision_context(layers.precision, ws.device):
        out, _ = _head(generator, ws, noise, layers, first)
        if first == feat_idx:
            return [((0, side, 0, side), out.float())]
        # one sample: the crops (all of one shape) run as one batch
        groups = [plans] if ws.shape[0] == 1 else [[p] for p in plans]
        crops = []
        for group in groups:
            at = [outs[first] for outs, _ in group]
            x = torch.cat([_crop(out, box) for box in at])
            for b in range(first + 1, feat_idx + 1):
                x, at = _crop_block(generator, ws, x, at, noise, b,
                                    [mids[b] for _, mids in group],
                                    [outs[b] for outs, _ in group], layers,
                                    fold=False)
            crops += [(box, x[i:i + 1].float()) for i, box in enumerate(at)]
    return crops


def synthesize_bands(generator: nn.Module,
                     ws: Tensor,
                     impl: str = 'fast',
                     precision: str = 'fp32',
                     grad_rows: Optional[int] = None,
                     band_elements: Optional[int] = None) -> Tensor:
    """The image, with the large last blocks run one band of rows at a time.

    The same walk as :func:`synthesize` up to the last block whose needed
    part covers at least :data:`WINDOW_SHARE` of its map; from there each
    band of image rows runs the blocks (features and RGB skip image) on its
    receptive field only, as in :func:`synthesize_windows`. Equal to
    :func:`synthesize`'s image up to float rounding, with peak memory of
    about a band (``band_elements`` elements of the last block's
    ``(C, rows, W)`` map, at least 16 rows) instead of the whole map.

    Args:
        generator (nn.Module): A MMagic ``StyleGANv2Generator``.
        ws (Tensor): W+ latents, shape (N, num_latents, style_channels).
        impl, precision, grad_rows: As in :func:`synthesize`.
        band_elements (int, optional): See above; defaults to
            :data:`BAND_ELEMENTS`.

    Returns:
        Tensor: The image (N, 3, H, W) in [-1, 1], float32.
    """
    last = num_blocks(generator) - 1
    layers, noise = _prepare(generator, ws, last, impl, precision,
                             grad_rows)
    side = 4 * 2**last
    per_row = generator.channels[side] * side
    rows = max(16, int(band_elements or BAND_ELEMENTS) // per_row)
    bands = [(a, min(a + rows, side), 0, side) for a in range(0, side, rows)]
    # back from the image, per band: needed block outputs (outs), up-sampling
    # conv outputs (mids) and RGB skip images (skips)
    plans = []
    for band in bands:
        outs, mids, skips = {last: band}, {}, {last: band}
        for b in range(last, 0, -1):
            n = 4 * 2**b
            pad = generator.convs[2 * b - 1].conv.padding
            mids[b] = expand_box(outs[b], pad, n, n)
            skips[b - 1] = _up_input(skips[b], n // 2)
            a, c = _up_input(mids[b], n // 2), skips[b - 1]
            outs[b - 1] = (min(a[0], c[0]), max(a[1], c[1]), min(a[2], c[2]),
                           max(a[3], c[3]))
        plans.append((outs, mids, skips))
    # (memory) the blocks where one band needs less than the share
    first = _last_whole_block([p[0] for p in plans], last, max)
    with precision_context(layers.precision, ws.device):
        out, skip = _head(generator, ws, noise, layers, first,
                          torch.is_grad_enabled())
        if first == last:
            return _finish_image(generator, skip)
        parts = []
        for outs, mids, skips in plans:
            x, at = _crop(out, outs[first]), outs[first]
            sk, at_s = _crop(skip, skips[first]), skips[first]
            for b in range(first + 1, last + 1):
                x, (at, ) = _crop_block(generator, ws, x, [at], noise, b,
                                        [mids[b]], [outs[b]], layers)
                rgb_layer = generator.to_rgbs[b - 1]
                # ModulatedToRGB: conv(x) + bias, plus the up-sampled skip
                rgb = layers.rgb(rgb_layer, _crop(x, skips[b], at), ws,
                                 2 * b + 1, None)
                up = rgb_layer.upsample(sk)
                sk = rgb + _crop(up, skips[b], tuple(2 * v for v in at_s))
                at_s = skips[b]
            parts.append(sk)
        return _finish_image(generator, torch.cat(parts, dim=2))


def _head(generator: nn.Module, ws: Tensor, noise: list, layers: '_Layers',
          last: int, rgb_grad: Optional[bool] = None
          ) -> Tuple[Tensor, Optional[Tensor]]:
    """Blocks ``0 .. last`` on the whole map: block ``last``'s output and,
    unless ``rgb_grad`` is None, the RGB skip image up to it (its
    ``to_rgb`` layers under ``torch.set_grad_enabled(rgb_grad)``)."""
    out = generator.constant_input(ws)
    out = layers.conv(generator.conv1, out, ws, 0, noise[0])
    skip = None
    if rgb_grad is not None:
        with torch.set_grad_enabled(rgb_grad):
            skip = layers.rgb(generator.to_rgb1, out, ws, 1, None)
    for b in range(1, last + 1):
        out = _block(generator, ws, out, noise, b, layers)
        if rgb_grad is not None:
            with torch.set_grad_enabled(rgb_grad):
                skip = layers.rgb(generator.to_rgbs[b - 1], out, ws,
                                  2 * b + 1, skip)
    return out, skip


def _last_whole_block(outs: List[dict], last: int, reduce) -> int:
    """The last block to run on the whole map: the highest ``b <= last``
    whose needed boxes ``outs[i][b]`` cover at least :data:`WINDOW_SHARE`
    of its map by ``reduce`` (``sum``: all boxes together, for compute;
    ``max``: the largest, for memory); 0 when none does."""
    for b in range(last, 0, -1):
        n = 4 * 2**b
        if reduce(box_area(o[b]) for o in outs) >= WINDOW_SHARE * n * n:
            return b
    return 0


def _crop_block(generator: nn.Module, ws: Tensor, x: Tensor,
                at: List[Box], noise: list, b: int, mid: List[Box],
                out: List[Box], layers: '_Layers',
                fold: bool = True) -> Tuple[Tensor, List[Box]]:
    """Block ``b`` on crops of equal shape: ``x`` (K * N, C, h, w) holds,
    crop ``i`` after crop ``i``, the pixels ``at[i]`` of block ``b - 1``'s
    map (K crops of N samples; with K > 1, N must be 1); returns block
    ``b``'s pixels ``out[i]`` the same way (and ``out``).

    The up-sampling conv of a crop gives the map's pixels ``2 * at[i]``, of
    which the part ``mid[i]`` is kept; the conv of that gives the pixels
    ``mid[i]``, of which ``out[i]`` is kept. Each kept part is one its crop
    determines (the plans make sure of it)."""
    k = len(at)
    if k > 1 and ws.shape[0] != 1:
        raise InvalidInputError('batched crops need one latent')
    wsk = ws.expand(k, -1, -1) if k > 1 else ws
    n = x.shape[0] // k

    def each(t, boxes, origins):
        return torch.cat([_crop(t[i * n:(i + 1) * n], box, o)
                          for i, (box, o) in enumerate(zip(boxes, origins))])

    ups = [tuple(2 * v for v in a) for a in at]
    noise_up = noise[2 * b - 1]
    x = layers.conv(generator.convs[2 * b - 2], x, wsk, 2 * b - 1,
                    torch.cat([_crop(noise_up, u) for u in ups]), fold=fold)
    x = each(x, mid, ups)
    x = layers.conv(generator.convs[2 * b - 1], x, wsk, 2 * b,
                    torch.cat([_crop(noise[2 * b], m) for m in mid]),
                    fold=fold)
    return each(x, out, mid), list(out)


def _up_input(box: Box, n_in: Optional[int]) -> Box:
    """Input box of an up-sampling conv (stride-2 transposed 3x3 conv, then
    MMagic's 4-tap blur with padding 1) for output ``box``: output pixel
    ``j`` reads input pixels ``ceil((j - 3) / 2) .. floor((j + 2) / 2)``,
    so ``m`` output rows read at most ``m // 2 + 3`` input rows. Clipped to
    an ``n_in`` map unless that is None. The same box serves the RGB skip's
    up-sampling (MMagic's ``UpsampleUpFIRDn``, padding (2, 1): ``ceil((j -
    2) / 2) .. floor((j + 1) / 2)``, inside the former)."""
    r0, r1, c0, c1 = box
    out = ((r0 - 2) // 2, (r1 + 1) // 2 + 1, (c0 - 2) // 2, (c1 + 1) // 2 + 1)
    return out if n_in is None else clip_box(out, n_in, n_in)


def _crop(x: Tensor, box: Box, at: Box = (0, 0, 0, 0)) -> Tensor:
    """``box`` of a map whose tensor ``x`` (N, C, h, w) holds the map's
    pixels from ``(at[0], at[2])`` on."""
    return x[:, :, box[0] - at[0]:box[1] - at[0], box[2] - at[2]:box[3] - at[2]]


def _default_grad_rows(ws: Tensor) -> int:
    """Every row may carry a gradient when ``ws`` needs one, else none."""
    return ws.shape[1] if ws.requires_grad and torch.is_grad_enabled() else 0


class _Layers:
    """One layer evaluation, by MMagic's modules or :mod:`.modulated_conv`.

    Args:
        impl (str): ``'fast'`` or ``'mmagic'``.
        precision (str): Resolved precision.
        grad_rows (int): Latent rows ``>= grad_rows`` need no gradient.
    """

    def __init__(self, impl: str, precision: str, grad_rows: int) -> None:
        self.fast = impl == 'fast'
        self.precision = precision
        self.grad_rows = grad_rows

    def conv(self, layer: nn.Module, x: Tensor, ws: Tensor, row: int,
             noise: Optional[Tensor], fold: bool = True) -> Tensor:
        """``fold=False``: never fold the style into the weight (crops)."""
        if self.fast:
            return style_conv(layer, x, ws[:, row], noise, self.precision,
                              const_style=row >= self.grad_rows, fold=fold)
        return layer(x, ws[:, row], noise=noise)

    def rgb(self, layer: nn.Module, x: Tensor, ws: Tensor, row: int,
            skip: Optional[Tensor]) -> Tensor:
        if self.fast:
            return to_rgb(layer, x, ws[:, row], skip, self.precision,
                          const_style=row >= self.grad_rows)
        return layer(x, ws[:, row], skip)


def _block(generator: nn.Module, ws: Tensor, out: Tensor, noise: list,
           b: int, layers: _Layers) -> Tensor:
    """Block ``b >= 1``: the up-sampling conv (row 2b - 1), then the conv
    (row 2b)."""
    out = layers.conv(generator.convs[2 * b - 2], out, ws, 2 * b - 1,
                      noise[2 * b - 1])
    return layers.conv(generator.convs[2 * b - 1], out, ws, 2 * b,
                       noise[2 * b])


def _finish_image(generator: nn.Module, skip: Tensor) -> Tensor:
    img = skip.float()
    return img.flip(1) if generator.bgr2rgb else img


def _rest(generator: nn.Module, ws: Tensor, out: Tensor, skip: Tensor,
          noise: list, first_block: int, layers: _Layers) -> Tensor:
    for b in range(first_block, len(generator.to_rgbs) + 1):
        out = _block(generator, ws, out, noise, b, layers)
        skip = layers.rgb(generator.to_rgbs[b - 1], out, ws, 2 * b + 1,
                          skip)
    return _finish_image(generator, skip)


def synthesize_rest(generator: nn.Module,
                    ws: Tensor,
                    out: Tensor,
                    skip: Tensor,
                    noise: list,
                    first_block: int,
                    impl: str = 'fast',
                    precision: str = 'fp32') -> Tensor:
    """Finish the synthesis from block ``first_block`` on.

    Args:
        generator (nn.Module): A MMagic ``StyleGANv2Generator``.
        ws (Tensor): W+ latents, shape (N, num_latents, style_channels).
        out (Tensor): Output of block ``first_block - 1``.
        skip (Tensor): The RGB skip image accumulated up to that block.
        noise (list[Tensor]): The generator's ``injected_noise_*`` buffers.
        first_block (int): First block to run.
        impl (str): ``'fast'`` or ``'mmagic'`` (see :func:`synthesize`).
        precision (str): ``'fp32'``, ``'bf16'`` or ``'tf32'``.

    Returns:
        Tensor: The image (N, 3, H, W) in [-1, 1].
    """
    precision = resolve_precision(precision, ws.device)
    with precision_context(precision, ws.device):
        return _rest(generator, ws, out, skip, noise, first_block,
                     _Layers(impl, precision, _default_grad_rows(ws)))
