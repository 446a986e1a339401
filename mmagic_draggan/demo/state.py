"""The state one browser session of the demo owns."""
import shutil
import tempfile
import threading
from typing import Optional, Tuple

import numpy as np

from .display import display_scale


class DemoState:
    """Per-browser-session state of the demo (held in a ``gr.State``).

    Gradio gives every browser tab its own value of a ``gr.State`` and passes
    that very object to each handler, so two people never share points,
    images or optimisers; only the (read-only) model is shared.

    Attributes:
        config (str | None): Config of the current model.
        random_weights (bool): Whether the model has random weights.
        model (DragGAN | None): The shared model.
        session (DragSession | None): The edit.
        recorder (TrajectoryRecorderHook | None): The edit's frames.
        image (np.ndarray | None): Current image, (H, W, 3) uint8, no
            overlays.
        pending (tuple | None): A handle (x, y) still waiting for its target.
        show_mask (bool): Tint the fixed region in the shown image.
        watermark (bool): "AI generated" on shown and saved images.
        last_result (DragResult | None): The last finished run.
        running (bool): A drag is running.
        stop_event (threading.Event): Set by Stop; the running drag checks it
            after every step.
        lock (threading.RLock): Guards changes of the fields above.
        out_dir (str): Private folder for saved files (removed by
            :meth:`close`).
    """

    def __init__(self):
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
        self.stop_event = threading.Event()
        self.lock = threading.RLock()
        self.out_dir = tempfile.mkdtemp(prefix='draggan_demo_')

    def __deepcopy__(self, memo) -> 'DemoState':
        # gr.State may deep-copy values; a session's state is one live object
        return self

    @property
    def scale(self) -> int:
        """Display enlargement of the current model's images."""
        return display_scale(self.model.image_size) if self.model else 1

    def attach(self, config: str, random_weights: bool, model, session,
               recorder) -> None:
        """Make ``session`` (on ``model``) the current edit.

        Raises:
            RuntimeError: A drag is running (it would keep the old edit).
        """
        with self.lock:
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

    def close(self) -> None:
        """Ask a running drag or inversion to stop, drop the edit (and with
        it any tuned weights of an inverted photo, which only this tab's
        session holds) and remove the private folder. Gradio calls it when
        the tab's state is deleted."""
        self.stop_event.set()
        if self.session is not None:
            self.session.request_stop()
        with self.lock:
            self.session = self.recorder = self.last_result = None
            self.image = None
        shutil.rmtree(self.out_dir, ignore_errors=True)
