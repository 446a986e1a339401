"""Headless DragGAN: one call drags points on a built model and writes the
results.

For notebooks and pipelines; ``tools/drag.py`` is an argparse layer over
this module. Build the model once (:func:`~.inference.init_model`, or a
:class:`~.inferencer.DragGANInferencer`), then drag with it as often as
needed. Points are ``[[x, y], ...]`` image pixels (x = column, y = row).
Example::

    from mmagic_draggan.apis import drag, init_model, resume_drag
    model = init_model('configs/draggan/draggan_stylegan2_lions-512x512.py')
    out = drag(model, handles=[[250, 200]], targets=[[300, 200]], seed=42,
               out_dir='outputs/drag/lion')
    out.image            # (512, 512, 3) uint8 RGB
    out.record['mean_distance'], out.paths['video']
    more = resume_drag(model, 'outputs/drag/lion/session.json',
                       max_steps=100, out_dir='outputs/drag/lion-2')

Files written to ``out_dir``: a session bundle
(:mod:`mmagic_draggan.fileio.bundle`: ``start.png``, ``result.png``,
``trajectory.gif`` / ``.mp4`` (one frame per step, points drawn unless
``overlay=False``), ``latent.pt`` (final W+, (1, L, C)), ``start_latent.pt``
(when the drag began from a latent), ``mask.png`` (when a mask was used),
``curves.png`` and ``session.json``, written last).
"""
import os
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np
from torch import Tensor

from mmagic_draggan.checkpoints.record_names import resolve_named
from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.fileio.bundle import (VIDEO_FORMATS, BundleContent,
                                          check_bundle_dir, write_bundle)
from mmagic_draggan.fileio.mask import read_mask
from mmagic_draggan.fileio.session_file import (ResumeInfo, SessionFile,
                                                SessionRecord)
from mmagic_draggan.structures.numbers import check_int
from mmagic_draggan.structures.points import PointsXY
from mmagic_draggan.structures.start_image import StartImage
from mmagic_draggan.utils.paths import is_path
from mmagic_draggan.utils.visualization import trajectory_frames
from .inference import draggan_of
from .session_args import (START_KEYS, drag_kwargs_from_file,
                           merge_drag_kwargs, resume_kwargs)
from .stop_signal import StopOnSigint

#: Accepted ``video`` values: the bundle's formats, or 'none' (no
#: trajectory is recorded).
VIDEO_CHOICES = VIDEO_FORMATS + ('none', )
#: :func:`~.inference.init_model` arguments, which a built model already
#: had: refused by :func:`drag` with the fix.
BUILD_KEYS = ('model_or_config', 'config', 'checkpoint', 'random_weights',
              'device', 'cfg_options')


@dataclass
class DragOutput:
    """What :func:`drag` returns.

    Attributes:
        image (np.ndarray): Final image, (H, W, 3) uint8 RGB.
        start_image (np.ndarray): Image before the drag, (H, W, 3) uint8.
        latent (Tensor): Final W+ latent, (1, L, C), CPU.
        record (SessionRecord): The session record (what ``session.json``
            holds; reads like its JSON object, ``record['steps']``).
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
    record: SessionRecord
    result: Any
    session: Any
    frames: List[np.ndarray] = field(default_factory=list)
    paths: Dict[str, str] = field(default_factory=dict)
    out_dir: Optional[str] = None

    @property
    def converged(self) -> bool:
        """Every handle reached its target."""
        return bool(self.record.converged)

    @property
    def stop_reason(self) -> str:
        """``'converged'``, ``'max_steps'`` or ``'stopped'``."""
        return self.record.stop_reason


# ----------------------------------------------------------------------
# argument checks
def _check_video(video: Optional[str]) -> str:
    video = 'none' if video is None else str(video).lower().lstrip('.')
    if video not in VIDEO_CHOICES:
        raise InvalidInputError(
            f'video must be one of {list(VIDEO_CHOICES)}; got '
            f'{video!r}')
    if video == 'mp4':
        try:
            import imageio_ffmpeg
            imageio_ffmpeg.get_ffmpeg_exe()
        except Exception as e:
            raise InvalidInputError(f'MP4 needs imageio-ffmpeg ({e}); use '
                                    "video='gif' (--video gif)") from None
    return video


def _refuse_build_arguments(options: Dict[str, Any]) -> None:
    given = [k for k in BUILD_KEYS if k in options]
    if given:
        raise InvalidInputError(
            f'{given} are init_model() arguments: drag() runs a built '
            'model; build it first with init_model(CONFIG, checkpoint=..., '
            'random_weights=..., device=..., cfg_options=...) and pass it '
            'to drag()')


def _start_of(start: Optional[StartImage], **parts: Any) -> StartImage:
    """The call's start: ``start`` as it is, or made from its parts."""
    if start is None:
        return StartImage.create(**parts)
    given = [k for k, v in parts.items() if v is not None]
    if given:
        raise InvalidInputError(
            f'give start= or {given}, not both')
    return start


# ----------------------------------------------------------------------
def drag(model,
         handles: PointsXY,
         targets: PointsXY,
         *,
         start: Optional[StartImage] = None,
         seed: Optional[int] = None,
         latent: Union[Tensor, str, None] = None,
         inversion: Optional[str] = None,
         truncation: Optional[float] = None,
         mask: Union[np.ndarray, str, None] = None,
         out_dir: Optional[str] = None,
         video: Optional[str] = 'gif',
         overlay: bool = True,
         max_steps: Optional[int] = None,
         progress: bool = True,
         fps: int = 10,
         frame_interval: Optional[int] = None,
         overwrite: bool = False,
         handle_sigint: bool = True,
         callback: Optional[Callable[[Any], Optional[bool]]] = None,
         resume_info: Optional[ResumeInfo] = None,
         **options) -> DragOutput:
    """Drag ``handles`` to ``targets`` on one image of a built model.

    Every argument is checked before any step runs or any file is written;
    a bad one raises ``ValueError`` (:class:`InvalidInputError`) naming the
    problem and the fix. Files the call names (latent, mask, inversion) are
    read once, with the model's shape and size.

    Args:
        model (DragGAN | DragGANInferencer): A built model
            (:func:`~.inference.init_model`), or an inferencer's.
        handles (list): Handle points [[x, y], ...], image pixels.
        targets (list): One target [x, y] per handle.
        start (StartImage, optional): The start image as one value;
            otherwise made from ``seed`` / ``latent`` / ``inversion`` /
            ``truncation`` by :meth:`StartImage.create` (with none of them
            the seed is 0).
        seed (int, optional): Seed of the start image.
        latent (Tensor | str, optional): Start W+ latent (1, L, C), or a
            ``.pt`` file holding one (e.g. an earlier ``latent.pt``).
        inversion (str, optional): An ``inversion.pth`` of a photo
            (``tools/invert.py``): drag the photo with its tuned weights,
            starting at its pivot (or at ``latent`` when resuming). It must
            have been made with the same config and base weights.
        truncation (float, optional): psi for ``seed`` (not with a latent
            or an inversion); None uses the model's.
        mask (np.ndarray | str, optional): Editable region, (H, W) array
            (nonzero = may change) or an image file (white = may change).
        out_dir (str, optional): Folder for the files (see the module
            docstring); None writes nothing.
        video (str): ``'gif'``, ``'mp4'`` or ``'none'``
            (:data:`VIDEO_CHOICES`). Defaults to 'gif'.
        overlay (bool): Draw handles, targets, arrows and the fixed region on
            the trajectory frames. Defaults to True.
        max_steps (int, optional): Step limit; None uses the model's.
        progress (bool): Show a tqdm bar (stderr) with the live mean
            distance. Defaults to True.
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
        resume_info (ResumeInfo, optional): The session this drag continues
            (:func:`resume_drag` sets it): step counting, history, time and
            the original seed carry on into the record.
        **options: Drag options (:class:`~mmagic_draggan.structures.
            DragOptions`): ``lr``, ``latent_space``, ``num_opt_latents``,
            ``mode``, ``stop_distance``, ``r1``, ``r2``, ``lambda_mask``,
            ``metric``, ``precision``.

    Returns:
        DragOutput: Final image and latent, the session record and paths.
    """
    # --- the call's values, checked once
    model = draggan_of(model, 'drag()')
    _refuse_build_arguments(options)
    video = _check_video(video)
    fps = check_int(fps, 'fps', 1)
    if frame_interval is not None:
        frame_interval = check_int(frame_interval, 'frame_interval', 1)
    if max_steps is not None:
        options['max_steps'] = max_steps  # DragOptions checks it
    if handles is None or len(handles) == 0:
        raise InvalidInputError(
            'no points: give at least one handle and target '
            '(--drag HX,HY,TX,TY or --points-file)')
    start = _start_of(start, seed=seed, latent=latent, inversion=inversion,
                      truncation=truncation)
    check_bundle_dir(out_dir, overwrite)
    if start.inversion is not None:
        # a name a session file holds: only the bundle's own inversion is
        # followed (mmagic_draggan.checkpoints.record_names)
        start = replace(start, inversion=resolve_named(start.inversion))
    if is_path(start.inversion):
        start = replace(start, inversion=os.fsdecode(start.inversion))

    # --- the session: its files read once, with the model's shapes
    size = model.image_size
    if is_path(mask):
        mask = read_mask(os.fsdecode(mask), size)
    hooks = []
    if video != 'none':
        from mmagic_draggan.engine.hooks import (TrajectoryRecorderHook,
                                                 auto_frame_interval)
        if frame_interval is None:
            frame_interval = auto_frame_interval(size)
        hooks.append(TrajectoryRecorderHook(interval=frame_interval))
    session = model.new_session(start=start, hooks=hooks,
                                resume=resume_info, **options)
    session.set_points(handles, targets)
    if mask is not None:
        session.set_mask(mask)
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
        record = session.record(result)
        paths: Dict[str, str] = {}
        frames: List[np.ndarray] = []
        if out_dir is not None:
            written = write_bundle(
                str(out_dir),
                BundleContent(
                    record=record, result_image=result.image,
                    final_latent=result.latent, start_image=start_image,
                    start_latent=session.initial_latent
                    if session.start.kind != 'seed' else None,
                    mask=session.mask, frames=recorded,
                    inversion_file=session.inversion_file),
                videos=() if video == 'none' else (video, ), fps=fps,
                overlay=overlay)
            if written.errors:
                raise InvalidInputError(
                    f'could not write the trajectory video: '
                    f'{written.errors}')
            record, paths = written.record, dict(written.paths)
            frames = written.frames  # drawn once, for the video and here
            if video in paths:
                paths['video'] = paths[video]
        elif recorded:
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


def resume_drag(model, session: Union[str, SessionFile],
                **overrides) -> DragOutput:
    """Continue a finished or stopped drag from its ``session.json``.

    Starts from the session's final latent and final handles toward the same
    targets, with its mask and hyper-parameters unless overridden; step
    numbers and history continue. The new record names this run's start
    latent (``latent_file``, written as ``start_latent.pt``) and the file it
    resumed (``resumed_from``). The model should be built as the session's
    was (:func:`~.session_args.model_kwargs_from_file` gives its
    arguments).

    Args:
        model (DragGAN | DragGANInferencer): A built model.
        session (str | SessionFile): A ``session.json`` written with an
            output folder, or it read
            (:func:`~mmagic_draggan.fileio.read_session`).
        **overrides: :func:`drag` arguments (``max_steps``, ``out_dir``,
            options...); see :func:`~.session_args.resume_kwargs` for what
            is refused, and for ``inversion``.

    Returns:
        DragOutput: As :func:`drag`.
    """
    return drag(model, **resume_kwargs(session, overrides))


__all__ = [
    'drag', 'resume_drag', 'DragOutput', 'ResumeInfo', 'StartImage',
    'drag_kwargs_from_file', 'merge_drag_kwargs', 'VIDEO_CHOICES',
    'VIDEO_FORMATS', 'START_KEYS'
]
