"""Shared pieces of the inversion stages: image conversions, PSNR, the
progress callback protocol, the tuned-weight delta."""
import copy
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from mmagic_draggan.errors import InvalidInputError

__all__ = ['ProgressCallback', 'StepRecord', 'MAX_PSNR', 'image_to_tensor',
           'psnr_from_mse', 'mse01', 'synthesis_keys',
           'synthesis_delta', 'apply_synthesis_delta', 'with_noise_maps']

#: ``callback(stage, step, total, loss, psnr, preview) -> Optional[bool]``;
#: ``step`` counts from 1 within the stage, ``preview`` is an (H, W, 3)
#: uint8 image every ``preview_interval`` steps (else None); returning
#: False stops after this step.
ProgressCallback = Callable[[str, int, int, float, float, Optional[np.ndarray]],
                            Optional[bool]]


@dataclass
class StepRecord:
    """One optimisation step.

    Attributes:
        stage (str): ``'projection'``, ``'wplus'`` or ``'tuning'``.
        step (int): Step within the stage, from 1.
        loss (float): The optimised loss (regulariser included).
        psnr (float): PSNR (dB, images in [0, 1]) of this step's render.
        mse (float): Pixel MSE of that render, images in [-1, 1].
        lpips (float | None): LPIPS of that render, when used.
        lr (float): Learning rate of the step.
        seconds (float): Wall time of the step.
    """
    stage: str
    step: int
    loss: float
    psnr: float
    mse: float
    lpips: Optional[float]
    lr: float
    seconds: float

    def as_dict(self) -> dict:
        return dict(stage=self.stage, step=self.step, loss=self.loss,
                    psnr=self.psnr, mse=self.mse, lpips=self.lpips,
                    lr=self.lr, seconds=self.seconds)


def image_to_tensor(image: np.ndarray, device=None) -> Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 in [-1, 1]."""
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8
            and image.ndim == 3 and image.shape[2] == 3):
        raise InvalidInputError('image must be an (H, W, 3) uint8 array; got '
                                f'{getattr(image, "dtype", type(image))} '
                                f'{getattr(image, "shape", "")}')
    t = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)
    t = t[None].float().div(127.5).sub(1.)
    return t if device is None else t.to(device)


def mse01(img: Tensor, target: Tensor) -> Tensor:
    """Pixel MSE on the [0, 1] scale of two [-1, 1] images (a scalar)."""
    return (img.float() - target.float()).square().mean() / 4.


#: PSNR reported for (near) identical images, dB.
MAX_PSNR = 100.


def psnr_from_mse(mse_01: float) -> float:
    """PSNR in dB of an MSE on the [0, 1] scale, capped at
    :data:`MAX_PSNR`."""
    mse_01 = float(mse_01)
    if not mse_01 > 10**(-MAX_PSNR / 10):
        return MAX_PSNR
    return -10. * math.log10(mse_01)


def synthesis_keys(generator: nn.Module) -> List[str]:
    """Names of the synthesis parameters (all but the mapping network)."""
    return [
        name for name, _ in generator.named_parameters()
        if not name.startswith('style_mapping.')
    ]


def synthesis_delta(base: nn.Module, tuned: nn.Module) -> Dict[str, Tensor]:
    """``tuned - base`` for every ``state_dict`` entry that differs.

    Args:
        base (nn.Module): The generator before tuning.
        tuned (nn.Module): Its tuned copy (same architecture).

    Returns:
        dict[str, Tensor]: float32 CPU deltas, only for changed keys.
    """
    b_sd, t_sd = base.state_dict(), tuned.state_dict()
    if set(b_sd) != set(t_sd):
        raise InvalidInputError(
            'the tuned generator has other state-dict keys than '
            'the base one')
    out = {}
    for key, b in b_sd.items():
        t = t_sd[key]
        if not b.is_floating_point() or torch.equal(b, t):
            continue
        out[key] = (t.detach().float() - b.detach().float()).cpu()
    return out


def apply_synthesis_delta(generator: nn.Module,
                          delta: Dict[str, Tensor]) -> nn.Module:
    """A copy of ``generator`` with ``delta`` added to its weights.

    The given generator is not modified.

    Args:
        generator (nn.Module): The base generator (the one the delta was
            made on).
        delta (dict[str, Tensor]): ``tuned - base`` per state-dict key.

    Returns:
        nn.Module: The tuned generator (a deep copy, same device, frozen).

    Raises:
        ValueError: A delta key the generator lacks, or a shape mismatch.
    """
    tuned = copy.deepcopy(generator)
    sd = tuned.state_dict()
    bad = sorted(k for k in delta if k not in sd)
    if bad:
        raise InvalidInputError(
            f'the tuned-weight delta names keys this generator '
            f'lacks: {bad[:5]}; was it made with another '
            'config?')
    with torch.no_grad():
        for key, d in delta.items():
            target = sd[key]
            if tuple(target.shape) != tuple(d.shape):
                raise InvalidInputError(
                    f'delta {key!r} has shape {tuple(d.shape)}, the '
                    f'generator {tuple(target.shape)}')
            target.add_(d.to(device=target.device, dtype=target.dtype))
    return tuned.eval().requires_grad_(False)


def with_noise_maps(generator: nn.Module,
                    noises: Sequence[Tensor]) -> nn.Module:
    """A shallow view of ``generator`` whose ``injected_noise_*`` are
    ``noises`` (e.g. maps being optimised); every other buffer, parameter
    and submodule is shared, and ``generator`` itself is not changed.

    Args:
        generator (nn.Module): A MMagic ``StyleGANv2Generator``.
        noises (list[Tensor]): One map per ``injected_noise_i``, shape
            (1, 1, h_i, w_i).
    """
    if len(noises) != generator.num_injected_noises:
        raise InvalidInputError(f'{generator.num_injected_noises} noise maps '
                                f'needed; got {len(noises)}')
    view = copy.copy(generator)
    view._buffers = dict(generator._buffers)
    for i, n in enumerate(noises):
        view._buffers[f'injected_noise_{i}'] = n
    return view
