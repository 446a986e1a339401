"""Partial synthesis through MMagic's ``StyleGANv2Generator``.

``StyleGANv2Generator.forward`` always runs the whole synthesis. DragGAN's
optimisation only needs the output of one synthesis block (block 5, 128x128),
so :func:`synthesize` walks the generator's own submodules in the same order as
its forward and stops there unless the image is wanted too.

Block index ``b`` counts the 4x4 stage as 0; block ``b >= 1`` has resolution
``4 * 2**b`` and uses latent rows ``2b - 1`` (up-sampling conv) and ``2b``
(conv); its ``to_rgb`` uses row ``2b + 1``. Noise is always the generator's
stored ``injected_noise_*`` buffers (never re-sampled).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn


def num_blocks(generator: nn.Module) -> int:
    """Number of synthesis blocks (4x4 stage included)."""
    return len(generator.to_rgbs) + 1


def synthesize(generator: nn.Module,
               ws: Tensor,
               feat_idx: int,
               return_image: bool = True,
               image_grad: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
    """Run the synthesis network on W+ latents.

    Args:
        generator (nn.Module): A MMagic ``StyleGANv2Generator``.
        ws (Tensor): W+ latents, shape (N, num_latents, style_channels).
        feat_idx (int): Synthesis block whose output is returned.
        return_image (bool): Also finish the synthesis and return the image.
            When False the walk stops after block ``feat_idx``.
        image_grad (bool): Whether the image keeps its autograd graph. With
            False, the layers after block ``feat_idx`` run under
            ``torch.no_grad()`` (the image is only shown, the features are
            what gets optimised), which saves their activations.

    Returns:
        tuple[Tensor, Tensor | None]: Features of block ``feat_idx``, shape
        (N, C_b, 4 * 2**b, 4 * 2**b), and the image (N, 3, H, W) in [-1, 1]
        (None when ``return_image`` is False).
    """
    if ws.ndim != 3 or ws.shape[1] != generator.num_latents:
        raise ValueError(
            f'ws must have shape (N, {generator.num_latents}, '
            f'{generator.style_channels}); got {tuple(ws.shape)}')
    if not 0 <= feat_idx < num_blocks(generator):
        raise ValueError(f'feat_idx must be in [0, {num_blocks(generator)}) '
                         f'for out_size {generator.out_size}; got {feat_idx}')
    noise = [
        getattr(generator, f'injected_noise_{i}')
        for i in range(generator.num_injected_noises)
    ]
    out = generator.constant_input(ws)
    out = generator.conv1(out, ws[:, 0], noise=noise[0])
    skip = generator.to_rgb1(out, ws[:, 1]) if return_image else None
    for b in range(1, feat_idx + 1):
        out = _block(generator, ws, out, noise, b)
        if return_image:
            skip = generator.to_rgbs[b - 1](out, ws[:, 2 * b + 1], skip)
    feat = out
    if not return_image:
        return feat, None
    # the layers past the feature block only render the image
    with torch.set_grad_enabled(image_grad and torch.is_grad_enabled()):
        img = synthesize_rest(generator, ws, out, skip, noise, feat_idx + 1)
    return feat, img


def _block(generator: nn.Module, ws: Tensor, out: Tensor, noise: list,
           b: int) -> Tensor:
    """Block ``b >= 1``: the up-sampling conv (row 2b - 1), then the conv
    (row 2b)."""
    out = generator.convs[2 * b - 2](
        out, ws[:, 2 * b - 1], noise=noise[2 * b - 1])
    return generator.convs[2 * b - 1](out, ws[:, 2 * b], noise=noise[2 * b])


def _finish_image(generator: nn.Module, skip: Tensor) -> Tensor:
    img = skip.float()
    return img.flip(1) if generator.bgr2rgb else img


def synthesize_rest(generator: nn.Module, ws: Tensor, out: Tensor,
                    skip: Tensor, noise: list, first_block: int) -> Tensor:
    """Finish the synthesis from block ``first_block`` on.

    Args:
        out (Tensor): Output of block ``first_block - 1``.
        skip (Tensor): The RGB skip image accumulated up to that block.

    Returns:
        Tensor: The image (N, 3, H, W) in [-1, 1].
    """
    for b in range(first_block, len(generator.to_rgbs) + 1):
        out = _block(generator, ws, out, noise, b)
        skip = generator.to_rgbs[b - 1](out, ws[:, 2 * b + 1], skip)
    return _finish_image(generator, skip)
