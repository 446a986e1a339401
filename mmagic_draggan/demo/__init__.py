"""Handler logic of the Gradio demo (``demo/gradio_draggan.py``).

The layout lives in ``demo/``; everything here is plain Python that the
tests call directly: a shared model cache, the per-browser-session state,
the display (overlays, click mapping, brush masks), the session files and
the handlers, one module per panel, behind one guard (:mod:`.guards`). No
DragGAN math: the handlers call :class:`~mmagic_draggan.models.DragSession`.
"""
from .handlers import DemoHandlers
from .model_cache import ModelCache
from .state import DemoState
from .tabs import TabRegistry
from .views import Refresh, Settings, View

__all__ = [
    'DemoHandlers', 'Refresh', 'Settings', 'View', 'ModelCache', 'DemoState',
    'TabRegistry'
]
