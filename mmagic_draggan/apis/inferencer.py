"""``DragGANInferencer``: DragGAN in the shape of MMagic's inferencers.

MMagic users call a model through an inferencer built once from a config and
a checkpoint (``mmagic/apis/inferencers/base_mmagic_inferencer.py``) and
then called with inputs, optionally writing result files to
``result_out_dir``. This class has that shape::

    inferencer = DragGANInferencer(CONFIG, CKPT)
    out = inferencer(handles=[[24, 32]], targets=[[36, 32]], seed=3,
                     result_out_dir='work_dirs/drag')

It does not subclass ``BaseMMagicInferencer``: that base builds the model
without our checkpoint checks (``load_checkpoint`` non-strict, so a
mismatched file would leave random weights), re-seeds the global RNG
(``set_random_seed``) and runs under ``torch.no_grad()``, while a drag needs
gradients. Instead it is a thin layer over :func:`~.inference.init_model`
(built once, strict loading, random weights only when asked) and
:func:`~.drag.drag` (validation, the session, the result files), the same
API the CLI, the demo and the Runner use.
"""
from typing import Any, Dict, List, Optional, Union

import numpy as np
from mmengine.config import Config
from torch import Tensor

from mmagic_draggan.structures.drag_options import OPTION_NAMES
from mmagic_draggan.structures.points import PointsXY
from .drag import DragOutput, drag
from .inference import init_model

#: Keywords a call passes to :func:`~.drag.drag` besides the drag options.
CALL_PARAMETERS = ('truncation', 'max_steps', 'video', 'overlay', 'fps',
                   'frame_interval', 'overwrite', 'callback', 'progress')


class DragGANInferencer:
    """Drag points on generated or inverted images with one built model.

    Args:
        config (str | Config | dict): Config file, e.g.
            ``configs/draggan/draggan_stylegan2_lions-512x512.py``.
        ckpt (str, optional): Checkpoint path or zoo name; None uses the
            config's checkpoint. It must fit the config (strict loading).
        device (str, optional): ``'cpu'``, ``'cuda'``, ...; None picks CUDA
            when available.
        extra_parameters (dict, optional): Defaults of every call: drag
            options (:data:`~mmagic_draggan.structures.OPTION_NAMES`) and
            :data:`CALL_PARAMETERS`; checked here, before any drag.
        seed (int): Seed of the start image of a call that gives no ``seed``,
            ``latent`` or ``inversion``. Defaults to 0.
        random_weights (bool): Run on seeded random weights (tests,
            benchmarks); without it a missing checkpoint is an error.
        cfg_options (dict, optional): Config overrides
            (``{'model.motion_loss.disc': 'linspace'}``).

    Attributes:
        model (DragGAN): The built model (``model.checkpoint_info`` tells
            what was loaded).
    """

    def __init__(self,
                 config: Union[str, Config, dict],
                 ckpt: Optional[str] = None,
                 device: Optional[str] = None,
                 extra_parameters: Optional[Dict[str, Any]] = None,
                 seed: int = 0,
                 random_weights: bool = False,
                 cfg_options: Optional[dict] = None) -> None:
        self.extra_parameters = self._check_parameters(extra_parameters)
        self.seed = seed
        self.model = init_model(config, ckpt, device=device,
                                random_weights=random_weights,
                                cfg_options=cfg_options)
        self.model.default_options.replace(**{
            k: v for k, v in self.extra_parameters.items()
            if k in OPTION_NAMES})  # bad option values fail here, once

    @staticmethod
    def get_extra_parameters() -> List[str]:
        """The keywords a call (or ``extra_parameters``) accepts besides
        the points, start image, mask and ``result_out_dir``."""
        return list(OPTION_NAMES) + list(CALL_PARAMETERS)

    @classmethod
    def _check_parameters(cls, params: Optional[Dict[str, Any]]
                          ) -> Dict[str, Any]:
        params = dict(params or {})
        unknown = sorted(set(params) - set(cls.get_extra_parameters()))
        if unknown:
            raise ValueError(f'unknown DragGANInferencer parameter(s) '
                             f'{unknown}; known: '
                             f'{cls.get_extra_parameters()}')
        return params

    def __call__(self,
                 handles: PointsXY,
                 targets: PointsXY,
                 seed: Optional[int] = None,
                 latent: Union[Tensor, str, None] = None,
                 inversion: Optional[str] = None,
                 mask: Union[np.ndarray, str, None] = None,
                 result_out_dir: Optional[str] = None,
                 **kwargs) -> DragOutput:
        """Drag ``handles`` to ``targets`` on one start image.

        Args:
            handles (list): Handle points, (N, 2) pixels, **(x, y)** order
                (x = column, y = row), on the start image.
            targets (list): Target points, (N, 2), (x, y).
            seed (int, optional): Start image from this seed.
            latent (Tensor | str, optional): Start W+ latent (1, L, C) or a
                latent file.
            inversion (str, optional): An inversion folder (``tools/
                invert.py``): edit that photo with its tuned weights.
            mask (np.ndarray | str, optional): (H, W), 1 where the image may
                change, or a mask image file.
            result_out_dir (str, optional): Write the result files there, as
                ``tools/drag.py --out-dir`` does (start/result images,
                video, latents, curves, session.json).
            **kwargs: Drag options and :data:`CALL_PARAMETERS` for this call
                (over ``extra_parameters``).

        Returns:
            DragOutput: Final image (H, W, 3) uint8 RGB, latent (1, L, C),
            the session record, the written paths and the live session.

        Raises:
            ValueError: Bad points, mask, latent, options or output folder,
                before any step runs.
        """
        params = {**self.extra_parameters, **self._check_parameters(kwargs)}
        params.setdefault('progress', False)
        params.setdefault('video', 'gif' if result_out_dir else 'none')
        if seed is None and latent is None and inversion is None:
            seed = self.seed
        return drag(self.model, handles, targets, seed=seed, latent=latent,
                    inversion=inversion, mask=mask, out_dir=result_out_dir,
                    handle_sigint=False, **params)


__all__ = ['DragGANInferencer', 'CALL_PARAMETERS']
