"""The state one browser tab of the demo owns."""
import shutil
import tempfile
import threading
from typing import Callable, Optional, Tuple

import numpy as np

from .display import display_scale

__all__ = ['DemoState', 'QUEUED_STOP']

#: Status line of a Start (or Invert) that Stop cancelled in the queue.
QUEUED_STOP = ('Stopped while waiting in the queue: nothing ran. Press '
               '**Start** (or **Invert photo**) again when you want it.')


class DemoState:
    """Per-tab state of the demo (held in a ``gr.State``).

    Gradio gives every browser tab its own value of a ``gr.State`` and passes
    that very object to each handler, so two people never share points,
    images or optimisers; only the (read-only) model is shared.

    A Start or Invert waits in Gradio's queue while other runs use the
    workers. The page first calls :meth:`request_run` (not queued), which
    numbers the request; the queued run then passes that ticket to
    :meth:`claim_run`, so a :meth:`stop` that came while it waited cancels
    it before it begins.

    Args:
        root (str, optional): Folder in which the tab's private folder is
            made (the server's tab root); default: the system's temporary
            folder.

    Attributes:
        config (str | None): Config of the current model.
        random_weights (bool): Whether the model has random weights.
        model (DragGAN | None): The shared model.
        session (DragSession | None): The edit (on a private tuned copy of
            the generator when it edits an inverted photo).
        recorder (TrajectoryRecorderHook | None): The edit's frames.
        image (np.ndarray | None): Current image, (H, W, 3) uint8, no
            overlays.
        pending (tuple | None): A handle (x, y) still waiting for its target.
        show_mask (bool): Tint the fixed region in the shown image.
        watermark (bool): "AI generated" on shown and saved images.
        last_result (DragResult | None): The last finished run.
        running (bool): A drag or an inversion is running.
        tuning (bool): An inversion is making a tuned copy (counts against
            the server's ``--max-tuned``).
        replacing (int): New images asked for and not made yet (a click
            meanwhile would land on the old image).
        stop_event (threading.Event): Set by Stop; the running drag checks it
            after every step.
        lock (threading.RLock): Guards changes of the fields above.
        out_dir (str): Private folder for saved files (removed by
            :meth:`close`).
        tab_id (str | None): The Gradio session of the tab, once registered
            (:class:`~.tabs.TabRegistry`).
        on_close (callable | None): Called with the state by :meth:`close`.
        closed (bool): :meth:`close` was called; nothing attaches any more.
    """

    def __init__(self, root: Optional[str] = None):
        self.config: Optional[str] = None
        self.random_weights = False
        self.model = None
        self.session = None
        self.recorder = None
        self.image: Optional[np.ndarray] = None
        self.pending: Optional[Tuple[int, int]] = None
        self.show_mask = False
        self.watermark = True
        self.last_result = None
        self.running = False
        self.tuning = False
        self.replacing = 0
        self.stop_event = threading.Event()
        self.lock = threading.RLock()
        # run requests: numbered tickets; Stop cancels those up to its time
        self._run_lock = threading.Lock()
        self._requested = 0  # the last ticket given
        self._claimed = 0  # the last ticket that began
        self._stopped = 0  # the last ticket a Stop cancelled
        if root is None:
            self.out_dir = tempfile.mkdtemp(prefix='draggan_demo_')
        else:
            self.out_dir = tempfile.mkdtemp(prefix='tab_', dir=root)
        self.tab_id: Optional[str] = None
        self.on_close: Optional[Callable[['DemoState'], None]] = None
        self.closed = False

    def __deepcopy__(self, memo) -> 'DemoState':
        # gr.State may deep-copy values; a session's state is one live object
        return self

    @property
    def scale(self) -> int:
        """Display enlargement of the current model's images."""
        return display_scale(self.model.image_size) if self.model else 1

    @property
    def holds_tuned(self) -> bool:
        """The edit runs on a private tuned copy of the generator."""
        s = self.session
        return s is not None and s.model is not self.model

    @property
    def busy(self) -> bool:
        """A drag or an inversion is under way."""
        return self.running

    def attach(self, config: str, random_weights: bool, model, session,
               recorder) -> None:
        """Make ``session`` (on ``model``) the current edit.

        Raises:
            RuntimeError: A drag is running (it would keep the old edit), or
                the tab was closed.
        """
        with self.lock:
            if self.closed:
                raise RuntimeError('This tab was closed: reload the page.')
            if self.running:
                raise RuntimeError('A drag is running: press Stop first.')
            self.config = config
            self.random_weights = bool(random_weights)
            self.model = model
            self.session = session
            self.recorder = recorder
            self.pending = None
            self.last_result = None
            self.image = session.image()

    def request_run(self) -> int:
        """A Start or Invert was pressed: its run now waits in the queue
        (thread safe, never blocks on a run).

        Returns:
            int: The run's ticket, for :meth:`claim_run`.
        """
        with self._run_lock:
            self._requested += 1
            return self._requested

    def claim_run(self, ticket: Optional[int] = None) -> Optional[str]:
        """Begin a queued run: mark the tab running.

        Args:
            ticket (int, optional): From :meth:`request_run` (None: a run
                that was not requested, e.g. from Python; it cannot have
                been cancelled).

        Returns:
            str | None: ``'cancelled'`` (a Stop came while it waited),
            ``'running'`` (another run of this tab is under way) or None
            (claimed: :attr:`running` is set and the stop event cleared;
            call :meth:`end_run` when done).
        """
        with self._run_lock:
            if ticket is not None:
                ticket = int(ticket)
                if ticket <= self._stopped:
                    return 'cancelled'
                self._claimed = max(self._claimed, ticket)
            if self.running:
                return 'running'
            self.running = True
            self.stop_event.clear()
            return None

    def end_run(self) -> None:
        """The claimed run ended."""
        with self._run_lock:
            self.running = False

    def stop(self) -> bool:
        """Stop the running run after its current step and cancel the runs
        still waiting in the queue (thread safe, at any time).

        Returns:
            bool: Runs were cancelled in the queue and none is running.
        """
        with self._run_lock:
            cancelled = self._requested > max(self._stopped, self._claimed)
            self._stopped = self._requested
            self.stop_event.set()
            running = self.running
            session = self.session
        if running and session is not None:
            session.request_stop()
        return cancelled and not running

    def close(self) -> None:
        """Ask a running drag or inversion to stop, drop the edit (and with
        it any tuned weights of an inverted photo, which only this tab's
        session holds) and remove the private folder. Called when the tab
        closes (Gradio's unload), when its state expires, and on shutdown;
        calling it again does nothing."""
        self.stop()
        with self.lock:
            was_closed, self.closed = self.closed, True
            self.session = self.recorder = self.last_result = None
            self.image = self.model = None
            self.pending = None
        self.remove_folder()
        if not was_closed and self.on_close is not None:
            self.on_close(self)

    def remove_folder(self) -> None:
        """Delete the private folder (again, after a run that was still
        writing into it when the tab closed)."""
        shutil.rmtree(self.out_dir, ignore_errors=True)
