"""Headless DragGAN: one call drags points and writes the results.

For notebooks and pipelines; ``tools/drag.py`` is an argparse layer over
this module. Points are ``[[x, y], ...]`` image pixels (x = column, y = row).
Example::

    from mmagic_draggan.apis.drag import drag, resume_drag
    out = drag('configs/draggan/draggan_stylegan2_lions-512x512.py',
               handles=[[250, 200]], targets=[[300, 200]], seed=42,
               out_dir='outputs/drag/lion')
    out.image            # (512, 512, 3) uint8 RGB
    out.record['mean_distance'], out.paths['video']
    more = resume_drag('outputs/drag/lion/session.json', max_steps=100,
                       out_dir='outputs/drag/lion-2')

Files written to ``out_dir``: a session bundle
(:mod:`mmagic_draggan.fileio.bundle`: ``start.png``, ``result.png``,
``trajectory.gif`` / ``.mp4`` (one frame per step, points drawn unless
``overlay=False``), ``latent.pt`` (final W+, (1, L, C)), ``start_latent.pt``
(when the drag began from a latent), ``mask.png`` (when a mask was used),
``curves.png`` and ``session.json``, written last).
"""
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from mmagic_draggan.fileio.bundle import (BundleContent, check_bundle_dir,
                                          write_bundle)
from mmagic_draggan.fileio.latent import read_latent
from mmagic_draggan.fileio.mask import check_mask, read_mask
from mmagic_draggan.fileio.session_file import read_session
from mmagic_draggan.structures.drag_options import DragOptions
from mmagic_draggan.structures.points import PointsXY, check_point_pairs
from mmagic_draggan.structures.start_image import (check_seed,
                                                   check_truncation)
from mmagic_draggan.utils.paths import find_repo_path, portable_path
from mmagic_draggan.utils.visualization import trajectory_frames
from .stop_signal import StopOnSigint

#: Accepted ``video`` values ('none' writes no trajectory).
VIDEO_FORMATS = ('gif', 'mp4', 'none')


@dataclass
class ResumeInfo:
    """Where a resumed drag continues from (made by :func:`resume_drag`).

    Attributes:
        session_file (str): The session JSON that is continued.
        steps (int): Steps already taken; this run's steps count on.
        seconds (float): Wall time already spent.
        history (list[dict]): The earlier per-step records.
        seed (int | None): Seed of the image the edit began from.
    """
    session_file: str
    steps: int = 0
    seconds: float = 0.
    history: List[Dict[str, Any]] = field(default_factory=list)
    seed: Optional[int] = None


@dataclass
class DragOutput:
    """What :func:`drag` returns.

    Attributes:
        image (np.ndarray): Final image, (H, W, 3) uint8 RGB.
        start_image (np.ndarray): Image before the drag, (H, W, 3) uint8.
        latent (Tensor): Final W+ latent, (1, L, C), CPU.
        record (dict): The session record (what ``session.json`` holds).
        result (DragResult): The session's run result (history, reason).
        session (DragSession): The live session, to continue editing.
        frames (list[np.ndarray]): Trajectory frames (H, W, 3) uint8, with
            points drawn when ``overlay``; empty for ``video='none'``.
        paths (dict[str, str]): Written files by kind (``'start'``,
            ``'result'``, ``'video'``, ``'latent'``, ``'start_latent'``,
            ``'mask'``, ``'curves'``, ``'session'``); empty without
            ``out_dir``.
        out_dir (str | None): The output folder.
    """
    image: np.ndarray
    start_image: np.ndarray
    latent: Tensor
    record: Dict[str, Any]
    result: Any
    session: Any
    frames: List[np.ndarray] = field(default_factory=list)
    paths: Dict[str, str] = field(default_factory=dict)
    out_dir: Optional[str] = None

    @property
    def converged(self) -> bool:
        """Every handle reached its target."""
        return bool(self.record['converged'])

    @property
    def stop_reason(self) -> str:
        """``'converged'``, ``'max_steps'`` or ``'stopped'``."""
        return self.record['stop_reason']


# ----------------------------------------------------------------------
# argument checks (no model needed)
def _is_path(x) -> bool:
    return isinstance(x, (str, bytes)) or hasattr(x, '__fspath__')


def _is_int(v, low: int) -> bool:
    """``v`` is an integer (not a bool) >= ``low``."""
    try:
        return not isinstance(v, bool) and int(v) == v and v >= low
    except (TypeError, ValueError):
        return False


def _check_video(video: Optional[str]) -> str:
    video = 'none' if video is None else str(video).lower().lstrip('.')
    if video not in VIDEO_FORMATS:
        raise ValueError(f'video must be one of {list(VIDEO_FORMATS)}; got '
                         f'{video!r}')
    if video == 'mp4':
        try:
            import imageio_ffmpeg
            imageio_ffmpeg.get_ffmpeg_exe()
        except Exception as e:
            raise ValueError(f'MP4 needs imageio-ffmpeg ({e}); use '
                             "video='gif' (--video gif)") from None
    return video


def _check_device(device: Optional[str]) -> None:
    if device is None:
        return
    try:
        torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda' or "
                         "'cuda:N'") from None


def _get_model(model_or_config, checkpoint, random_weights, device,
               cfg_options):
    """The DragGAN model: given, or built from a config."""
    if hasattr(model_or_config, 'new_session'):
        given = [n for n, v in (('checkpoint', checkpoint),
                                ('random_weights', random_weights),
                                ('device', device),
                                ('cfg_options', cfg_options)) if v]
        if given:
            raise ValueError(
                f'{given} only apply when drag() builds the model from a '
                'config; pass the config path instead of a built model')
        return model_or_config
    if model_or_config is None:
        raise ValueError('no config given: pass a config file, e.g. '
                         'configs/draggan/draggan_stylegan2_lions-512x512.py')
    if checkpoint and random_weights:
        raise ValueError('give a checkpoint or random_weights, not both '
                         '(--checkpoint / --random-weights)')
    _check_device(device)
    from .inference import init_model
    return init_model(model_or_config, checkpoint=checkpoint, device=device,
                      random_weights=random_weights, cfg_options=cfg_options)


# ----------------------------------------------------------------------
def drag(model_or_config,
         handles: PointsXY,
         targets: PointsXY,
         *,
         seed: Optional[int] = None,
         latent: Union[Tensor, str, None] = None,
         inversion: Optional[str] = None,
         mask: Union[np.ndarray, str, None] = None,
         out_dir: Optional[str] = None,
         video: Optional[str] = 'gif',
         overlay: bool = True,
         max_steps: Optional[int] = None,
         progress: bool = True,
         checkpoint: Optional[str] = None,
         random_weights: bool = False,
         device: Optional[str] = None,
         cfg_options: Optional[dict] = None,
         truncation: Optional[float] = None,
         fps: int = 10,
         frame_interval: Optional[int] = None,
         overwrite: bool = False,
         handle_sigint: bool = True,
         callback: Optional[Callable[[Any], Optional[bool]]] = None,
         resume_info: Optional[ResumeInfo] = None,
         **options) -> DragOutput:
    """Drag ``handles`` to ``targets`` on one generated image.

    Every argument is checked before any step runs or any file is written;
    a bad one raises ``ValueError`` naming the problem and the fix (a missing
    checkpoint raises ``CheckpointError`` with the download command).

    Args:
        model_or_config (DragGAN | str | Config | dict): A built model, or a
            config to build one from (with ``checkpoint``,
            ``random_weights``, ``device``, ``cfg_options``).
        handles (list): Handle points [[x, y], ...], image pixels.
        targets (list): One target [x, y] per handle.
        seed (int, optional): Seed of the start image. With neither ``seed``
            nor ``latent`` the seed is 0.
        latent (Tensor | str, optional): Start W+ latent (1, L, C), or a
            ``.pt`` file holding one (e.g. an earlier ``latent.pt``).
        inversion (str, optional): An ``inversion.pth`` of a photo
            (``tools/invert.py``): drag the photo with its tuned weights,
            starting at its pivot (or at ``latent`` when resuming). It must
            have been made with the same config and base weights.
        mask (np.ndarray | str, optional): Editable region, (H, W) array
            (nonzero = may change) or an image file (white = may change).
        out_dir (str, optional): Folder for the files (see the module
            docstring); None writes nothing.
        video (str): ``'gif'``, ``'mp4'`` or ``'none'``. Defaults to 'gif'.
        overlay (bool): Draw handles, targets, arrows and the fixed region on
            the trajectory frames. Defaults to True.
        max_steps (int, optional): Step limit; None uses the config's.
        progress (bool): Show a tqdm bar (stderr) with the live mean
            distance. Defaults to True.
        checkpoint (str, optional): Checkpoint path or zoo name (None: the
            config's).
        random_weights (bool): Build with seeded random weights (tests,
            smoke runs; abstract images). Defaults to False.
        device (str, optional): ``'cpu'``, ``'cuda'``...; None: CUDA if any.
        cfg_options (dict, optional): Config overrides, e.g.
            ``{'model.lr': 2e-3}``.
        truncation (float, optional): psi for ``seed`` (not with
            ``latent``); None uses the model's.
        fps (int): Trajectory frame rate. Defaults to 10.
        frame_interval (int, optional): Record every this many steps; None:
            :func:`~mmagic_draggan.engine.hooks.auto_frame_interval` of the
            image size (every 4th step at 512 px). The final image is always
            recorded.
        overwrite (bool): Allow an ``out_dir`` that already holds a
            ``session.json``. Defaults to False.
        handle_sigint (bool): The first Ctrl-C stops after the current step
            (outputs still written, ``stop_reason='stopped'``), the second
            raises ``KeyboardInterrupt``. Main thread only. Defaults to True.
        callback (callable, optional): Called with each ``StepResult``;
            returning False stops.
        resume_info (ResumeInfo, optional): Set by :func:`resume_drag`: step
            counting and history continue from an earlier session.
        **options: Drag options (:class:`~mmagic_draggan.structures.
            DragOptions`): ``lr``, ``latent_space``, ``num_opt_latents``,
            ``mode``, ``stop_distance``, ``r1``, ``r2``, ``lambda_mask``,
            ``metric``.

    Returns:
        DragOutput: Final image and latent, the session record and paths.
    """
    # --- checks that need no model
    video = _check_video(video)
    if seed is not None and latent is not None:
        raise ValueError('give a seed or a latent, not both (--seed / '
                         '--latent)')
    if inversion is not None and seed is not None:
        raise ValueError('an inversion starts at its pivot latent: give '
                         '--inversion or --seed, not both')
    if truncation is not None and (latent is not None
                                   or inversion is not None):
        raise ValueError('truncation applies to a seed only; a latent is '
                         'used as it is (drop --truncation)')
    if latent is None and seed is None and inversion is None:
        seed = 0
    if seed is not None:
        seed = check_seed(seed)
    if truncation is not None:
        truncation = check_truncation(truncation)
    for name, v, low in (('fps', fps, 1),
                         ('frame_interval', frame_interval, 1),
                         ('max_steps', max_steps, 0)):
        if v is not None and not _is_int(v, low):
            raise ValueError(f'{name} must be an integer >= {low}; got '
                             f'{v!r}')
    if handles is None or len(handles) == 0:
        raise ValueError('no points: give at least one handle and target '
                         '(--drag HX,HY,TX,TY or --points-file)')
    check_point_pairs(handles, targets)
    if max_steps is not None:
        options['max_steps'] = int(max_steps)
    DragOptions.create(options)  # names and values, before any model
    check_bundle_dir(out_dir, overwrite)
    latent_file = None
    if _is_path(latent):
        latent_file = str(latent)
        latent = read_latent(latent_file)
    mask_file = None
    if _is_path(mask):
        mask_file = str(mask)
        mask = read_mask(mask_file)
    inversion_data = None
    if inversion is not None:
        from mmagic_draggan.fileio.inversion_file import read_inversion
        inversion = str(inversion)
        inversion_data = read_inversion(inversion)

    # --- the model and what depends on it
    model = _get_model(model_or_config, checkpoint, random_weights, device,
                       cfg_options)
    size = model.image_size
    if latent is not None:
        if latent_file is not None:
            latent = read_latent(latent_file, model.latent_shape)
        latent = model.check_latent(latent)
    if mask_file is not None:
        mask = read_mask(mask_file, size)  # now with the size check
    elif mask is not None:
        mask = check_mask(mask, size)
    hooks = []
    if video != 'none':
        from mmagic_draggan.engine.hooks import (TrajectoryRecorderHook,
                                                 auto_frame_interval)
        if frame_interval is None:
            frame_interval = auto_frame_interval(size)
        hooks.append(TrajectoryRecorderHook(interval=int(frame_interval)))
    session = model.new_session(
        latent=latent, seed=seed, truncation=truncation, hooks=hooks,
        inversion=inversion_data, **options)
    session.inversion_file = inversion
    session.set_points(handles, targets)
    if mask is not None:
        session.set_mask(mask)
    if resume_info is not None:
        session.steps_taken = int(resume_info.steps)
    start_image = session.image()

    # --- run
    stopper = StopOnSigint(session.request_stop, enabled=handle_sigint)
    limit = int(session.options.max_steps)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=limit, desc='drag', unit='step', file=sys.stderr,
                   dynamic_ncols=True)

    def on_step(res) -> Optional[bool]:
        if bar is not None:
            post = dict(step=res.step, dist=f'{res.mean_distance:.2f}px')
            if res.loss is not None:
                post['loss'] = f'{res.loss:.4g}'
            bar.set_postfix(post, refresh=False)
            bar.update(1)
        if callback is not None and callback(res) is False:
            return False
        return False if stopper.stopped else None

    with stopper:
        try:
            result = session.run(callback=on_step)
        finally:
            if bar is not None:
                bar.close()
        recorded = hooks[0].frames if hooks else []
        prior = resume_info or ResumeInfo(session_file='')
        record = session.record(
            result, start_step=prior.steps, prior_seconds=prior.seconds,
            prior_history=prior.history,
            resumed_from=portable_path(resume_info.session_file)
            if resume_info is not None else None)
        if resume_info is not None:
            record['seed'] = resume_info.seed
        paths: Dict[str, str] = {}
        if out_dir is not None:
            written = write_bundle(
                str(out_dir),
                BundleContent(
                    record=record, result_image=result.image,
                    final_latent=result.latent, start_image=start_image,
                    start_latent=session.initial_latent
                    if session.seed is None else None,
                    mask=session.mask, frames=recorded),
                videos=() if video == 'none' else (video, ), fps=fps,
                overlay=overlay)
            if written.errors:
                raise ValueError(f'could not write the trajectory video: '
                                 f'{written.errors}')
            record, paths = written.record, dict(written.paths)
            if video in paths:
                paths['video'] = paths[video]
        frames = trajectory_frames(recorded, session.mask, overlay)
    return DragOutput(
        image=result.image,
        start_image=start_image,
        latent=result.latent,
        record=record,
        result=result,
        session=session,
        frames=frames,
        paths=paths,
        out_dir=None if out_dir is None else str(out_dir))


# ----------------------------------------------------------------------
# session files: re-run and resume
def drag_kwargs_from_file(path: str, resume: bool = False) -> Dict[str, Any]:
    """The :func:`drag` arguments stored in a session or points JSON.

    A plain points file (``{"handles": ..., "targets": ...}``) gives only the
    points. A ``session.json`` also gives its config, checkpoint (or random
    weights), ``cfg_options``, mask and hyper-parameters, and its start: the
    ``latent_file`` when set, else the ``seed``.

    Args:
        path (str): The JSON file.
        resume (bool): Continue instead of re-run: start from its
            ``final_latent_file`` and ``final_handles`` toward the same
            targets, counting steps on (``resume_info``).

    Returns:
        dict: Keyword arguments of :func:`drag` (``model_or_config`` when the
        file names a config).

    Raises:
        ValueError: Unreadable or ill-formed file, or nothing to resume from.
    """
    sf = read_session(path)
    kw: Dict[str, Any] = dict(sf.options)
    if sf.config:
        kw['model_or_config'] = find_repo_path(sf.config)
    if sf.random_weights:
        kw['random_weights'] = True
    elif sf.checkpoint:
        kw['checkpoint'] = find_repo_path(sf.checkpoint)
    if sf.cfg_options:
        kw['cfg_options'] = dict(sf.cfg_options)
    if sf.mask_file:
        kw['mask'] = sf.mask_file
    if sf.inversion_file:
        kw['inversion'] = find_repo_path(sf.inversion_file)
    if resume:
        if not sf.final_latent_file:
            raise ValueError(
                f'{path!r} has no final_latent_file: only a session.json '
                'written with an output folder (tools/drag.py) can be resumed')
        if sf.final_handles is None:
            raise ValueError(f'{path!r} has no final_handles to resume from')
        kw.update(latent=sf.final_latent_file, handles=sf.final_handles,
                  targets=sf.targets)
        kw['resume_info'] = ResumeInfo(
            session_file=sf.path, steps=sf.steps, seconds=sf.seconds,
            history=sf.history, seed=sf.seed)
    else:
        kw.update(handles=sf.handles, targets=sf.targets)
        if sf.latent_file:
            kw['latent'] = sf.latent_file
        elif sf.seed is not None:
            kw['seed'] = sf.seed
            if sf.truncation is not None:
                kw['truncation'] = sf.truncation
    return kw


def merge_drag_kwargs(base: Dict[str, Any],
                      overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Overlay explicit arguments on those from a file.

    An explicit start (``seed`` or ``latent``) replaces the file's start and
    truncation; an explicit ``checkpoint`` or ``random_weights`` replaces
    both of the file's; a built model replaces the file's config, checkpoint
    and ``cfg_options``; ``cfg_options`` are merged key by key.
    """
    out = dict(base)
    if 'seed' in overrides or 'latent' in overrides or \
            'inversion' in overrides:
        for k in ('seed', 'latent', 'truncation', 'inversion'):
            out.pop(k, None)
    if 'checkpoint' in overrides or 'random_weights' in overrides:
        out.pop('checkpoint', None)
        out.pop('random_weights', None)
    model = overrides.get('model_or_config')
    if model is not None and hasattr(model, 'new_session'):
        for k in ('checkpoint', 'random_weights', 'cfg_options'):
            out.pop(k, None)
    out.update(overrides)
    if base.get('cfg_options') and overrides.get('cfg_options'):
        out['cfg_options'] = {**base['cfg_options'],
                              **overrides['cfg_options']}
    return out


def resume_drag(session_file: str, **overrides) -> DragOutput:
    """Continue a finished or stopped drag from its ``session.json``.

    Starts from the session's final latent and final handles toward the same
    targets, with its config, checkpoint, mask and hyper-parameters unless
    overridden; step numbers and history continue. The new record names
    this run's start latent (``latent_file``, written as
    ``start_latent.pt``) and the file it resumed (``resumed_from``).

    Args:
        session_file (str): A ``session.json`` written with an output folder.
        **overrides: :func:`drag` arguments (``max_steps``, ``out_dir``,
            ``model_or_config``, options...). ``seed``, ``latent``,
            ``truncation``, ``handles`` and ``targets`` are refused: to drag
            new points from the final latent use
            ``drag(..., latent='DIR/latent.pt')``.

    Returns:
        DragOutput: As :func:`drag`.
    """
    bad = sorted({'seed', 'latent', 'truncation', 'handles', 'targets',
                  'inversion'}
                 & set(overrides))
    if bad:
        raise ValueError(
            f'resume continues from the session\'s final latent and points; '
            f'{bad} cannot be changed. To drag other points from its final '
            'latent, start a new drag with --latent DIR/latent.pt')
    kw = merge_drag_kwargs(drag_kwargs_from_file(session_file, resume=True),
                           overrides)
    kw.setdefault('model_or_config', None)  # drag() then names the fix
    return drag(**kw)


__all__ = [
    'drag', 'resume_drag', 'DragOutput', 'ResumeInfo',
    'drag_kwargs_from_file', 'merge_drag_kwargs', 'VIDEO_FORMATS'
]
