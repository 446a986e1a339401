"""Ctrl-C handling for long drags: the first press stops cleanly, the second
aborts."""
import signal
import sys
import threading
from typing import Callable, Optional


class StopOnSigint:
    """Context manager: turn the first SIGINT (Ctrl-C) into a stop request.

    Inside the ``with`` block the first Ctrl-C sets :attr:`stopped`, prints a
    note and calls ``on_stop`` (e.g. ``session.request_stop``), so the drag
    ends after the current step and its outputs are still written. A second
    Ctrl-C raises :class:`KeyboardInterrupt` at once. The previous handler is
    restored on exit.

    Nothing is installed outside the main thread (Python allows signal
    handlers only there), when SIGINT is ignored (``SIG_IGN``) or when its
    handler was not set from Python.

    Args:
        on_stop (callable, optional): Called (no arguments) on the first
            Ctrl-C.
        enabled (bool): Install the handler at all. Defaults to True.
        message (str): Printed to stderr on the first Ctrl-C.
    """

    def __init__(self,
                 on_stop: Optional[Callable[[], None]] = None,
                 enabled: bool = True,
                 message: str = 'Ctrl-C: stopping after this step and writing '
                 'the outputs (press Ctrl-C again to abort)'):
        self.on_stop = on_stop
        self.enabled = enabled
        self.message = message
        self.stopped = False
        self._previous = None
        self._installed = False

    def _handle(self, signum, frame) -> None:
        if self.stopped:
            raise KeyboardInterrupt
        self.stopped = True
        print(f'\n{self.message}', file=sys.stderr, flush=True)
        if self.on_stop is not None:
            self.on_stop()

    def __enter__(self) -> 'StopOnSigint':
        if (self.enabled
                and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN,
                                                            None)):
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
