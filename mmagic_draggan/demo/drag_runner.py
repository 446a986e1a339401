"""The drag: Start runs :meth:`DragSession.run` on a worker thread and
streams a view per step to the page; Stop asks it to end after the current
step.

Watching costs little: a step renders its image (a full synthesis, about as
dear as the step itself on a CPU) only when :class:`FramePacer` says the page
can show a new frame; the other steps update the step count and status over
the last frame. The final image is always shown. The demo's trajectory
recorder is passive (``TrajectoryRecorderHook(passive=True)``): it keeps the
frames shown and the final image and asks for no render of its own, so a
watched drag renders at the pacer's rate only. Other hooks that want images
still get theirs (and those count as frames).

Settings from the page go through :meth:`DragSession.configure` (that is,
:meth:`~mmagic_draggan.structures.DragOptions.replace`), which owns their
rules and messages.

Start waits in Gradio's queue while other drags use the workers. The page
first calls :meth:`DragRunner.request_run` (not queued) for a ticket and
passes it to :meth:`DragRunner.start`, so that a Stop pressed while the drag
waits cancels it (:meth:`~.state.DemoState.stop`): the drag then ends at
once with :data:`~.state.QUEUED_STOP`.
"""
import logging
import queue
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from mmagic_draggan.engine.hooks.drag_hook import DragHook
from .display import compose, display_scale
from .guards import NO_MODEL, handler
from .messages import EXPECTED_ERRORS, error_text, failure
from .state import QUEUED_STOP, DemoState
from .tabs import release_memory
from .views import View, points_text

logger = logging.getLogger(__name__)

__all__ = ['DragRunner', 'FramePacer', 'PAGE_OPTIONS', 'end_message']

#: The drag options the page's Advanced panel sets, in ``start`` order.
PAGE_OPTIONS = ('latent_space', 'lr', 'lambda_mask', 'max_steps', 'r1', 'r2')


def end_message(result, steps: int, stop_distance: float) -> str:
    """The status line after a run of ``steps`` steps.

    Args:
        result (DragResult): The run's result.
        steps (int): Steps this Start took.
        stop_distance (float): The stop distance in force, px.
    """
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


class FramePacer(DragHook):
    """A drag hook that asks for a step's image only when a new frame is due.

    A frame is due when the page has taken the previous one
    (:meth:`consumed`) and at least ``max(min_interval, render_s * (1 -
    render_share) / render_share)`` seconds have passed since it was made,
    ``render_s`` being the measured extra cost of a step that renders: at
    most one frame per ``min_interval`` and rendering at most about
    ``render_share`` of the drag's wall time. Images that other hooks ask
    for count as frames too. The image of a run's first step is the one the
    page already shows, so the first frame waits ``min_interval`` as well.

    Args:
        min_interval (float): Least seconds between two frames.
            Defaults to 0.5.
        render_share (float): Largest share of wall time spent rendering,
            in (0, 1]. Defaults to 0.25.
        clock (callable): Seconds, monotonic. Defaults to
            :func:`time.monotonic`.
    """

    def __init__(self,
                 min_interval: float = 0.5,
                 render_share: float = 0.25,
                 clock: Callable[[], float] = time.monotonic):
        if not 0 < render_share <= 1:
            raise ValueError(f'render_share must be in (0, 1]; got '
                             f'{render_share}')
        self.min_interval = float(min_interval)
        self.render_share = float(render_share)
        self.clock = clock
        self._lock = threading.Lock()
        #: steps of this run that rendered an image
        self.frames = 0
        self.before_run(None)

    def before_run(self, session) -> None:
        with self._lock:
            now = self.clock()
            self._frame_at = now  # the page shows the start image now
            self._step_end = now
            self._waiting = False  # a frame the page has not taken yet
            self._plain_s: Optional[float] = None
            self._render_s = 0.
            self.frames = 0

    def wants_image(self, session) -> bool:
        with self._lock:
            if self._waiting:
                return False
            share = self.render_share
            gap = max(self.min_interval,
                      self._render_s * (1 - share) / share)
            return self.clock() - self._frame_at >= gap

    def after_step(self, session, result) -> None:
        with self._lock:
            now = self.clock()
            seconds, self._step_end = now - self._step_end, now
            if result.image is None:
                self._plain_s = seconds
                return
            if self._plain_s is not None:
                self._render_s = max(0., seconds - self._plain_s)
            self._frame_at = now
            self._waiting = True
            self.frames += 1

    def consumed(self) -> None:
        """The page took the newest frame (thread safe)."""
        with self._lock:
            self._waiting = False


class DragRunner:
    """Start/Stop handlers of :class:`~.handlers.DemoHandlers`.

    Attributes:
        frame_interval (float): Least seconds between two streamed frames
            (see :class:`FramePacer`).
    """

    frame_interval = 0.5

    # _begin takes the ticket and claims the run under the lock
    @handler(needs_session=False, refuse_busy=False)
    def start(self, state: DemoState, latent_space: Optional[str] = None,
              lr: Any = None, lambda_mask: Any = None, max_steps: Any = None,
              r1: Any = None, r2: Any = None, *,
              ticket: Optional[int] = None) -> Iterator[View]:
        """Run (or resume) the drag, yielding a view after each step.

        It ends by itself on convergence or after ``max_steps`` steps, or
        when :meth:`stop` is called. Settings left as None keep the
        session's; the others are checked by the session's
        :class:`~mmagic_draggan.structures.DragOptions` (a refused value is
        the status line, nothing runs). Starting again continues the same
        drag (same latent and Adam state) as long as the points, mask and
        latent space / lr are unchanged.

        Args:
            ticket (int, optional): From :meth:`request_run` when Start was
                pressed; a Stop since then cancels the drag before it
                begins.
        """
        values = (latent_space, lr, lambda_mask, max_steps, r1, r2)
        changes = {n: v for n, v in zip(PAGE_OPTIONS, values) if v is not None}
        # never yield while holding state.lock: the next step of a generator
        # may run on another thread
        why_not = self._begin(state, changes, ticket)
        if why_not is not None:
            yield self.view(state, why_not)
            return
        try:
            yield from self._run(state, state.session)
        finally:
            state.end_run()
            if state.closed:  # the tab went while it ran: free what it held
                state.remove_folder()  # the run may have written to it
                release_memory()

    @staticmethod
    def _begin(state: DemoState, changes: Dict[str, Any],
               ticket: Optional[int]) -> Optional[str]:
        """Take the page's ticket, check, configure and claim the drag;
        returns why not, or None (then :attr:`~.state.DemoState.running`
        is set)."""
        with state.lock:
            claim = state.claim_run(ticket)
            if claim == 'cancelled':
                return QUEUED_STOP
            if claim == 'running':
                return 'A drag is already running.'
            s = state.session
            why = None
            if s is None:
                why = NO_MODEL
            elif state.pending is not None:
                why = ('The last handle has no target yet: click its target '
                       '(or **Undo point**) before **Start**.')
            elif not s.targets:
                why = 'Click a handle and then its target on the image first.'
            else:
                try:
                    s.configure(**changes)
                except ValueError as err:
                    why = error_text(err)
            if why is not None:
                state.end_run()
        return why

    def _run(self, state: DemoState, s) -> Iterator[View]:
        events: 'queue.Queue[Tuple[str, Any]]' = queue.Queue()
        pacer = FramePacer(min_interval=self.frame_interval)

        def callback(res):
            events.put(('step', res))
            return not state.stop_event.is_set()

        def work():
            try:
                events.put(('done', s.run(callback=callback)))
            except BaseException as err:  # reported to the page
                if not isinstance(err, EXPECTED_ERRORS):  # a bug
                    logger.exception('drag failed')
                events.put(('error', err))

        first_step = s.steps_taken
        # the frame shown: an image and the points tracked on it
        frame = (state.image, s.handles, s.targets)
        s.hooks.append(pacer)  # run() asks it whether a step renders
        worker = threading.Thread(target=work, name='draggan-drag',
                                  daemon=True)
        worker.start()
        finished = False
        try:
            yield self.view(state, 'Dragging...')
            while True:
                steps = []
                kind, item = events.get()
                while kind == 'step':  # take every step queued so far
                    steps.append(item)
                    try:
                        kind, item = events.get_nowait()
                    except queue.Empty:
                        kind = None
                if kind is None:  # show the newest step and image
                    framed = [r for r in steps if r.image is not None]
                    if framed:
                        res = framed[-1]
                        state.image = res.image
                        frame = (res.image, res.handles, res.targets)
                    yield self._step_view(state, s, frame, steps[-1])
                    if framed:
                        pacer.consumed()
                    continue
                finished = True
                if kind == 'error':
                    state.image = s.image()
                    yield self.view(state, failure('drag', item))
                    return
                state.last_result = item
                state.image = item.image
                yield self.view(state, end_message(
                    item, s.steps_taken - first_step, s.stop_distance))
                return
        finally:
            if not finished:  # the page went away or cancelled: stop too
                state.stop_event.set()
            worker.join()
            s.hooks.remove(pacer)

    @staticmethod
    def _step_view(state: DemoState, s, frame: Tuple[Any, list, list],
                   res) -> View:
        """The view during a drag: the last frame with its points, and the
        step count and status of the newest step.

        Args:
            state (DemoState): The tab (its display settings).
            s (DragSession): The session being dragged.
            frame (tuple): ``(image, handles, targets)``: (H, W, 3) uint8
                RGB and the [[x, y], ...] points tracked on it.
            res (StepResult): The newest step.
        """
        image, handles, targets = frame
        shown = compose(image, handles, targets,
                        mask=s.mask, show_mask=state.show_mask,
                        watermark=state.watermark,
                        scale=display_scale(s.image_size))
        return View(
            shown, points_text(s.handles, s.targets), res.step,
            f'Dragging... step {res.step}, mean distance '
            f'{res.mean_distance:.1f} px.')

    @staticmethod
    def request_run(state: Optional[DemoState]) -> Optional[int]:
        """Start or Invert photo was pressed: number the run that now waits
        in the queue, so that :meth:`stop` can cancel it there (not queued
        itself; safe at any time).

        Returns:
            int | None: The ticket to pass to :meth:`start` or
            :meth:`~.photo_panel.PhotoPanel.invert_photo` (None without a
            state).
        """
        return None if state is None else state.request_run()

    @staticmethod
    def stop(state: Optional[DemoState]) -> Optional[str]:
        """Ask the running drag or inversion to stop after its current step,
        and cancel runs of the tab still waiting in the queue (safe to call
        at any time, from any thread).

        Returns:
            str | None: The status line when runs were cancelled in the
            queue and none was running (a running one reports itself).
        """
        if state is None:
            return None
        return QUEUED_STOP if state.stop() else None
