"""The drag: Start runs :meth:`DragSession.run` on a worker thread and
streams a view per step to the page; Stop asks it to end after the current
step.

Settings from the page go through :meth:`DragSession.configure` (that is,
:meth:`~mmagic_draggan.structures.DragOptions.replace`), which owns their
rules and messages.
"""
import logging
import queue
import threading
from typing import Any, Dict, Iterator, Optional, Tuple

from .display import compose
from .guards import handler
from .state import DemoState
from .views import View

logger = logging.getLogger(__name__)

__all__ = ['DragRunner', 'PAGE_OPTIONS', 'end_message']

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


class DragRunner:
    """Start/Stop handlers of :class:`~.handlers.DemoHandlers`."""

    @handler(refuse_busy=False)  # _begin claims the run under the lock
    def start(self, state: DemoState, latent_space: Optional[str] = None,
              lr: Any = None, lambda_mask: Any = None, max_steps: Any = None,
              r1: Any = None, r2: Any = None) -> Iterator[View]:
        """Run (or resume) the drag, yielding a view after each step.

        It ends by itself on convergence or after ``max_steps`` steps, or
        when :meth:`stop` is called. Settings left as None keep the
        session's; the others are checked by the session's
        :class:`~mmagic_draggan.structures.DragOptions` (a refused value is
        the status line, nothing runs). Starting again continues the same
        drag (same latent and Adam state) as long as the points, mask and
        latent space / lr are unchanged.
        """
        values = (latent_space, lr, lambda_mask, max_steps, r1, r2)
        changes = {n: v for n, v in zip(PAGE_OPTIONS, values) if v is not None}
        # never yield while holding state.lock: the next step of a generator
        # may run on another thread
        why_not = self._begin(state, changes)
        if why_not is not None:
            yield self.view(state, why_not)
            return
        try:
            yield from self._run(state, state.session)
        finally:
            with state.lock:
                state.running = False

    @staticmethod
    def _begin(state: DemoState, changes: Dict[str, Any]) -> Optional[str]:
        """Check, configure and claim the drag; returns why not, or None."""
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
            try:
                s.configure(**changes)
            except ValueError as err:
                return str(err)
            state.running = True
            state.stop_event.clear()
        return None

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
                yield self.view(state, end_message(
                    item, s.steps_taken - first_step, s.stop_distance))
                return
        finally:
            if not finished:  # the page went away or cancelled: stop too
                state.stop_event.set()
            worker.join()

    def _step_view(self, state: DemoState, res) -> View:
        """The view of one streamed :class:`StepResult` (its image)."""
        state.image = res.image
        image = compose(res.image, res.handles, res.targets,
                        mask=state.session.mask, show_mask=state.show_mask,
                        watermark=state.watermark, scale=state.scale)
        return View(
            image, self.points_text(state), res.step,
            f'Dragging... step {res.step}, mean distance '
            f'{res.mean_distance:.1f} px.')

    def stop(self, state: Optional[DemoState]) -> None:
        """Ask the running drag to stop after its current step (safe to call
        at any time, from any thread)."""
        if state is None:
            return
        state.stop_event.set()
        if state.running and state.session is not None:
            state.session.request_stop()
