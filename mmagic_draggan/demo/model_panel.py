"""The model panel: open the page, pick a model, a new image, download a
checkpoint."""
import logging
from typing import Any, Callable, Optional, Tuple

from mmagic_draggan.engine.hooks import TrajectoryRecorderHook
from mmagic_draggan.structures.start_image import (check_seed,
                                                   check_truncation)
from .guards import BUSY, handler, refusal, reply_refresh
from .messages import EXPECTED_ERRORS, code, error_text
from .state import DemoState
from .views import Refresh

logger = logging.getLogger(__name__)

__all__ = ['ModelPanel', 'MAX_FRAMES', 'FRAME_BUDGET']

#: Most trajectory frames a session keeps ...
MAX_FRAMES = 300
#: ... and their memory budget in bytes (a 512 px frame is 0.75 MB).
FRAME_BUDGET = 100 * 2**20


class ModelPanel:
    """Model and start-image handlers of :class:`~.handlers.DemoHandlers`
    (needs ``cache``, ``tabs``, ``default_config``, ``random_weights``,
    ``default_seed`` and ``max_frames``)."""

    def _build(self, config: str, random_weights: bool,
               seed: Optional[int] = None,
               truncation: Optional[float] = None,
               latent=None, inversion=None,
               inversion_file: Optional[str] = None, **options) -> tuple:
        """A new edit: ``(random_weights, model, session, recorder)``.

        Args:
            config (str): Config file.
            random_weights (bool): Asked for random weights (configs without
                a checkpoint get them anyway).
            seed / truncation / latent: The start latent (a latent wins).
            inversion (InversionFile, optional): Drag a photo's inversion
                (pivot and tuned weights).
            inversion_file (str, optional): The file it came from (the
                session's record and the next Save name it).
            **options: :class:`~mmagic_draggan.structures.DragOptions`
                fields for the session.

        Raises:
            Exception: Bad input; nothing is changed.
        """
        rw = self.cache.key(config, random_weights)[1] is None
        model = self.cache.get(config, random_weights)
        side = model.image_size
        frames = min(self.max_frames,
                     max(20, FRAME_BUDGET // (side * side * 3)))
        # passive: keeps the frames the page is shown (FramePacer) and the
        # final image, never renders one of its own
        recorder = TrajectoryRecorderHook(max_frames=frames, passive=True)
        if latent is not None or inversion is not None:
            # an inversion: the photo's tuned weights, a private copy for
            # this tab only (freed with its session)
            session = model.new_session(latent=latent, hooks=[recorder],
                                        inversion=inversion,
                                        inversion_file=inversion_file,
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

    def init(self, tab_id: Optional[str] = None) -> Tuple[DemoState, Refresh]:
        """A new browser tab: its state with the default model.

        Args:
            tab_id (str, optional): The tab's Gradio session hash, under
                which ``tabs`` finds its state when it closes.

        Returns:
            tuple: The tab's :class:`~.state.DemoState` (registered in
            ``tabs``) and the page.
        """
        state = self.tabs.new_state(tab_id)
        try:
            self._open(state, self.default_config, self.random_weights,
                       seed=self.default_seed)
            msg = ('Click a **handle**, then its **target**; press '
                   '**Start** to drag.')
        except EXPECTED_ERRORS as err:
            msg = f'Could not load the model: {error_text(err)}'
        except Exception as err:  # a bug: logged, and the page says so
            logger.exception('opening the default model failed')
            msg = (f'Internal error in init: {type(err).__name__}: '
                   f'{error_text(err)}')
        return state, self.refresh(state, msg, config=self.default_config)

    @handler(reply_refresh, needs_session=False)
    def select_model(self, state: DemoState, config: str,
                     random_weights: bool = False,
                     seed: Optional[float] = None) -> Refresh:
        """Switch to another config (the current edit stays on failure)."""
        if not config:
            return self.refresh(state, 'Pick a model.', settings=False,
                                editor=False)
        keep = (f' Still showing {code(state.config)}.'
                if state.session is not None else '')
        try:
            status = self.cache.status(config)
            if status.needs_download and not random_weights:
                return self.refresh(
                    state, f'{code(config)} needs its checkpoint: '
                    'press **Download checkpoint** (or run the command '
                    f'shown).{keep}', config=config, settings=False,
                    editor=False)
            if config == state.config and state.model is not None and \
                    self.cache.get(config, bool(random_weights)) is \
                    state.model:  # same model: keep the edit
                return self.refresh(
                    state, f'{code(config)} is already loaded.',
                    settings=False, editor=False)
            seed = self.default_seed if seed is None else \
                check_seed(seed)
            self._open(state, config, bool(random_weights), seed=seed)
        except EXPECTED_ERRORS as err:
            return self.refresh(
                state, f'Could not load {code(config)}: {error_text(err)}'
                f'{keep}', config=config, settings=False, editor=False)
        return self.refresh(state, f'Loaded {code(config)}.')

    @staticmethod
    def announce_new_image(state: Optional[DemoState]) -> None:
        """New image was pressed: until :meth:`new_image` (called with
        ``announced=True``) has replaced the edit, clicks are refused with a
        message, not applied to the image that is about to go (not queued;
        safe at any time)."""
        if state is not None:
            with state.lock:
                state.replacing += 1

    # the guard's checks run inside, after the announcement is taken back
    @handler(reply_refresh, needs_session=False, refuse_busy=False)
    def new_image(self, state: DemoState, seed: Any, truncation: Any, *,
                  announced: bool = False) -> Refresh:
        """A new start image from ``seed`` and ``truncation`` (points,
        mask and trajectory are dropped; the drag options stay).

        Args:
            announced (bool): :meth:`announce_new_image` was called for it
                (clicks are refused until this returns).
        """
        try:
            why = refusal(state, needs_session=True, refuse_busy=True)
            if why is not None:
                return reply_refresh(self, state, why)
            try:
                seed = check_seed(seed)
                psi = check_truncation(truncation, 'truncation psi')
                self._open(state, state.config, state.random_weights,
                           seed=seed, truncation=psi,
                           **state.session.options.as_dict())
            except EXPECTED_ERRORS as err:
                return self.refresh(state, error_text(err), settings=False,
                                    editor=False)
        finally:
            if announced and state is not None:
                with state.lock:
                    state.replacing = max(0, state.replacing - 1)
        return self.refresh(state, f'New image: seed {seed}, psi {psi:g}.')

    @handler(reply_refresh, needs_session=False, refuse_busy=False)
    def download(self, state: DemoState, config: str,
                 log: Callable[[str], None] = print) -> Refresh:
        """Download the checkpoint of ``config``, then load it (a running
        drag does not stop the download, only the loading).

        Progress comes from the downloader's tqdm bar (the page passes
        ``gr.Progress(track_tqdm=True)``).
        """
        from mmagic_draggan.checkpoints.resolver import download_weights
        config = config or state.config or self.default_config
        try:
            status = self.cache.status(config)
            if status.needs_download:
                download_weights(status, log=log)
        except EXPECTED_ERRORS as err:  # DownloadError, OSError, ...
            logger.warning('checkpoint download failed: %s', err)
            return self.refresh(state, f'Download failed: {error_text(err)}',
                                config=config, settings=False, editor=False)
        if state.running:
            return self.refresh(state, 'Downloaded. ' + BUSY, config=config,
                                settings=False, editor=False)
        out = self.select_model(state, config, False)
        if state.config == config and not state.random_weights:
            out.view.status = f'Downloaded and loaded {code(config)}.'
        return out
