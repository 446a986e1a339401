"""Your own photo: upload, invert (pivot + pivotal tuning) with streamed
progress and Stop, then drag it like a generated image.

The inversion runs :func:`mmagic_draggan.apis.invert` on a worker thread on
the tab's (shared, read-only) base model; the tuned weights become a private
copy inside the tab's new :class:`~mmagic_draggan.models.DragSession`
(``model.new_session(inversion=...)``), so no other tab ever sees them and
they are freed with the session (a new image, another model, a closed tab).
The files (``inversion.pth``, ``target.png``, ``reconstruction.png``,
``metrics.json``) go to the tab's private folder; Save adds the
``inversion.pth`` to the saved files, Load takes it back.

The upload reaches :func:`~mmagic_draggan.fileio.image_input.load_image`
as a raw file (no conversion by Gradio on the way), so its checks (bombs,
empty or non-image files), its messages and its 16-bit handling apply, and
:meth:`PhotoPanel.preview_photo` shows the photo as the inversion will see
it. Like Start, Invert photo takes a ticket first (see
:mod:`.drag_runner`): a Stop while it waits in the queue cancels it. The
tabs that hold or make a tuned copy at once are capped by the server's
:class:`~.tabs.TabRegistry` (``--max-tuned``).
"""
import logging
import os.path as osp
import queue
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from mmagic_draggan.fileio.image_input import load_image
from mmagic_draggan.utils.paths import inversion_presets
from .display import compose, enlarge
from .guards import NO_MODEL, handler
from .messages import EXPECTED_ERRORS, code, error_text, failure, plain
from .session_files import upload_paths
from .state import QUEUED_STOP, DemoState
from .tabs import release_memory
from .views import View

logger = logging.getLogger(__name__)

__all__ = ['PhotoView', 'PhotoPanel', 'PRESETS', 'PERCEPTUAL']

#: Recipes offered by the page (configs/_base_/inversion/<name>.py).
PRESETS = inversion_presets()
#: Perceptual losses offered by the page.
PERCEPTUAL = ('lpips', 'none')


@dataclass
class PhotoView:
    """What the page shows during and after an inversion.

    Attributes:
        view (View): The main image view (the preview while inverting, the
            reconstruction with points afterwards).
        comparison (np.ndarray | None): The preprocessed photo beside its
            reconstruction, (S, 2 S, 3) uint8; None keeps the page's.
        summary (str): Markdown line (PSNR, steps, time).
    """
    view: View
    comparison: Optional[np.ndarray]
    summary: str


def reply_photo(self, state, status: str) -> PhotoView:
    """Refusal of the photo handler (see :func:`.guards.handler`)."""
    return PhotoView(self.view(state, status), None, '')


def reply_preview(self, state, status: str) -> Tuple[None, str]:
    """Refusal of the photo preview: no preview, the status line."""
    return None, status


def side_by_side(target: np.ndarray, recon: np.ndarray,
                 scale: int) -> np.ndarray:
    """The photo (left) and its reconstruction (right), enlarged, with a
    2 px white gap; (S, 2 S + 2, 3) uint8."""
    a, b = enlarge(target, scale), enlarge(recon, scale)
    gap = np.full((a.shape[0], 2, 3), 255, np.uint8)
    return np.concatenate([a, gap, b], axis=1)


class PhotoPanel:
    """The photo handlers of :class:`~.handlers.DemoHandlers` (needs
    ``cache`` and ``tabs``)."""

    @handler(reply_preview, refuse_busy=False)
    def preview_photo(self, state: DemoState,
                      photo: Any) -> Tuple[Optional[np.ndarray], str]:
        """The uploaded photo as the inversion will see it.

        Args:
            state (DemoState): The tab.
            photo (str): Path of the upload (``gr.File(type='filepath')``).

        Returns:
            tuple: The square photo at the model's size, enlarged for
            display, (S * s, S * s, 3) uint8 RGB (None when it cannot be
            used), and the status line.
        """
        paths = upload_paths(photo)
        if not paths:
            return None, ''
        try:
            target, info = load_image(paths[0], state.model.image_size)
        except EXPECTED_ERRORS as err:
            return None, f'Cannot use this photo: {error_text(err)}'
        w, h = info['original_size']
        side = info['size']
        return enlarge(target, state.scale), (
            f'Photo {code(paths[0])}: {w}x{h} px, centre square taken as the '
            f'generator sees it ({side}x{side}). Press **Invert photo**.')

    @handler(reply_photo, needs_session=False, refuse_busy=False)
    def invert_photo(self,
                     state: DemoState,
                     photo: Any,
                     preset: str = 'pti',
                     perceptual: str = 'lpips',
                     steps: Any = None,
                     pti_steps: Any = None,
                     *,
                     ticket: Optional[int] = None) -> Iterator[PhotoView]:
        """Invert an uploaded photo, yielding progress views.

        Args:
            state (DemoState): The tab.
            photo (str): Path of the upload (``gr.File(type='filepath')``).
            preset (str): ``'pti'`` or ``'projector'``.
            perceptual (str): ``'lpips'`` or ``'none'``.
            steps (int, optional): Projection steps (None: the preset's).
            pti_steps (int, optional): Tuning steps (None: the preset's).
            ticket (int, optional): From
                :meth:`~.drag_runner.DragRunner.request_run` when the button
                was pressed; a Stop since then cancels the inversion before
                it begins.

        Yields:
            PhotoView: A preview every few steps; the last one shows the
            reconstruction, ready to drag (points, mask and trajectory of
            the previous edit are dropped), or why it failed (the edit is
            then kept).
        """
        claim = state.claim_run(ticket)
        if claim is not None:
            yield reply_photo(self, state, QUEUED_STOP if claim == 'cancelled'
                              else 'A drag or an inversion is running: press '
                              '**Stop** first.')
            return
        try:
            why_not, args = (NO_MODEL, ()) if state.session is None else \
                self._check_photo(state, photo, preset, perceptual, steps,
                                  pti_steps)
            if why_not is None:
                why_not = self.tabs.reserve_tuned(state)
            if why_not is not None:
                yield reply_photo(self, state, why_not)
                return
            yield from self._invert(state, *args)
        finally:
            state.tuning = False
            state.end_run()
            if state.closed:  # the tab went while it ran: free what it held
                state.remove_folder()  # the run may have written to it
                release_memory()

    @staticmethod
    def _check_photo(state: DemoState, photo: Any, preset: str,
                     perceptual: str, steps: Any, pti_steps: Any
                     ) -> Tuple[Optional[str], tuple]:
        """Cheap checks of the page's values (and of the photo)."""
        from mmagic_draggan.structures.drag_options import check_option
        paths = upload_paths(photo)
        if not paths:
            return 'Upload a photo first.', ()
        path = paths[0]
        if preset not in PRESETS:
            return plain(f'preset must be one of {list(PRESETS)}; got '
                         f'{preset!r}'), ()
        if perceptual not in PERCEPTUAL:
            return plain(f'perceptual must be one of {list(PERCEPTUAL)}; '
                         f'got {perceptual!r}'), ()
        counts = []
        for what, v in (('projection steps', steps),
                        ('tuning steps', pti_steps)):
            if v is None or v == '':
                counts.append(None)
                continue
            try:  # the max_steps rule: a whole number >= 0
                counts.append(check_option('max_steps', v))
            except ValueError as err:
                return error_text(str(err).replace('max_steps', what)), ()
        try:
            load_image(path, state.model.image_size)
        except EXPECTED_ERRORS as err:
            return f'Cannot use this photo: {error_text(err)}', ()
        return None, (path, preset, perceptual, *counts)

    def _invert(self, state: DemoState, path: str, preset: str,
                perceptual: str, steps: Optional[int],
                pti_steps: Optional[int]) -> Iterator[PhotoView]:
        from mmagic_draggan.apis.invert import invert
        model = self.cache.get(state.config, state.random_weights)  # base
        events: 'queue.Queue[Tuple[str, Any]]' = queue.Queue()

        def callback(stage, step, total, loss, psnr, preview):
            events.put(('step', (stage, step, total, psnr, preview)))
            return not state.stop_event.is_set()

        def work():
            try:
                events.put(('done', invert(
                    model, path, out_dir=osp.join(state.out_dir, 'inversion'),
                    preset=preset, perceptual=perceptual, steps=steps,
                    pti_steps=pti_steps, callback=callback, progress=False,
                    handle_sigint=False, overwrite=True)))
            except BaseException as err:  # reported to the page
                if not isinstance(err, EXPECTED_ERRORS):  # a bug
                    logger.exception('inversion failed')
                events.put(('error', err))

        worker = threading.Thread(target=work, name='draggan-invert',
                                  daemon=True)
        worker.start()
        yield PhotoView(self.view(state, 'Inverting the photo...'), None,
                        '')
        preview = None
        finished = False
        try:
            while True:
                kind, item = events.get()
                while kind == 'step':  # show only the newest step
                    if item[4] is not None:
                        preview = item[4]
                    try:
                        kind, item = events.get_nowait()
                    except queue.Empty:
                        break
                if kind == 'step':
                    stage, step, total, psnr, _ = item
                    shown = None if preview is None else compose(
                        preview, watermark=state.watermark, scale=state.scale)
                    status = (f'Inverting: {stage} step {step}/{total}, PSNR '
                              f'{psnr:.1f} dB. **Stop** ends it early.')
                    yield PhotoView(View(shown, '', 0, status), None, '')
                    continue
                finished = True
                if kind == 'error':
                    yield PhotoView(self.view(
                        state, failure('inversion', item)), None, '')
                    return
                if not state.closed:  # else nobody is left to drag it
                    yield self._attach_inversion(state, item)
                return
        finally:
            if not finished:  # the page went away: stop the inversion too
                state.stop_event.set()
            worker.join()

    def _attach_inversion(self, state: DemoState, out) -> PhotoView:
        """Make the inverted photo the tab's edit."""
        inv = out.inversion
        built = self._build(state.config, state.random_weights, inversion=inv,
                            inversion_file=out.paths['inversion'])
        with state.lock:
            running, state.running = state.running, False
            try:
                state.attach(state.config, *built)
            finally:
                state.running = running
            state.show_mask = False
        m = out.metrics
        lp = f', LPIPS {m["lpips"]:.3f}' if m.get('lpips') is not None \
            else ''
        stopped = ' (stopped early)' if m.get('stopped') else ''
        summary = (f'Reconstruction PSNR **{m["psnr"]:.1f} dB**{lp} (pivot '
                   f'{m.get("pivot_psnr", float("nan")):.1f} dB) after '
                   f'{sum(m.get("steps", {}).values())} steps in '
                   f'{m.get("total_seconds", 0):.0f} s{stopped}.')
        return PhotoView(
            self.view(state, 'Photo inverted: click a **handle**, then its '
                      '**target**, and press **Start**. ' + summary),
            side_by_side(out.target, out.reconstruction, state.scale),
            summary)
