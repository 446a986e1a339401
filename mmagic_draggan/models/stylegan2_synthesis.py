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
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .modulated_conv import (PRECISIONS, precision_context,
                             resolve_precision, style_conv, to_rgb)

IMPLS = ('fast', 'mmagic')

__all__ = ['IMPLS', 'PRECISIONS', 'num_blocks', 'resolve_precision',
           'synthesize', 'synthesize_rest']


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
    if ws.ndim != 3 or ws.shape[1] != generator.num_latents:
        raise ValueError(
            f'ws must have shape (N, {generator.num_latents}, '
            f'{generator.style_channels}); got {tuple(ws.shape)}')
    if not 0 <= feat_idx < num_blocks(generator):
        raise ValueError(f'feat_idx must be in [0, {num_blocks(generator)}) '
                         f'for out_size {generator.out_size}; got {feat_idx}')
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}; got {impl!r}')
    precision = resolve_precision(precision, ws.device)
    if impl == 'mmagic' and precision != 'fp32':
        raise ValueError("impl='mmagic' runs in fp32 only")
    if grad_rows is None:
        grad_rows = _default_grad_rows(ws)
    layers = _Layers(impl, precision, int(grad_rows))
    noise = [
        getattr(generator, f'injected_noise_{i}')
        for i in range(generator.num_injected_noises)
    ]
    rgb_grad = image_grad and torch.is_grad_enabled()
    with precision_context(precision, ws.device):
        out = generator.constant_input(ws)
        out = layers.conv(generator.conv1, out, ws, 0, noise[0])
        skip = None
        if return_image:
            with torch.set_grad_enabled(rgb_grad):
                skip = layers.rgb(generator.to_rgb1, out, ws, 1, None)
        for b in range(1, feat_idx + 1):
            out = _block(generator, ws, out, noise, b, layers)
            if return_image:
                with torch.set_grad_enabled(rgb_grad):
                    skip = layers.rgb(generator.to_rgbs[b - 1], out, ws,
                                      2 * b + 1, skip)
        feat = out.float()
        if not return_image:
            return feat, None
        # the layers past the feature block only render the image
        with torch.set_grad_enabled(rgb_grad):
            img = _rest(generator, ws, out, skip, noise, feat_idx + 1,
                        layers)
    return feat, img


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
             noise: Optional[Tensor]) -> Tensor:
        if self.fast:
            return style_conv(layer, x, ws[:, row], noise, self.precision,
                              const_style=row >= self.grad_rows)
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
