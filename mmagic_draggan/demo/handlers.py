"""The demo's event handlers, as plain Python (no Gradio objects).

``demo/gradio_draggan.py`` lays out the page and wires each event to one
method of :class:`DemoHandlers`. Every method takes the caller's
:class:`~.state.DemoState` and returns what the page shows: a
:class:`~.views.View` (image, points, step count, status) or a
:class:`~.views.Refresh` (a view plus the settings, checkpoint line and brush
background after the edit was replaced). Bad input never raises: the status
line says what is wrong and the state is left as it was (:mod:`.guards`).

The methods live with their panel: :mod:`.model_panel`, :mod:`.points_panel`,
:mod:`.mask_panel`, :mod:`.drag_runner`, :mod:`.files_panel`,
:mod:`.photo_panel`; the view builders in :mod:`.views`. The tabs' states
are made and freed by a :class:`~.tabs.TabRegistry`.
"""
from typing import Optional

from .drag_runner import DragRunner
from .files_panel import FilesPanel
from .guards import BUSY, LOADING, NO_MODEL
from .mask_panel import MaskPanel
from .model_cache import ModelCache
from .model_panel import FRAME_BUDGET, MAX_FRAMES, ModelPanel
from .photo_panel import PhotoPanel, PhotoView
from .points_panel import PointsPanel
from .tabs import TabRegistry
from .views import Refresh, Settings, View, ViewsMixin

__all__ = ['DemoHandlers', 'View', 'Settings', 'Refresh', 'PhotoView', 'BUSY',
           'LOADING',
           'NO_MODEL', 'MAX_FRAMES', 'FRAME_BUDGET']


class DemoHandlers(ModelPanel, PointsPanel, MaskPanel, DragRunner,
                   FilesPanel, PhotoPanel, ViewsMixin):
    """Event handlers of the DragGAN demo.

    Args:
        cache (ModelCache): Shared models.
        default_config (str): Config the page opens with.
        random_weights (bool): Open with random weights (``--random-weights``).
        default_seed (int): Seed of the first image. Defaults to 0.
        max_frames (int): Trajectory frames kept per session, at most; fewer
            for large images (:data:`~.model_panel.FRAME_BUDGET`).
        tabs (TabRegistry, optional): The server's tabs (their folders, the
            cap on tuned copies); default: a registry of its own, without
            a cap.
    """

    def __init__(self,
                 cache: ModelCache,
                 default_config: str,
                 random_weights: bool = False,
                 default_seed: int = 0,
                 max_frames: int = MAX_FRAMES,
                 tabs: Optional[TabRegistry] = None):
        self.cache = cache
        self.tabs = TabRegistry() if tabs is None else tabs
        self.default_config = default_config
        self.random_weights = bool(random_weights)
        self.default_seed = int(default_seed)
        self.max_frames = int(max_frames)
