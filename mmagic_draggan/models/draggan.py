"""The ``DragGAN`` editor model."""
import copy
import os
from collections import OrderedDict
from dataclasses import replace
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.fileio.inversion_file import (InversionFile,
                                                  inversion_file_limit,
                                                  read_inversion)
from mmagic_draggan.fileio.latent import check_latent, read_latent
from mmagic_draggan.fileio.session_file import ResumeInfo
from mmagic_draggan.registry import MODELS
from mmagic_draggan.structures.drag_options import DragOptions
from mmagic_draggan.structures.start_image import StartImage
from mmagic_draggan.checkpoints.loader import (CheckpointError,
                                               load_generator_state)
from mmagic_draggan.utils.fingerprint import (config_fingerprint,
                                              weights_fingerprint)
from mmagic_draggan.utils.memory import release_freed_memory
from mmagic_draggan.utils.paths import portable_path
from .drag_session import DragSession
from .drag_task_runner import run_tasks
from .feature_maps import FeatureMap, WindowedFeatureMap, build_feature_map
from .feature_windows import (Box, feature_box_size,
                              image_box_to_feature_box)
from .inversion.common import apply_synthesis_delta
from .stylegan2_synthesis import (num_blocks, synthesize, synthesize_bands,
                                  synthesize_windows)

ModelType = Union[dict, nn.Module]


def _build(cfg: ModelType) -> nn.Module:
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg


@MODELS.register_module()
class DragGAN(BaseModel):
    """DragGAN: interactive point-based editing of a StyleGAN2 image.

    "Drag Your GAN: Interactive Point-based Manipulation on the Generative
    Image Manifold", Pan et al., SIGGRAPH 2023 (arXiv 2305.10973).

    The model holds the generator and the algorithm's components and
    defaults; the editing state lives in a :class:`DragSession` made by
    :meth:`new_session`, which CLI, demo and Runner all use.

    The drag options of the config (``latent_space``, ``num_opt_latents``,
    ``lr``, ``stop_distance``, ``max_steps``, ``mode`` here; ``r1`` and
    ``lambda_mask`` of ``motion_loss``; ``r2`` and ``metric`` of
    ``tracker``) become :attr:`default_options`, a
    :class:`~mmagic_draggan.structures.DragOptions`.

    Args:
        generator (dict | nn.Module): A MMagic ``StyleGANv2Generator`` (config
            or module). Needs a ``w_avg`` buffer for truncation
            (``update_mean_latent_with_ema=True``).
        motion_loss (dict | nn.Module): Motion-supervision loss. Defaults to
            ``dict(type='MotionSupervisionLoss')`` (r1 auto, lambda 20).
        tracker (dict | nn.Module): Point tracker. Defaults to
            ``dict(type='NearestNeighbourTracker')`` (r2 auto, L2).
        feat_idx (int): Synthesis block of the features (4x4 stage = 0).
            Defaults to 5 (the 128x128 block).
        latent_space (str): ``'w+'`` optimises the first ``num_opt_latents``
            rows of W+; ``'w'`` one 512-vector shared by those rows.
            Defaults to ``'w+'``.
        num_opt_latents (int): Number of optimised latent rows. Defaults to 6.
        lr (float): Adam learning rate. Defaults to 1e-3.
        truncation (float): Truncation psi for latents made from a seed.
            Defaults to 0.7.
        stop_distance (float, optional): A drag has converged when every
            handle is within this many pixels of its target. None means
            ``max(2 * H / 512, 2)``. Defaults to None.
        max_steps (int): Step limit of one :meth:`DragSession.run`.
            Defaults to 300.
        mode (str): ``'fast'`` (synthesis stopped at the feature block,
            which is synthesised only around the handles unless a mask term
            needs all of it; features read lazily at the needed pixels;
            image rendered only on demand, in bands) or ``'exact'`` (full
            synthesis and a dense image-size feature map each step,
            docs/algorithm.md literally). Defaults to ``'fast'``.
        drag_hooks (list[dict], optional): Drag hooks (``HOOKS``) that every
            session gets. Defaults to None.
        data_preprocessor (dict, optional): Unused by drags; kept for the
            MMEngine ``BaseModel`` interface.
        init_cfg (dict, optional): MMEngine initialisation config;
            ``dict(type='Pretrained', checkpoint=PATH)`` loads weights on
            ``init_weights()``.

    Weights: every MMEngine path that loads a state dict into the model
    (``load_from`` / ``Runner.load_checkpoint``, ``init_cfg`` ``Pretrained``,
    ``model.load_state_dict``) goes through a load hook that finds the
    generator in any MMagic layout (whole GAN with ``generator_ema.module.``
    / ``generator_ema.`` / ``generator.`` keys, EMA first, or bare generator
    keys) and loads it strictly with
    :func:`~mmagic_draggan.checkpoints.loader.load_generator_state`, the code
    ``init_model`` uses for files; a checkpoint that does not fit raises
    :class:`~mmagic_draggan.checkpoints.loader.CheckpointError`. Until weights
    are loaded (or random weights asked for, ``init_model(...,
    random_weights=True)``), :attr:`checkpoint_info` is None and
    :meth:`predict` refuses to run.
    """

    def __init__(self,
                 generator: ModelType,
                 motion_loss: ModelType = dict(type='MotionSupervisionLoss'),
                 tracker: ModelType = dict(type='NearestNeighbourTracker'),
                 feat_idx: int = 5,
                 latent_space: str = 'w+',
                 num_opt_latents: int = 6,
                 lr: float = 1e-3,
                 truncation: float = 0.7,
                 stop_distance: Optional[float] = None,
                 max_steps: int = 300,
                 mode: str = 'fast',
                 precision: str = 'fp32',
                 drag_hooks: Optional[List[dict]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.generator = _build(generator)
        self.motion_loss = _build(motion_loss)
        self.tracker = _build(tracker)
        self.generator.eval().requires_grad_(False)
        if not 0 <= feat_idx < num_blocks(self.generator):
            raise InvalidInputError(
                f'feat_idx={feat_idx} does not exist for out_size '
                f'{self.generator.out_size}: choose 0..'
                f'{num_blocks(self.generator) - 1} (5 is the 128x128 block)')
        self.feat_idx = int(feat_idx)
        self.truncation = float(truncation)
        self.drag_hooks = list(drag_hooks or [])
        #: the session defaults (DragOptions), from this config
        self.default_options = DragOptions(
            latent_space=latent_space, num_opt_latents=num_opt_latents,
            lr=lr, stop_distance=stop_distance, max_steps=max_steps,
            mode=mode, r1=self.motion_loss.r1,
            lambda_mask=self.motion_loss.lambda_mask, r2=self.tracker.r2,
            metric=self.tracker.metric, precision=precision)
        self.default_options.check_latents(self.num_latents)
        #: what the generator's weights are: the info dict of
        #: ``load_generator_state`` (or ``dict(random_weights=True, seed=..)``
        #: from ``init_model``); None until loaded
        self.checkpoint_info: Optional[dict] = None
        self.register_load_state_dict_pre_hook(_adopt_generator_state)

    # ------------------------------------------------------------------
    # facts
    @property
    def image_size(self) -> int:
        """Output side H = W in pixels."""
        return int(self.generator.out_size)

    @property
    def num_latents(self) -> int:
        """Rows of a W+ latent."""
        return int(self.generator.num_latents)

    @property
    def style_channels(self) -> int:
        return int(self.generator.style_channels)

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    # ------------------------------------------------------------------
    # latents and rendering
    @torch.no_grad()
    def latent_from_seed(self,
                         seed: int,
                         truncation: Optional[float] = None) -> Tensor:
        """The W+ latent of a seed: ``z ~ N(0, I)`` from a private RNG, the
        mapping network, then truncation towards ``w_avg``.

        Args:
            seed (int): Random seed (the global RNG is not touched).
            truncation (float, optional): psi; defaults to the model's.

        Returns:
            Tensor: W+ latent, shape (1, num_latents, style_channels).
        """
        psi = self.truncation if truncation is None else float(truncation)
        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(1, self.generator.noise_size, generator=gen)
        w = self.generator.style_mapping(z.to(self.device))
        if psi != 1:
            if not hasattr(self.generator, 'w_avg'):
                raise InvalidInputError(
                    'truncation needs the generator buffer w_avg; build the '
                    'generator with update_mean_latent_with_ema=True and load '
                    'a checkpoint that holds it, or use truncation=1')
            w_avg = self.generator.w_avg
            w = w_avg + psi * (w - w_avg)
        return w[:, None].repeat(1, self.num_latents, 1)

    @property
    def latent_shape(self) -> Tuple[int, int, int]:
        """The W+ shape (1, num_latents, style_channels)."""
        return (1, self.num_latents, self.style_channels)

    def check_latent(self, latent: Tensor) -> Tensor:
        """Validate a W+ latent; returns it as (1, L, C) float on device."""
        return check_latent(latent, self.latent_shape).to(self.device)

    def features(self,
                 ws: Tensor,
                 mode: str = 'fast',
                 return_image: bool = False,
                 grad_rows: Optional[int] = None,
                 precision: str = 'fp32',
                 windows: Optional[Sequence[Box]] = None
                 ) -> Tuple[FeatureMap, Optional[Tensor]]:
        """Features ``F`` (and optionally the image) of W+ latents.

        Args:
            ws (Tensor): W+ latents, shape (1, num_latents, style_channels).
            mode (str): ``'fast'``: stop the synthesis at the feature block
                (unless the image is wanted) and read ``F`` lazily.
                ``'exact'``: the generator's own full forward with
                ``return_features=True`` and a dense ``F``.
            return_image (bool): Also return the image.
            grad_rows (int, optional): Rows ``>= grad_rows`` of ``ws`` are
                constant (see :func:`.stylegan2_synthesis.synthesize`).
            precision (str): Synthesis precision of ``'fast'`` mode
                (``'fp32'``, ``'bf16'``, ``'tf32'``, see
                :func:`.modulated_conv.resolve_precision`); ``'exact'`` mode
                always runs MMagic's fp32 forward. Defaults to ``'fp32'``.
            windows (Sequence[Box], optional): Image boxes ``(row0, row1,
                col0, col1)`` (half-open pixels) outside which ``F`` will not
                be read. In ``'fast'`` mode without the image the synthesis
                then runs the feature block only where those pixels need it
                (:func:`.stylegan2_synthesis.synthesize_windows`) and ``F``
                is a :class:`WindowedFeatureMap`; ignored otherwise.

        Returns:
            tuple[FeatureMap, Tensor | None]: ``F`` at image size (C, H, W)
            and the image (1, 3, H, W) in [-1, 1] (always given in
            ``'exact'`` mode).
        """
        size = (self.image_size, self.image_size)
        if mode == 'exact':
            out = self.generator([ws], input_is_latent=True,
                                 randomize_noise=False, return_latents=True,
                                 return_features=True, feat_idx=self.feat_idx)
            return build_feature_map(out['feats'], size, dense=True), \
                out['fake_img']
        windows = [b for b in windows or () if b[1] > b[0] and b[3] > b[2]]
        if windows and not return_image:
            side = 4 * 2**self.feat_idx
            boxes = [image_box_to_feature_box(b, (side, side), size)
                     for b in windows]
            crops = synthesize_windows(
                self.generator, ws, self.feat_idx, boxes,
                grad_rows=grad_rows, precision=precision,
                box_size=feature_box_size(windows, (side, side), size))
            return WindowedFeatureMap(crops, (side, side), size), None
        feat, img = synthesize(self.generator, ws, self.feat_idx,
                               return_image=return_image, image_grad=False,
                               grad_rows=grad_rows, precision=precision)
        return build_feature_map(feat, size, dense=False), img

    @torch.no_grad()
    def render(self,
               ws: Tensor,
               grad_rows: Optional[int] = None,
               precision: str = 'fp32') -> Tensor:
        """The image of W+ latents, (N, 3, H, W) in [-1, 1].

        The large last blocks run one band of rows at a time
        (:func:`.stylegan2_synthesis.synthesize_bands`: the same image up to
        float rounding, a fraction of the memory of a whole-map synthesis).

        Args:
            ws (Tensor): W+ latents, (N, num_latents, style_channels).
            grad_rows (int, optional): As in :meth:`features`; a session
                passes its ``num_opt_latents`` so that its renders equal the
                images its steps show, bit for bit.
            precision (str): As in :meth:`features` (a session passes its
                own, for the same reason). Defaults to ``'fp32'``.
        """
        img = synthesize_bands(self.generator, ws.to(self.device),
                               grad_rows=grad_rows, precision=precision)
        release_freed_memory()
        return img

    # ------------------------------------------------------------------
    # inversions (a photo's pivot latent and tuned weights)
    def _describe_weights(self) -> str:
        info = getattr(self, 'checkpoint_info', None) or {}
        cfg = getattr(getattr(self, 'cfg', None), 'filename', None)
        ckpt = 'random weights' if info.get('random_weights') else \
            (portable_path(info.get('path')) or 'unknown weights')
        return f'{portable_path(cfg) or "an unnamed config"}, {ckpt}'

    def check_inversion(self, inversion: InversionFile,
                        name: str = 'the inversion') -> None:
        """Refuse an inversion made on other base weights or another config.

        Raises:
            ValueError: Naming both the inversion's and this model's config
                and weights, and the fix.
        """
        weights = 'random weights' if inversion.random_weights else \
            inversion.checkpoint
        made = f'{inversion.config or "an unnamed config"}, {weights}'

        if tuple(inversion.latent.shape) != self.latent_shape:
            raise InvalidInputError(
                f'{name} has a latent of shape '
                f'{tuple(inversion.latent.shape)} (made with {made}) but this '
                f'model needs {self.latent_shape} ({self._describe_weights()})'
                '; use the config it was made with')
        cfg = getattr(self, 'cfg', None)
        problems = []
        if cfg is not None and 'model' in cfg and \
                inversion.config_fingerprint and \
                config_fingerprint(cfg.model) != inversion.config_fingerprint:
            problems.append('another generator config')
        if inversion.base_fingerprint != weights_fingerprint(self.generator):
            problems.append('other base weights')
        if problems:
            raise InvalidInputError(
                f'{name} was made with {made}, but this model has '
                f'{" and ".join(problems)} ({self._describe_weights()}). '
                'Drag it with the config and weights it was made with, or '
                'invert the photo again with these (tools/invert.py)')

    def tuned(self, inversion: InversionFile) -> 'DragGAN':
        """A view of this model whose generator carries an inversion's tuned
        weights: a private copy of the generator plus the delta; everything
        else (loss, tracker, defaults, config) is shared. This model's own
        generator is never modified.

        Returns:
            DragGAN: The view (``self`` when the inversion has no delta).
        """
        if not inversion.synthesis_delta:
            return self
        gen = apply_synthesis_delta(self.generator, inversion.synthesis_delta)
        view = copy.copy(self)
        view.__dict__['_modules'] = OrderedDict(self._modules)
        view.generator = gen.eval().requires_grad_(False)
        return view

    # ------------------------------------------------------------------
    # sessions
    def new_session(self,
                    latent: Optional[Tensor] = None,
                    seed: Optional[int] = None,
                    truncation: Optional[float] = None,
                    hooks: Optional[Sequence] = None,
                    inversion: Union[str, InversionFile, None] = None,
                    *,
                    start: Optional[StartImage] = None,
                    inversion_file: Optional[str] = None,
                    resume: Optional[ResumeInfo] = None,
                    **options) -> 'DragSession':
        """Start an editing session (see :class:`DragSession`).

        The start is ``start``, or else ``latent`` / ``seed`` (with
        ``truncation``) / ``inversion``, checked by
        :meth:`StartImage.create` (one of them is required). Files it names
        are read here, once: a latent file with this model's shape, an
        inversion within the size its delta can have.

        Args:
            latent (Tensor | str, optional): W+ latent (1, L, C) to start
                from, or its ``.pt``/``.pth``/``.npy`` file.
            seed (int, optional): Seed to make the latent from.
            truncation (float, optional): psi for ``seed``.
            hooks (list, optional): Extra drag hooks (configs or objects).
            inversion (str | InversionFile, optional): An ``inversion.pth``
                (``tools/invert.py``) or its content: the session drags the
                photo with the tuned weights (a private copy) and starts at
                the pivot unless ``latent`` is given (a resumed drag).
            start (StartImage, optional): The start as one value, instead
                of the four above.
            inversion_file (str, optional): The inversion's file, for the
                record, when ``inversion`` is given as content (a path
                names itself).
            resume (ResumeInfo, optional): The earlier session this one
                continues (steps, history, time and its seed carry on into
                the record).
            **options: Overrides of :attr:`default_options` (any
                :class:`~mmagic_draggan.structures.DragOptions` field).

        Raises:
            ValueError: A bad start, options, latent or inversion (e.g. made
                on other weights: the message names both).
        """
        if start is None:
            start = StartImage.create(seed=seed, latent=latent,
                                      inversion=inversion,
                                      truncation=truncation,
                                      default_seed=None)
        elif any(v is not None for v in (latent, seed, truncation,
                                          inversion)):
            raise InvalidInputError(
                'give start= or latent= / seed= / truncation= / '
                'inversion=, not both')
        model, inv = self, start.inversion
        if inv is not None:
            if not isinstance(inv, InversionFile):
                inversion_file = inversion_file or str(inv)
                inv = read_inversion(str(start.inversion),
                                     inversion_file_limit(self.generator))
            self.check_inversion(inv, repr(inversion_file)
                                 if inversion_file else 'the inversion')
            model = self.tuned(inv)
        latent = start.latent
        if isinstance(latent, (str, os.PathLike)):
            latent = read_latent(latent, self.latent_shape)
        elif latent is None and inv is not None:
            latent = inv.latent
        return DragSession(model, replace(start, latent=latent,
                                          inversion=inv),
                           hooks, inversion_file=inversion_file,
                           resume=resume, **options)

    def forward(self, inputs, data_samples=None, mode: str = 'predict'):
        """MMEngine entry point; drags run through ``predict``."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise NotImplementedError(
            f"DragGAN has no '{mode}' mode: it edits, it does not train; use "
            "mode='predict' or a DragSession")

    def predict(self, inputs, data_samples=None):
        """Run one drag per task (see :mod:`.drag_task_runner`).

        Raises:
            CheckpointError: No weights were loaded and random weights were
                not asked for (a Runner without ``load_from``).
        """
        if self.checkpoint_info is None:
            raise CheckpointError(
                'the DragGAN model has no weights loaded (its generator is '
                'randomly initialised): pass a checkpoint (tools/test.py '
                'CONFIG CHECKPOINT, MMagic\'s tools/test.py CONFIG '
                'CHECKPOINT, load_from=PATH or init_cfg=dict('
                "type='Pretrained', checkpoint=PATH)), or ask for random "
                'weights (tools/test.py CONFIG none)')
        return run_tasks(self, inputs)


def _adopt_generator_state(model: DragGAN, state_dict: dict, prefix: str,
                           *args) -> None:
    """Load-state-dict pre-hook of :class:`DragGAN` (see its docstring).

    Loads the generator found among ``state_dict``'s keys under ``prefix``
    (any MMagic layout) into ``model.generator``, strictly, and replaces
    those keys in place by the model's own ``generator.*`` keys (now holding
    the loaded values), so the rest of PyTorch's or MMEngine's loading finds
    neither missing nor unexpected keys.

    Raises:
        CheckpointError: No generator among the keys, or one that does not
            fit.
    """
    own = {k[len(prefix):]: v for k, v in state_dict.items()
           if k.startswith(prefix)}
    cfg = getattr(getattr(model, 'cfg', None), 'filename', None)
    info = load_generator_state(model.generator, own,
                                'the loaded state dict', config_hint=cfg)
    for key in own:
        del state_dict[prefix + key]
    for key, value in model.generator.state_dict().items():
        state_dict[f'{prefix}generator.{key}'] = value
    model.checkpoint_info = dict(info, path=None, source='state_dict',
                                 random_weights=False)


__all__ = ['DragGAN']
