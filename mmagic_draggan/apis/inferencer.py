"""``DragGANInferencer``: DragGAN in the shape of MMagic's inferencers.

MMagic users call a model through an inferencer built once from a config and
a checkpoint (``mmagic/apis/inferencers/base_mmagic_inferencer.py``) and
then called with keyword inputs, optionally writing result files to
``result_out_dir``. This class has that shape::

    inferencer = DragGANInferencer(CONFIG, CKPT,
                                   extra_parameters=dict(max_steps=200))
    out = inferencer(handles=[[24, 32]], targets=[[36, 32]], seed=3,
                     result_out_dir='work_dirs/drag')
    out.image                           # (H, W, 3) uint8 RGB
    inferencer.get_extra_parameters()   # what a call accepts

Why it does not subclass ``BaseMMagicInferencer``: that base would take
over the parts of the job our one code path already does, differently.

* It builds the model itself (``MODELS.build`` + mmengine's
  ``load_checkpoint``, which is non-strict: a checkpoint that does not fit
  leaves random weights with only a warning, and ``ckpt=None`` silently
  means random weights). Ours go through :func:`~.inference.init_model`:
  strict loading, the config's checkpoint by default, random weights only
  when asked, ``cfg_options``.
* It calls ``set_random_seed`` (global Python/NumPy/torch RNGs) in
  ``__init__``; ours leaves the global RNG alone (the start image comes
  from ``seed`` per call).
* Its ``__call__`` runs under ``torch.no_grad()`` (unless a call passes
  ``extra_parameters=dict(infer_with_grad=True)``), and a drag optimises a
  latent; its class-level ``extra_parameters`` dict is shared by every
  instance and updated in place by calls.
* Its ``visualize`` writes one image to ``result_out_dir``; a drag writes a
  session bundle (start and result images, trajectory, latents, curves,
  ``session.json``), written by :func:`~.drag.drag`'s one bundle writer.

So the public shape is mirrored instead: ``__init__(config, ckpt, device,
extra_parameters, seed, ...)``, ``__call__(**inputs)``,
:meth:`~DragGANInferencer.preprocess` (the call's :func:`~.drag.drag`
arguments, no model work), :meth:`~DragGANInferencer.forward` (one
:func:`~.drag.drag` on the built model, which also writes the files) and
:meth:`~DragGANInferencer.get_extra_parameters`. There is no separate
``visualize``/``postprocess``: the files are written inside the drag by the
shared writer (splitting them out would duplicate it), and the result is
already the typed :class:`~.drag.DragOutput` (images, latent, record,
paths, trajectory frames), which a call returns as it is.

Points are ``[[x, y], ...]`` image pixels everywhere here (x = column,
y = row, origin at the top-left pixel centre), as in
:mod:`mmagic_draggan.structures.points`; the conversion to (row, col)
happens once, inside the session.
"""
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from torch import Tensor

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.structures.drag_options import OPTION_NAMES, DragOptions
from mmagic_draggan.structures.points import PointsXY
from mmagic_draggan.structures.start_image import StartImage
from .drag import DragOutput, drag
from .inference import init_model

#: Keywords a call passes to :func:`~.drag.drag` besides the drag options
#: (:data:`~mmagic_draggan.structures.OPTION_NAMES`, ``max_steps`` among
#: them).
CALL_PARAMETERS = ('truncation', 'video', 'overlay', 'fps', 'frame_interval',
                   'overwrite', 'callback', 'progress', 'handle_sigint')


class DragGANInferencer:
    """Drag points on generated or inverted images with one built model.

    `Drag Your GAN <https://arxiv.org/abs/2305.10973>`_, called the way
    MMagic's inferencers are: built once, then called with keyword inputs.

    Args:
        config (str | Config | dict): Config file, e.g.
            ``configs/draggan/draggan_stylegan2_lions-512x512.py``.
        ckpt (str, optional): Checkpoint path or zoo name; None uses the
            config's checkpoint (an error when it has none and
            ``random_weights`` is False). It must fit the config (strict
            loading). Defaults to None.
        device (str, optional): ``'cpu'``, ``'cuda'``, ``'cuda:1'``; None
            picks CUDA when available. Defaults to None.
        extra_parameters (dict, optional): Defaults of every call: drag
            options (:data:`~mmagic_draggan.structures.OPTION_NAMES`:
            ``lr``, ``max_steps``, ``stop_distance``, ...) and
            :data:`CALL_PARAMETERS`. Names and option values are checked
            here, before the model is built. Defaults to None.
        seed (int): Seed of the start image of a call that gives none of
            ``seed``, ``latent`` or ``inversion``. The global RNG is not
            touched. Defaults to 0.
        random_weights (bool): Run on seeded random weights (tests,
            benchmarks); must be given to run without a checkpoint.
            Defaults to False.
        cfg_options (dict, optional): Config overrides
            (``{'model.motion_loss.r1': 3}``). Defaults to None.

    Attributes:
        model (DragGAN): The built model, in eval mode
            (``model.checkpoint_info`` tells what was loaded).
        extra_parameters (dict): This instance's call defaults (a copy;
            calls do not change it).
        seed (int): The default start seed.

    Raises:
        ValueError: Unknown ``extra_parameters`` names or bad option values
            (before the build); a bad config or device.
        CheckpointError: No checkpoint where one is needed, or one that does
            not fit the config.
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
        # option values fail here, before a checkpoint is read
        DragOptions.create({
            k: v
            for k, v in self.extra_parameters.items() if k in OPTION_NAMES
        })
        self.seed = seed
        self.model = init_model(config, ckpt, device=device,
                                random_weights=random_weights,
                                cfg_options=cfg_options)

    @staticmethod
    def get_extra_parameters() -> List[str]:
        """The keywords a call (or ``extra_parameters``) accepts besides
        the points, the start image, the mask and ``result_out_dir``.

        Returns:
            list[str]: The drag options, then :data:`CALL_PARAMETERS`.
        """
        return list(OPTION_NAMES) + list(CALL_PARAMETERS)

    @classmethod
    def _check_parameters(cls, params: Optional[Dict[str, Any]]
                          ) -> Dict[str, Any]:
        params = dict(params or {})
        unknown = sorted(set(params) - set(cls.get_extra_parameters()))
        if unknown:
            raise InvalidInputError(f'unknown DragGANInferencer parameter(s) '
                                    f'{unknown}; known: '
                                    f'{cls.get_extra_parameters()}')
        return params

    def preprocess(self,
                   handles: PointsXY,
                   targets: PointsXY,
                   *,
                   seed: Optional[int] = None,
                   latent: Union[Tensor, str, None] = None,
                   inversion: Optional[str] = None,
                   mask: Union[np.ndarray, str, None] = None,
                   result_out_dir: Optional[str] = None,
                   **kwargs) -> Dict[str, Any]:
        """The :func:`~.drag.drag` keyword arguments of one call.

        Merges the call's keywords over ``extra_parameters``, fills the
        inferencer's defaults and makes the start image
        (:meth:`StartImage.create`, the inferencer's ``seed`` when the call
        names none); no model work. The other values are checked by
        :func:`~.drag.drag` (in :meth:`forward`), before any step runs.
        Arguments as :meth:`__call__`.

        Returns:
            dict: ``handles``, ``targets``, ``start``, ``mask``,
            ``out_dir`` and the options.

        Raises:
            ValueError: An unknown keyword or a bad start.
        """
        params = {**self.extra_parameters, **self._check_parameters(kwargs)}
        out_dir = result_out_dir or None  # MMagic's "no output" is ''
        params.setdefault('progress', False)
        params.setdefault('video', 'gif' if out_dir else 'none')
        params.setdefault('handle_sigint', False)
        start = StartImage.create(seed=seed, latent=latent,
                                  inversion=inversion,
                                  truncation=params.pop('truncation', None),
                                  default_seed=self.seed)
        return dict(handles=handles, targets=targets, start=start,
                    mask=mask, out_dir=out_dir, **params)

    def forward(self, inputs: Dict[str, Any]) -> DragOutput:
        """Run one drag on the built model (and write its files).

        Gradients are enabled even under a caller's ``torch.no_grad()`` or
        ``torch.inference_mode()`` (as in an OpenMMLab test loop).

        Args:
            inputs (dict): :meth:`preprocess`'s output.

        Returns:
            DragOutput: As :meth:`__call__`.
        """
        with torch.inference_mode(False), torch.enable_grad():
            return drag(self.model, **inputs)

    def __call__(self, handles: PointsXY, targets: PointsXY,
                 **inputs: Any) -> DragOutput:
        """Drag ``handles`` to ``targets`` on one start image.

        A thin layer over :func:`~.drag.drag` with the built model: the
        same checks, session and files. The keywords (all keyword-only) are
        those of :meth:`preprocess`, which also takes the drag options.

        Args:
            handles (list | np.ndarray): Handle points, (N, 2) image pixels
                in **(x, y)** order (x = column, y = row), on the start
                image.
            targets (list | np.ndarray): One target per handle, (N, 2),
                (x, y).
            seed (int, optional): Start image from this seed; None (with no
                ``latent``/``inversion``) uses the inferencer's ``seed``.
            latent (Tensor | str, optional): Start W+ latent (1, L, C), or a
                ``.pt`` file holding one (e.g. an earlier ``latent.pt``).
            inversion (str, optional): An ``inversion.pth`` of a photo
                (``tools/invert.py``): edit that photo with its tuned
                weights, from its pivot latent.
            mask (np.ndarray | str, optional): Editable region, (H, W),
                nonzero where the image may change, or a mask image file
                (white = may change).
            result_out_dir (str, optional): Folder for the result files,
                written exactly as ``drag(out_dir=...)`` writes them
                (``start.png``, ``result.png``, ``trajectory.gif``,
                ``latent.pt``, ``curves.png``, ``session.json``, ...). None
                or ``''`` writes nothing.
            **kwargs: Drag options and :data:`CALL_PARAMETERS` for this call
                only (over ``extra_parameters``). Unlike :func:`~.drag.drag`
                the defaults are ``progress=False``,
                ``handle_sigint=False`` and ``video='none'`` without
                ``result_out_dir`` (no trajectory frames are recorded).

        Returns:
            DragOutput: ``image`` (H, W, 3) uint8 RGB after the drag,
            ``start_image`` (H, W, 3) before it, ``latent`` (1, L, C) on the
            CPU, ``record`` (what ``session.json`` holds: final handles as
            (x, y), distances, steps, ``stop_reason``), ``paths`` (written
            files by kind; empty without ``result_out_dir``), ``frames``
            and the live ``session``.

        Raises:
            ValueError: Bad points (not (x, y) pairs, outside the image,
                unequal counts), start, mask, latent, options or output
                folder; raised before any step runs or file is written.
        """
        return self.forward(self.preprocess(handles, targets, **inputs))


__all__ = ['DragGANInferencer', 'CALL_PARAMETERS']
