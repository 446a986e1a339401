"""The server's browser tabs: each tab's state found by its Gradio session,
freed as soon as the tab goes, and every tab folder under one root.

Gradio keeps a closed tab's ``gr.State`` for an hour and offers no hook with
the state itself, only ``demo.unload`` with the tab's ``gr.Request``. The
page therefore registers each new tab's :class:`~.state.DemoState` here under
its session hash (:meth:`TabRegistry.new_state`), and the unload event calls
:meth:`TabRegistry.close_tab`: the tab's run stops, its edit and any tuned
generator copy are dropped, its folder is deleted and the freed heap goes
back to the operating system (:func:`release_memory`), at once. The
``gr.State``'s own time to live (idle tabs) ends in :meth:`TabRegistry.expire`
and the server's shutdown in :meth:`TabRegistry.shutdown`, which also
removes the root folder.

The registry also caps the tuned copies: an inverted photo drags on a
private tuned copy of the generator (one per tab), and ``max_tuned`` bounds
how many tabs may hold or be making one at once.
"""
import gc
import logging
import shutil
import tempfile
import threading
import uuid
import weakref
from typing import Dict, List, Optional

from mmagic_draggan.utils.memory import release_freed_memory
from .state import DemoState

logger = logging.getLogger(__name__)

__all__ = ['TabRegistry', 'release_memory']


def release_memory() -> None:
    """Collect garbage, return the freed heap to the OS and, on CUDA, the
    freed cached blocks to the driver."""
    gc.collect()
    release_freed_memory()
    try:
        import torch
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
    except (ImportError, RuntimeError):  # no torch or no CUDA driver
        pass


class TabRegistry:
    """The live tabs of one demo server, by Gradio session hash.

    Args:
        root (str, optional): Folder that holds every tab folder; default a
            new ``draggan_demo_*`` folder in the system's temporary folder,
            made on first use and removed by :meth:`shutdown` (a given
            folder is kept, only the tab folders in it go).
        max_tuned (int, optional): Most tabs that may hold or be making a
            tuned generator copy at once (inverted photos); None: no limit.
    """

    def __init__(self,
                 root: Optional[str] = None,
                 max_tuned: Optional[int] = None):
        if max_tuned is not None and int(max_tuned) < 0:
            raise ValueError(f'max_tuned must be >= 0; got {max_tuned}')
        self.max_tuned = None if max_tuned is None else int(max_tuned)
        self._root = root
        self._lock = threading.Lock()
        self._tabs: Dict[str, DemoState] = {}
        self._remove_root = None

    @property
    def root(self) -> str:
        """The folder of the tab folders (made on first use; a folder of
        its own also goes when the registry does, or at exit)."""
        with self._lock:
            if self._root is None:
                self._root = tempfile.mkdtemp(prefix='draggan_demo_')
                self._remove_root = weakref.finalize(
                    self, shutil.rmtree, self._root, True)
            return self._root

    def __len__(self) -> int:
        return len(self._tabs)

    def get(self, tab_id: str) -> Optional[DemoState]:
        """The live state of tab ``tab_id``, or None."""
        return self._tabs.get(tab_id)

    def states(self) -> List[DemoState]:
        """The live states (a copy of the list)."""
        with self._lock:
            return list(self._tabs.values())

    def new_state(self, tab_id: Optional[str] = None) -> DemoState:
        """A new tab's state, with its folder under :attr:`root`.

        Args:
            tab_id (str, optional): The tab's Gradio session hash (None: a
                private id, for callers without a page).

        Returns:
            DemoState: Registered until it is closed.
        """
        state = DemoState(root=self.root)
        state.tab_id = tab_id or f'local-{uuid.uuid4().hex}'
        state.on_close = self._forget
        with self._lock:
            old = self._tabs.get(state.tab_id)
            self._tabs[state.tab_id] = state
        if old is not None:  # the page was opened again in the same session
            old.close()
        return state

    def _forget(self, state: DemoState) -> None:
        with self._lock:
            if self._tabs.get(state.tab_id) is state:
                del self._tabs[state.tab_id]

    def close_tab(self, tab_id: Optional[str]) -> bool:
        """The tab went away (Gradio's unload): free all it holds now.

        Returns:
            bool: A live tab was closed.
        """
        state = self._tabs.get(tab_id) if tab_id else None
        if state is None:
            return False
        state.close()
        release_memory()
        logger.info('tab %s closed: its edit and folder are freed',
                    str(tab_id)[:8])
        return True

    def expire(self, state: Optional[DemoState]) -> None:
        """The ``delete_callback`` of the tab's ``gr.State``: its time to
        live passed (or the hour Gradio keeps a closed tab's state). A tab
        whose run is under way is left alone: the run gives Gradio the state
        back with its next step."""
        if state is None or state.closed:
            return
        if state.busy:
            logger.info('tab %s expired while busy: kept',
                        str(state.tab_id)[:8])
            return
        state.close()
        release_memory()
        logger.info('tab %s expired: its edit and folder are freed',
                    str(state.tab_id)[:8])

    def reserve_tuned(self, state: DemoState) -> Optional[str]:
        """Let ``state`` make a tuned copy (an inversion, or a loaded
        session that drags a photo), if the cap allows; sets
        ``state.tuning`` (the caller clears it when done).

        Returns:
            str | None: Why not (the status line), or None.
        """
        with self._lock:
            if self.max_tuned is not None and not state.holds_tuned:
                others = sum(1 for s in self._tabs.values()
                             if s is not state and (s.tuning or s.holds_tuned))
                if others >= self.max_tuned:
                    return (f'The server holds {others} inverted photo(s) '
                            f'already, its limit (--max-tuned '
                            f'{self.max_tuned}): try again when another '
                            'tab is done (a new image or a closed tab frees '
                            'one).')
            state.tuning = True
        return None

    def shutdown(self) -> None:
        """Close every tab and remove the root folder (a given root is kept,
        emptied of tab folders). Safe to call more than once."""
        for state in self.states():
            state.close()
        with self._lock:
            remove = self._remove_root
        if remove is not None:
            remove()  # rmtree(root), once
