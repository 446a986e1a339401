"""The demo's event handlers, as plain Python (no Gradio objects).

``demo/gradio_draggan.py`` lays out the page and wires each event to one
method here. Every method takes the caller's :class:`DemoState` and returns
what the page shows: a :class:`View` (image, points, step count, status) or a
:class:`Refresh` (a view plus the settings, checkpoint line and brush
background after the edit was replaced). Bad input never raises: the status
line says what is wrong and the state is left as it was.
"""
import functools
import logging
import math
import os.path as osp
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from mmagic_draggan.apis.drag_io import portable_path
from mmagic_draggan.engine.hooks import TrajectoryRecorderHook
from mmagic_draggan.utils.paths import repo_root
from .display import click_to_pixel, compose, editor_value, mask_from_editor
from .model_cache import ModelCache
from .session_files import read_bundle, write_bundle
from .state import DemoState

logger = logging.getLogger(__name__)

#: Most trajectory frames a session keeps ...
MAX_FRAMES = 300
#: ... and their memory budget in bytes (a 512 px frame is 0.75 MB).
FRAME_BUDGET = 100 * 2**20

BUSY = 'A drag is running: press **Stop** first.'
LOADING = 'The page is still loading: try again in a moment.'
NO_MODEL = 'No model is loaded: pick one above (see the checkpoint line).'


@dataclass
class View:
    """What the page shows after a handler.

    Attributes:
        image (np.ndarray | None): Display image (overlays, watermark).
        points (str): The handle/target list, one pair a line.
        steps (int): Steps taken in this edit.
        status (str): Markdown status line.
    """
    image: Optional[np.ndarray]
    points: str
    steps: int
    status: str


@dataclass
class Settings:
    """The image and drag settings shown in the page.

    Attributes:
        seed (int): Seed of the start latent.
        truncation (float): Truncation psi of the start latent.
        latent_space (str): ``'w+'`` or ``'w'``.
        lr (float): Adam learning rate.
        lambda_mask (float): Weight of the fixed-region term.
        max_steps (int): Steps of one Start.
        r1 (float): Motion-supervision radius, px.
        r2 (int): Tracking radius, px.
    """
    seed: int
    truncation: float
    latent_space: str
    lr: float
    lambda_mask: float
    max_steps: int
    r1: float
    r2: int


@dataclass
class Refresh:
    """A :class:`View` after the edit was replaced, plus the side panels.

    Attributes:
        view (View): The page view.
        settings (Settings | None): New settings; None keeps the page's.
        checkpoint (str): Markdown line about the selected checkpoint.
        can_download (bool): Offer the download button.
        editor (dict | None): New brush-editor value; None keeps it.
    """
    view: View
    settings: Optional[Settings]
    checkpoint: str
    can_download: bool
    editor: Optional[dict]


def _fmt(v: float) -> str:
    return f'{v:.0f}' if float(v).is_integer() else f'{v:.1f}'


def _safe(fallback: Callable):
    """Turn an unexpected exception into a status line (logged in full)."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(self, state, *args, **kwargs):
            if state is None:
                return fallback(self, state, LOADING)
            try:
                return fn(self, state, *args, **kwargs)
            except Exception as err:  # never a traceback in the page
                logger.exception('demo handler %s failed', fn.__name__)
                return fallback(
                    self, state,
                    f'Internal error in {fn.__name__}: '
                    f'{type(err).__name__}: {err}')

        return inner

    return wrap


def _view_fallback(self, state, msg):
    return self.view(state, msg)


def _refresh_fallback(self, state, msg):
    return self.refresh(state, msg, settings=False, editor=False)


class DemoHandlers:
    """Event handlers of the DragGAN demo.

    Args:
        cache (ModelCache): Shared models.
        default_config (str): Config the page opens with.
        random_weights (bool): Open with random weights (``--random-weights``).
        default_seed (int): Seed of the first image. Defaults to 0.
        max_frames (int): Trajectory frames kept per session, at most; fewer
            for large images (:data:`FRAME_BUDGET`).
    """

    def __init__(self,
                 cache: ModelCache,
                 default_config: str,
                 random_weights: bool = False,
                 default_seed: int = 0,
                 max_frames: int = MAX_FRAMES):
        self.cache = cache
        self.default_config = default_config
        self.random_weights = bool(random_weights)
        self.default_seed = int(default_seed)
        self.max_frames = int(max_frames)

    # ------------------------------------------------------------------
    # views
    def view(self, state: Optional[DemoState], status: str = '') -> View:
        """The current view of ``state`` with a status line."""
        if state is None or state.session is None or state.image is None:
            return View(None, '', 0, status or NO_MODEL)
        s = state.session
        handles, targets = s.handles, s.targets
        if state.pending is not None:
            handles = handles + [list(state.pending)]
        image = compose(state.image, handles, targets, mask=s.mask,
                        show_mask=state.show_mask,
                        watermark=state.watermark, scale=state.scale)
        return View(image, self.points_text(state), s.steps_taken, status)

    @staticmethod
    def points_text(state: DemoState) -> str:
        """One line per handle: ``1: (x, y) -> (x, y)``."""
        s = state.session
        lines = [
            f'{i + 1}: ({_fmt(h[0])}, {_fmt(h[1])}) -> '
            f'({_fmt(t[0])}, {_fmt(t[1])})'
            for i, (h, t) in enumerate(zip(s.handles, s.targets))
        ]
        if state.pending is not None:
            x, y = state.pending
            lines.append(f'{len(lines) + 1}: ({x}, {y}) -> (click a target)')
        return '\n'.join(lines)

    def settings(self, state: DemoState) -> Optional[Settings]:
        """The settings of the current edit."""
        s = state.session
        if s is None:
            return None
        H = s.image_size
        return Settings(
            seed=self.default_seed if s.seed is None else s.seed,
            truncation=float(s.truncation),
            latent_space=s.options['latent_space'],
            lr=float(s.options['lr']),
            lambda_mask=float(s.motion_loss.lambda_mask),
            max_steps=int(s.options['max_steps']),
            r1=float(s.motion_loss.radius(H)),
            r2=int(s.tracker.radius(H)))

    def refresh(self,
                state: Optional[DemoState],
                status: str = '',
                config: Optional[str] = None,
                settings: bool = True,
                editor: bool = True) -> Refresh:
        """A :class:`Refresh` of ``state``; the checkpoint line is about
        ``config`` (default: the state's)."""
        config = config or (state.config if state else None) \
            or self.default_config
        try:
            ck = self.cache.status(config)
            ck_line, can_download = ck.describe(), ck.needs_download
        except Exception as err:
            ck, can_download = None, False
            ck_line = f'Cannot read `{config}`: {err}'
        if state is not None and state.random_weights and ck is not None \
                and config == state.config and ck.path is not None:
            ck_line = 'Running with **random weights** (no checkpoint). ' \
                + ck_line
        has = state is not None and state.session is not None
        return Refresh(
            view=self.view(state, status),
            settings=self.settings(state) if settings and has else None,
            checkpoint=ck_line,
            can_download=can_download,
            editor=editor_value(state.image, state.scale)
            if editor and has else None)

    # ------------------------------------------------------------------
    # model and image
    def _build(self, config: str, random_weights: bool,
               seed: Optional[int] = None,
               truncation: Optional[float] = None,
               latent=None, **options) -> tuple:
        """A new edit: ``(random_weights, model, session, recorder)``
        (raises on bad input; nothing is changed)."""
        rw = self.cache.key(config, random_weights)[1] is None
        model = self.cache.get(config, random_weights)
        side = model.image_size
        frames = min(self.max_frames,
                     max(20, FRAME_BUDGET // (side * side * 3)))
        recorder = TrajectoryRecorderHook(max_frames=frames)
        if latent is not None:
            session = model.new_session(latent=latent, hooks=[recorder],
                                        **options)
        else:
            session = model.new_session(seed=seed, truncation=truncation,
                                        hooks=[recorder], **options)
        return rw, model, session, recorder

    def _open(self, state: DemoState, config: str, random_weights: bool,
              **kwargs) -> None:
        """Build a new edit and make it current (state untouched on
        failure)."""
        built = self._build(config, random_weights, **kwargs)
        state.attach(config, *built)

    def init(self) -> Tuple[DemoState, Refresh]:
        """A new browser session: its state with the default model."""
        state = DemoState()
        try:
            self._open(state, self.default_config, self.random_weights,
                       seed=self.default_seed)
            msg = ('Click a **handle**, then its **target**; press '
                   '**Start** to drag.')
        except Exception as err:
            msg = f'Could not load the model: {err}'
        return state, self.refresh(state, msg, config=self.default_config)

    @_safe(_refresh_fallback)
    def select_model(self, state: DemoState, config: str,
                     random_weights: bool = False,
                     seed: Optional[float] = None) -> Refresh:
        """Switch to another config (the current edit stays on failure)."""
        if state.running:
            return self.refresh(state, BUSY, config=config, settings=False,
                                editor=False)
        if not config:
            return self.refresh(state, 'Pick a model.', settings=False,
                                editor=False)
        keep = (f' Still showing `{osp.basename(state.config)}`.'
                if state.session is not None else '')
        try:
            status = self.cache.status(config)
            if status.needs_download and not random_weights:
                return self.refresh(
                    state, f'`{osp.basename(config)}` needs its checkpoint: '
                    'press **Download checkpoint** (or run the command '
                    f'shown).{keep}', config=config, settings=False,
                    editor=False)
            if config == state.config and state.model is not None and \
                    self.cache.get(config, bool(random_weights)) is \
                    state.model:  # same model: keep the edit
                return self.refresh(
                    state, f'`{osp.basename(config)}` is already loaded.',
                    settings=False, editor=False)
            seed = self.default_seed if seed is None else _int(seed, 'seed')
            self._open(state, config, bool(random_weights), seed=seed)
        except Exception as err:
            return self.refresh(
                state, f'Could not load `{osp.basename(config)}`: {err}'
                f'{keep}', config=config, settings=False, editor=False)
        return self.refresh(state, f'Loaded `{osp.basename(config)}`.')

    @_safe(_refresh_fallback)
    def new_image(self, state: DemoState, seed: Any,
                  truncation: Any) -> Refresh:
        """A new start image from ``seed`` and ``truncation`` (points,
        mask and trajectory are dropped)."""
        if state.running:
            return self.refresh(state, BUSY, settings=False, editor=False)
        if state.session is None:
            return self.refresh(state, NO_MODEL, settings=False,
                                editor=False)
        try:
            seed = _int(seed, 'seed')
            psi = _float(truncation, 'truncation psi')
            self._open(state, state.config, state.random_weights,
                       seed=seed, truncation=psi,
                       **self._keep_options(state))
        except Exception as err:
            return self.refresh(state, str(err), settings=False,
                                editor=False)
        return self.refresh(state, f'New image: seed {seed}, psi {psi:g}.')

    @staticmethod
    def _keep_options(state: DemoState) -> dict:
        s = state.session
        return dict(latent_space=s.options['latent_space'],
                    lr=s.options['lr'], max_steps=s.options['max_steps'],
                    r1=s.motion_loss.r1, r2=s.tracker.r2,
                    lambda_mask=s.motion_loss.lambda_mask)

    @_safe(_refresh_fallback)
    def download(self, state: DemoState, config: str,
                 log: Callable[[str], None] = print) -> Refresh:
        """Download the checkpoint of ``config``, then load it.

        Progress comes from the downloader's tqdm bar (the page passes
        ``gr.Progress(track_tqdm=True)``).
        """
        from mmagic_draggan.utils.download import DownloadError
        from .checkpoints import download_checkpoint
        config = config or state.config or self.default_config
        try:
            status = self.cache.status(config)
            if status.needs_download:
                download_checkpoint(status, log=log)
        except (DownloadError, ValueError, OSError) as err:
            return self.refresh(state, f'Download failed: {err}',
                                config=config, settings=False, editor=False)
        except Exception as err:
            logger.exception('checkpoint download failed')
            return self.refresh(state, f'Download failed: {err}',
                                config=config, settings=False, editor=False)
        if state.running:
            return self.refresh(state, 'Downloaded. ' + BUSY, config=config,
                                settings=False, editor=False)
        out = self.select_model(state, config, False)
        if state.config == config and not state.random_weights:
            out.view.status = ('Downloaded and loaded '
                               f'`{osp.basename(config)}`.')
        return out

    # ------------------------------------------------------------------
    # points
    @_safe(_view_fallback)
    def click(self, state: DemoState, index: Any) -> View:
        """A click on the image: a handle, or the target of the last one."""
        if state.session is None:
            return self.view(state, NO_MODEL)
        try:
            xy = click_to_pixel(index, state.scale, state.session.image_size)
        except ValueError as err:
            return self.view(state, str(err))
        with state.lock:  # a drag starts under this lock too
            if state.running:
                return self.view(state, BUSY)
            if state.pending is None:
                state.pending = xy
                return self.view(
                    state, f'Handle at ({xy[0]}, {xy[1]}): now click its '
                    'target.')
            handle, state.pending = state.pending, None
            try:
                state.session.add_point(handle, xy)
            except ValueError as err:
                state.pending = handle
                return self.view(state, str(err))
        n = len(state.session.targets)
        return self.view(
            state, f'Point {n}: ({handle[0]}, {handle[1]}) -> ({xy[0]}, '
            f'{xy[1]}). Add more, or press **Start**.')

    @_safe(_view_fallback)
    def undo(self, state: DemoState) -> View:
        """Remove the waiting handle, else the last handle/target pair."""
        if state.session is None:
            return self.view(state, NO_MODEL)
        with state.lock:
            if state.running:
                return self.view(state, BUSY)
            if state.pending is not None:
                state.pending = None
                return self.view(state, 'Removed the handle without target.')
            if not state.session.targets:
                return self.view(state, 'No points to undo.')
            state.session.undo_point()
        return self.view(state, 'Removed the last point.')

    @_safe(_view_fallback)
    def clear(self, state: DemoState) -> View:
        """Remove every point."""
        if state.session is None:
            return self.view(state, NO_MODEL)
        with state.lock:
            if state.running:
                return self.view(state, BUSY)
            state.pending = None
            state.session.clear_points()
        return self.view(state, 'Points cleared.')

    @_safe(_view_fallback)
    def reset_image(self, state: DemoState) -> View:
        """Back to the start image (points go back to where they were set;
        targets and mask stay; the trajectory is dropped)."""
        if state.session is None:
            return self.view(state, NO_MODEL)
        with state.lock:
            if state.running:
                return self.view(state, BUSY)
            state.session.reset()
            state.recorder.frames.clear()
            state.last_result = None
            state.image = state.session.image()
        return self.view(state, 'Image reset to the start.')

    # ------------------------------------------------------------------
    # mask and display
    @_safe(_view_fallback)
    def apply_mask(self, state: DemoState, editor: Any) -> View:
        """Use the painted area as the region allowed to change."""
        if state.session is None:
            return self.view(state, NO_MODEL)
        try:
            mask = mask_from_editor(editor, state.session.image_size)
        except ValueError as err:
            return self.view(state, str(err))
        if mask is None:
            return self.view(
                state, 'Nothing is painted: paint the area that may change '
                'with the brush first.')
        with state.lock:
            if state.running:
                return self.view(state, BUSY)
            state.session.set_mask(mask)
            state.show_mask = True
        share = 100 * mask.mean()
        return self.view(
            state, f'Mask set: {share:.0f}% of the image may change (the '
            'rest is tinted grey).')

    @_safe(_view_fallback)
    def reset_mask(self, state: DemoState) -> View:
        """No mask: the whole image may change."""
        if state.session is None:
            return self.view(state, NO_MODEL)
        with state.lock:
            if state.running:
                return self.view(state, BUSY)
            state.session.set_mask(None)
        return self.view(state, 'Mask removed: the whole image may change.')

    def editor(self, state: DemoState) -> Optional[dict]:
        """A fresh brush-editor value (the current image, no strokes)."""
        if state is None or state.image is None:
            return None
        return editor_value(state.image, state.scale)

    @_safe(_view_fallback)
    def set_display(self, state: DemoState, show_mask: bool,
                    watermark: bool) -> View:
        """Show/hide the mask tint and the watermark."""
        state.show_mask = bool(show_mask)
        state.watermark = bool(watermark)
        return self.view(state, '')

    # ------------------------------------------------------------------
    # the drag
    def _options(self, settings: Sequence) -> dict:
        latent_space, lr, lambda_mask, max_steps, r1, r2 = settings
        if latent_space not in ('w', 'w+'):
            raise ValueError(f"latent space must be 'w' or 'w+'; got "
                             f'{latent_space!r}')
        opts = dict(latent_space=latent_space,
                    lr=_float(lr, 'learning rate', positive=True),
                    lambda_mask=_float(lambda_mask, 'lambda', minimum=0),
                    max_steps=_int(max_steps, 'max steps', minimum=1),
                    r1=_float(r1, 'r1', positive=True),
                    r2=_int(r2, 'r2', minimum=1))
        return opts

    def start(self, state: DemoState, latent_space: str = None,
              lr: Any = None, lambda_mask: Any = None, max_steps: Any = None,
              r1: Any = None, r2: Any = None) -> Iterator[View]:
        """Run (or resume) the drag, yielding a view after each step.

        It ends by itself on convergence or after ``max_steps`` steps, or
        when :meth:`stop` is called. Settings left as None keep the
        session's. Starting again continues the same drag (same latent and
        Adam state) as long as the points, mask and latent space / lr are
        unchanged.
        """
        try:
            yield from self._start(state, (latent_space, lr, lambda_mask,
                                           max_steps, r1, r2))
        except Exception as err:  # never a traceback in the page
            logger.exception('drag failed')
            yield self.view(state, f'The drag failed: {type(err).__name__}: '
                            f'{err}')

    def _begin(self, state: DemoState, settings: tuple) -> Optional[str]:
        """Check and mark the start of a drag; returns why not, or None."""
        if state is None or state.session is None:
            return NO_MODEL
        with state.lock:
            if state.running:
                return 'A drag is already running.'
            s = state.session
            if state.pending is not None:
                return ('The last handle has no target yet: click its target '
                        '(or **Undo point**) before **Start**.')
            if not s.targets:
                return ('Click a handle and then its target on the image '
                        'first.')
            if any(v is not None for v in settings):
                current = self._keep_options(state)
                current['r1'] = s.motion_loss.radius(s.image_size)
                current['r2'] = s.tracker.radius(s.image_size)
                names = ('latent_space', 'lr', 'lambda_mask', 'max_steps',
                         'r1', 'r2')
                merged = [current[n] if v is None else v
                          for n, v in zip(names, settings)]
                try:
                    s.configure(**self._options(merged))
                except ValueError as err:
                    return str(err)
            state.running = True
            state.stop_event.clear()
        return None

    def _start(self, state: DemoState, settings: tuple) -> Iterator[View]:
        # never yield while holding state.lock: the next step of a generator
        # may run on another thread
        why_not = self._begin(state, settings)
        if why_not is not None:
            yield self.view(state, why_not)
            return
        s = state.session
        try:
            yield from self._run(state, s)
        finally:
            with state.lock:
                state.running = False

    def _run(self, state: DemoState, s) -> Iterator[View]:
        events: 'queue.Queue[Tuple[str, Any]]' = queue.Queue()

        def callback(res):
            events.put(('step', res))
            return not state.stop_event.is_set()

        def work():
            try:
                events.put(('done', s.run(callback=callback,
                                          return_images=True)))
            except BaseException as err:  # reported to the page
                logger.exception('drag failed')
                events.put(('error', err))

        first_step = s.steps_taken
        worker = threading.Thread(target=work, name='draggan-drag',
                                  daemon=True)
        worker.start()
        yield self.view(state, 'Dragging...')
        finished = False
        try:
            while True:
                kind, item = events.get()
                while kind == 'step':  # show only the newest step
                    try:
                        kind, item = events.get_nowait()
                    except queue.Empty:
                        break
                if kind == 'step':
                    yield self._step_view(state, item)
                    continue
                finished = True
                if kind == 'error':
                    state.image = s.image()
                    yield self.view(state, f'The drag failed: '
                                    f'{type(item).__name__}: {item}')
                    return
                state.last_result = item
                state.image = item.image
                yield self.view(state, self._end_message(
                    item, s.steps_taken - first_step, s.stop_distance))
                return
        finally:
            if not finished:  # the page went away or cancelled: stop too
                state.stop_event.set()
            worker.join()

    def _step_view(self, state: DemoState, res) -> View:
        state.image = res.image
        image = compose(res.image, res.handles, res.targets,
                        mask=state.session.mask, show_mask=state.show_mask,
                        watermark=state.watermark, scale=state.scale)
        return View(
            image, self.points_text(state), res.step,
            f'Dragging... step {res.step}, mean distance '
            f'{res.mean_distance:.1f} px.')

    @staticmethod
    def _end_message(result, steps: int, stop_distance: float) -> str:
        d = f'mean distance {result.mean_distance:.1f} px'
        if result.stop_reason == 'converged':
            return (f'Done: every handle reached its target (within '
                    f'{stop_distance:g} px) after {steps} steps; {d}.')
        if result.stop_reason == 'max_steps':
            return (f'Reached the step limit ({steps} steps); {d}. Press '
                    '**Start** to continue.')
        if result.stop_reason == 'stopped':
            return (f'Stopped after {steps} steps; {d}. Press **Start** to '
                    'resume.')
        return 'No points to drag.'

    def stop(self, state: Optional[DemoState]) -> None:
        """Ask the running drag to stop after its current step (safe to call
        at any time, from any thread)."""
        if state is None:
            return
        state.stop_event.set()
        if state.running and state.session is not None:
            state.session.request_stop()

    # ------------------------------------------------------------------
    # files
    @_safe(lambda self, state, msg: (self.view(state, msg), []))
    def save(self, state: DemoState) -> Tuple[View, List[str]]:
        """Write the result PNG, session JSON (+ latents, mask) and the
        trajectory GIF/MP4; returns the view and the file paths."""
        if state.session is None:
            return self.view(state, NO_MODEL), []
        if state.running:
            return self.view(state, BUSY), []
        with state.lock:
            s = state.session
            frames = list(state.recorder.frames) if state.recorder else []
            ck = None if state.random_weights else \
                self.cache.key(state.config, False)[1]
            files = write_bundle(
                osp.join(state.out_dir, 'saved'), s, state.image, frames,
                result=state.last_result, config=portable_path(state.config),
                checkpoint=portable_path(ck),
                random_weights=state.random_weights,
                watermark=state.watermark, video_scale=state.scale)
        errors = files.pop('errors', {})
        order = ('result', 'session', 'start_latent', 'final_latent', 'mask',
                 'gif', 'mp4')
        paths = [files[k] for k in order if k in files]
        msg = f'Saved {len(paths)} files (download them below).'
        if not frames:
            msg += ' No trajectory yet: run a drag to get the GIF/MP4.'
        for key, err in errors.items():
            msg += f' The {key.upper()} could not be written: {err}.'
        return self.view(state, msg), paths

    @_safe(_refresh_fallback)
    def load(self, state: DemoState, files: Any) -> Refresh:
        """Restore a saved session: model, start latent (or seed), points,
        mask and hyper-parameters, from an upload of its JSON (plus its
        start-latent ``.pt`` and mask ``.png``)."""
        if state.running:
            return self.refresh(state, BUSY, settings=False, editor=False)
        if isinstance(files, (str, bytes)) or hasattr(files, '__fspath__'):
            files = [files]
        paths = [getattr(f, 'name', f) for f in (files or [])]
        if not paths:
            return self.refresh(state, 'Upload a session JSON first.',
                                settings=False, editor=False)
        try:
            bundle = read_bundle(paths)
            rec = bundle.record
            config = self._known_config(rec.get('config')) or state.config
            if config is None:
                raise ValueError('the session names no config')
            hp = rec.get('hyper_parameters') or {}
            from mmagic_draggan.models.draggan import SESSION_OPTIONS
            options = {k: hp[k] for k in SESSION_OPTIONS
                       if hp.get(k) is not None}
            random_weights = bool(rec.get('random_weights', False))
            if bundle.latent is None and rec.get('seed') is None:
                missing = ', '.join(bundle.notes) or 'the start latent'
                raise ValueError(
                    f'the session has no seed, so its start latent is '
                    f'needed: upload {missing} together with the JSON')
            built = self._build(
                config, random_weights,
                seed=None if bundle.latent is not None else rec['seed'],
                truncation=hp.get('truncation'), latent=bundle.latent,
                **options)
            session = built[2]
            session.set_points(rec['handles'], rec['targets'])
            if bundle.mask is not None:
                session.set_mask(bundle.mask)
            if bundle.latent is not None:  # keep what it was made from
                if rec.get('seed') is not None:
                    session.seed = int(rec['seed'])
                if hp.get('truncation') is not None:
                    session.truncation = float(hp['truncation'])
        except Exception as err:
            return self.refresh(state, f'Cannot load the session: {err}',
                                settings=False, editor=False)
        with state.lock:
            try:
                state.attach(config, *built)
            except RuntimeError as err:
                return self.refresh(state, str(err), settings=False,
                                    editor=False)
            state.show_mask = bundle.mask is not None
        msg = (f'Loaded the session: {len(rec["handles"])} point(s) on '
               f'`{osp.basename(config)}`. Press **Start** to drag.')
        notes = [n for n in bundle.notes
                 if not (n == osp.basename(rec.get('latent_file') or '')
                         and rec.get('seed') is not None)]  # seed will do
        if notes:
            msg += f' Not uploaded (skipped): {", ".join(notes)}.'
        return self.refresh(state, msg)

    @staticmethod
    def _known_config(name: Optional[str]) -> Optional[str]:
        """A config named in a session file, as a path that exists here."""
        if not name:
            return None
        for cand in (name, osp.join(repo_root(), name),
                     osp.join(repo_root(), 'configs', 'draggan',
                              osp.basename(name))):
            if osp.isfile(cand):
                return osp.abspath(cand)
        raise ValueError(f'the session was made with {name!r}, which is not '
                         'here (configs/draggan/)')


def _float(value: Any, what: str, positive: bool = False,
           minimum: Optional[float] = None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{what} must be a number; got {value!r}') from None
    if not math.isfinite(v):
        raise ValueError(f'{what} must be finite; got {value!r}')
    if positive and v <= 0:
        raise ValueError(f'{what} must be > 0; got {v:g}')
    if minimum is not None and v < minimum:
        raise ValueError(f'{what} must be >= {minimum:g}; got {v:g}')
    return v


def _int(value: Any, what: str, minimum: Optional[int] = None) -> int:
    v = _float(value, what)
    if not v.is_integer():
        raise ValueError(f'{what} must be a whole number; got {v:g}')
    if minimum is not None and v < minimum:
        raise ValueError(f'{what} must be >= {minimum}; got {v:g}')
    return int(v)
