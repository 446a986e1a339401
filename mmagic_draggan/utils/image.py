"""Generator images as arrays: the one conversion every front end uses."""
import numpy as np
import torch
from torch import Tensor

__all__ = ['to_uint8_image']


def to_uint8_image(img: Tensor) -> np.ndarray:
    """A generator's image as 8-bit RGB.

    Args:
        img (Tensor): (1, 3, H, W) in [-1, 1] (values outside are clipped).

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB, rounded to nearest.
    """
    img = (img[0].detach().float().cpu().clamp(-1, 1) + 1) * 127.5
    return img.round().to(torch.uint8).permute(1, 2, 0).numpy()
