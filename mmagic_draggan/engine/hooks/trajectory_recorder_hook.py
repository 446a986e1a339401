"""Record the frames of a drag (for GIF/MP4 export)."""
from dataclasses import dataclass
from typing import List

import numpy as np

from mmagic_draggan.registry import DRAG_HOOKS
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


@DRAG_HOOKS.register_module()
class TrajectoryRecorderHook(DragHook):
    """Keep the image and points of every ``interval``-th step, plus the
    final image of each run.

    Frames are recorded at steps ``1, 1 + interval, 1 + 2 * interval, ...``.
    When more than ``max_frames`` are held, every other frame is dropped and the
    interval doubles, so a long drag keeps frames spread over all of it
    (memory stays bounded: a 512x512 frame is 0.75 MB).

    Args:
        interval (int): Record every this many steps at first. Defaults to 1.
        max_frames (int): Most frames held (>= 2). Defaults to 1000.
    """

    def __init__(self, interval: int = 1, max_frames: int = 1000):
        if int(interval) < 1:
            raise ValueError(f'interval must be >= 1; got {interval}')
        if int(max_frames) < 2:
            raise ValueError(f'max_frames must be >= 2; got {max_frames}')
        self.interval = int(interval)
        self.max_frames = int(max_frames)
        self.frames: List[Frame] = []

    def wants_image(self, session) -> bool:
        return session.steps_taken % self.interval == 0

    def after_step(self, session, result) -> None:
        if result.image is None or (result.step - 1) % self.interval:
            return
        self.frames.append(
            Frame(result.step, result.image, result.handles, result.targets))
        if len(self.frames) > self.max_frames:
            self.interval *= 2
            self.frames = [
                f for f in self.frames if (f.step - 1) % self.interval == 0
            ]

    def after_run(self, session, result) -> None:
        if self.frames and self.frames[-1].step == session.steps_taken \
                and np.array_equal(self.frames[-1].image, result.image):
            return
        self.frames.append(
            Frame(session.steps_taken, result.image, result.handles,
                  result.targets))
