"""The one guard every demo handler runs behind.

A handler is refused, with a status line and the state left as it was, when
the page is still loading (no state yet, or no more after the tab's idle
time ran out: :data:`LOADING`), when there is no edit (:data:`NO_MODEL`) or
when a drag is running (:data:`BUSY`). Bad input (the
:data:`~.messages.EXPECTED_ERRORS`) is each handler's own status line, with
its context; any other exception is a bug and becomes an "Internal error"
status line (logged in full) instead of a traceback in the page.
:func:`handler` does all of it, so the handlers only hold what they are
for.
"""
import contextlib
import functools
import inspect
import logging
from typing import Any, Callable, Optional

from .messages import error_text

logger = logging.getLogger(__name__)

__all__ = ['BUSY', 'LOADING', 'NO_MODEL', 'handler', 'refusal',
           'reply_view', 'reply_refresh', 'reply_saved']

BUSY = 'A drag is running: press **Stop** first.'
LOADING = ('The page is still loading (or this tab was idle so long that '
           'its edit was freed): try again in a moment, or reload the page.')
NO_MODEL = 'No model is loaded: pick one above (see the checkpoint line).'

#: ``reply(handlers, state, status)``: what a refused handler returns.
Reply = Callable[[Any, Any, str], Any]


def reply_view(self, state, status: str):
    """Refusal of a handler that returns a :class:`~.views.View`."""
    return self.view(state, status)


def reply_refresh(self, state, status: str):
    """Refusal of a handler that returns a :class:`~.views.Refresh`: the
    page keeps its settings and brush editor."""
    return self.refresh(state, status, settings=False, editor=False)


def reply_saved(self, state, status: str):
    """Refusal of Save: the view and no files."""
    return self.view(state, status), []


def refusal(state, needs_session: bool, refuse_busy: bool) -> Optional[str]:
    """Why a handler may not run on ``state`` now, or None."""
    if state is None:
        return LOADING
    if needs_session and state.session is None:
        return NO_MODEL
    if refuse_busy and state.running:
        return BUSY
    return None


def handler(reply: Reply = reply_view,
            needs_session: bool = True,
            refuse_busy: bool = True,
            locked: bool = False) -> Callable:
    """Decorate a ``method(self, state, *args)`` of the demo handlers.

    Args:
        reply (callable): Builds the return value of a refusal or failure
            from ``(self, state, status)`` (:func:`reply_view`,
            :func:`reply_refresh`, :func:`reply_saved`).
        needs_session (bool): Refuse without an edit (:data:`NO_MODEL`).
        refuse_busy (bool): Refuse while a drag runs (:data:`BUSY`).
        locked (bool): Check and run under ``state.lock``, so that a drag
            cannot start in between (for quick edits of the session). Not
            for generators: they must never hold the lock while yielding.

    Returns:
        callable: The decorator. A generator method yields the refusal or
        the failure as its last item instead.
    """

    def wrap(fn: Callable) -> Callable:
        name = fn.__name__

        def failed(self, state, err: Exception):
            logger.exception('demo handler %s failed', name)
            return reply(self, state, f'Internal error in {name}: '
                         f'{type(err).__name__}: {error_text(err)}')

        if inspect.isgeneratorfunction(fn):
            if locked:
                raise ValueError(f'{name}: a generator handler cannot hold '
                                 'the state lock')

            @functools.wraps(fn)
            def stream(self, state, *args, **kwargs):
                why = refusal(state, needs_session, refuse_busy)
                if why is not None:
                    yield reply(self, state, why)
                    return
                try:
                    yield from fn(self, state, *args, **kwargs)
                except Exception as err:  # never a traceback in the page
                    yield failed(self, state, err)

            return stream

        @functools.wraps(fn)
        def call(self, state, *args, **kwargs):
            try:
                lock = state.lock if locked and state is not None else \
                    contextlib.nullcontext()
                with lock:
                    why = refusal(state, needs_session, refuse_busy)
                    if why is not None:
                        return reply(self, state, why)
                    return fn(self, state, *args, **kwargs)
            except Exception as err:  # never a traceback in the page
                return failed(self, state, err)

        return call

    return wrap
