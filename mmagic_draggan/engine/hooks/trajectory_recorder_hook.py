"""Record the frames of a drag (for GIF/MP4 export)."""
from dataclasses import dataclass
from typing import List

import numpy as np

from mmagic_draggan.registry import HOOKS
from .drag_hook import DragHook


@dataclass
class Frame:
    """One recorded frame.

    Attributes:
        step (int): Session step the image belongs to.
        image (np.ndarray): (H, W, 3) uint8 RGB, without overlays.
        handles (list): [[x, y], ...] tracked on this image.
        targets (list): [[x, y], ...].
    """
    step: int
    image: np.ndarray
    handles: List[List[float]]
    targets: List[List[float]]


@HOOKS.register_module()
class TrajectoryRecorderHook(DragHook):
    """Keep the image and points of every ``interval``-th step, plus the
    final image of each run.

    Args:
        interval (int): Record every this many steps. Defaults to 1.
        max_frames (int): Stop recording after this many frames (memory
            bound: a 512x512 frame is 0.75 MB). Defaults to 1000.
    """

    def __init__(self, interval: int = 1, max_frames: int = 1000):
        if int(interval) < 1:
            raise ValueError(f'interval must be >= 1; got {interval}')
        self.interval = int(interval)
        self.max_frames = int(max_frames)
        self.frames: List[Frame] = []

    def wants_image(self, session) -> bool:
        return (len(self.frames) < self.max_frames
                and session.steps_taken % self.interval == 0)

    def after_step(self, session, result) -> None:
        if result.image is not None and len(self.frames) < self.max_frames:
            self.frames.append(
                Frame(result.step, result.image, result.handles,
                      result.targets))

    def after_run(self, session, result) -> None:
        if self.frames and self.frames[-1].step == session.steps_taken \
                and np.array_equal(self.frames[-1].image, result.image):
            return
        self.frames.append(
            Frame(session.steps_taken, result.image, result.handles,
                  result.targets))
