"""Record the frames of a drag (for GIF/MP4 export)."""
from dataclasses import dataclass
from typing import List

import numpy as np

from mmagic_draggan.registry import DRAG_HOOKS
from mmagic_draggan.structures.numbers import check_int
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


def auto_frame_interval(image_size: int) -> int:
    """The default recording interval of a drag's trajectory: every
    ``max(1, H // 128)``-th step (64 and 128 px: every step, 256: 2nd,
    512: 4th, 1024: 8th).

    A recorded step renders the full image, which costs about 0.6x (256 px)
    to 1.6x (512 px) a fast step on a CPU (README "Speed"), so this keeps
    rendering near a quarter of the drag's time or less. Deterministic: the
    same drag records the same steps on every machine.
    """
    return max(1, int(image_size) // 128)


@DRAG_HOOKS.register_module()
class TrajectoryRecorderHook(DragHook):
    """Keep the image and points of every ``interval``-th step, plus the
    final image of each run.

    Frames are recorded at steps ``1, 1 + interval, 1 + 2 * interval, ...``.
    When more than ``max_frames`` are held, every other frame is dropped and
    the interval doubles, so a long drag keeps frames spread over all of it
    (memory stays bounded: a 512x512 frame is 0.75 MB).

    A ``passive`` recorder never asks for an image: it keeps the images that
    are rendered anyway (the frames a watching page asked for, e.g. through
    the demo's ``FramePacer``, and the final image), so recording costs no
    render. Over ``max_frames`` it drops every other frame.

    Args:
        interval (int): Record every this many steps at first. Defaults to 1.
        max_frames (int): Most frames held (>= 2). Defaults to 1000.
        passive (bool): Only keep images other hooks or callers asked for;
            ``interval`` is then unused. Defaults to False.
    """

    def __init__(self,
                 interval: int = 1,
                 max_frames: int = 1000,
                 passive: bool = False):
        self.interval = check_int(interval, 'interval', 1)
        self.max_frames = check_int(max_frames, 'max_frames', 2)
        self.passive = bool(passive)
        self.frames: List[Frame] = []

    def wants_image(self, session) -> bool:
        if self.passive:
            return False
        return session.steps_taken % self.interval == 0

    def after_step(self, session, result) -> None:
        if result.image is None:
            return
        if not self.passive and (result.step - 1) % self.interval:
            return
        self.frames.append(
            Frame(result.step, result.image, result.handles, result.targets))
        if len(self.frames) <= self.max_frames:
            return
        if self.passive:
            self.frames = self.frames[::2]
        else:
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
