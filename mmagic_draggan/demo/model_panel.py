"""The model panel: open the page, pick a model, a new image, download a
checkpoint."""
import logging
import os.path as osp
from typing import Any, Callable, Optional, Tuple

from mmagic_draggan.engine.hooks import TrajectoryRecorderHook
from mmagic_draggan.structures.start_image import (check_seed,
                                                   check_truncation)
from .guards import BUSY, handler, reply_refresh
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
    (needs ``cache``, ``default_config``, ``random_weights``,
    ``default_seed`` and ``max_frames``)."""

    def _build(self, config: str, random_weights: bool,
               seed: Optional[int] = None,
               truncation: Optional[float] = None,
               latent=None, inversion=None, **options) -> tuple:
        """A new edit: ``(random_weights, model, session, recorder)``.

        Args:
            config (str): Config file.
            random_weights (bool): Asked for random weights (configs without
                a checkpoint get them anyway).
            seed / truncation / latent: The start latent (a latent wins).
            inversion (InversionFile, optional): Drag a photo's inversion
                (pivot and tuned weights).
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
                                        inversion=inversion, **options)
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

    @handler(reply_refresh, needs_session=False)
    def select_model(self, state: DemoState, config: str,
                     random_weights: bool = False,
                     seed: Optional[float] = None) -> Refresh:
        """Switch to another config (the current edit stays on failure)."""
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
            seed = self.default_seed if seed is None else \
                check_seed(seed)
            self._open(state, config, bool(random_weights), seed=seed)
        except Exception as err:
            return self.refresh(
                state, f'Could not load `{osp.basename(config)}`: {err}'
                f'{keep}', config=config, settings=False, editor=False)
        return self.refresh(state, f'Loaded `{osp.basename(config)}`.')

    @handler(reply_refresh)
    def new_image(self, state: DemoState, seed: Any,
                  truncation: Any) -> Refresh:
        """A new start image from ``seed`` and ``truncation`` (points,
        mask and trajectory are dropped; the drag options stay)."""
        try:
            seed = check_seed(seed)
            psi = check_truncation(truncation, 'truncation psi')
            self._open(state, state.config, state.random_weights,
                       seed=seed, truncation=psi,
                       **state.session.options.as_dict())
        except Exception as err:
            return self.refresh(state, str(err), settings=False,
                                editor=False)
        return self.refresh(state, f'New image: seed {seed}, psi {psi:g}.')

    @handler(reply_refresh, needs_session=False, refuse_busy=False)
    def download(self, state: DemoState, config: str,
                 log: Callable[[str], None] = print) -> Refresh:
        """Download the checkpoint of ``config``, then load it (a running
        drag does not stop the download, only the loading).

        Progress comes from the downloader's tqdm bar (the page passes
        ``gr.Progress(track_tqdm=True)``).
        """
        from .checkpoints import download_checkpoint
        config = config or state.config or self.default_config
        try:
            status = self.cache.status(config)
            if status.needs_download:
                download_checkpoint(status, log=log)
        except Exception as err:  # DownloadError, ValueError, OSError, ...
            logger.warning('checkpoint download failed: %s', err)
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
