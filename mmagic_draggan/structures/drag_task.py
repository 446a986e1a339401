"""A drag task of a batch run, ready to run (files already loaded)."""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
from torch import Tensor

from mmagic_draggan.errors import InvalidInputError
from .start_image import DEFAULT_SEED, StartImage

__all__ = ['DragTask', 'TaskError']


class TaskError(InvalidInputError):
    """A task file or task is invalid, or the model refused a task; the
    message names where and why."""


@dataclass
class DragTask:
    """A drag task: points, start image, mask, options.

    Attributes:
        task_id (str): Unique, file-name safe id.
        handles (list): Handles [[x, y], ...] in image pixels.
        targets (list): Targets [[x, y], ...], one per handle.
        start (StartImage): The start: a seed (and truncation), a loaded
            W+ latent (1, L, C), or the absolute path of a photo's
            ``inversion.pth`` (the drag runs on its tuned weights and
            starts at its pivot, or at the latent when both are given).
            Defaults to the seed 0.
        mask (np.ndarray, optional): (H, W) bool, True = may change.
        options (dict): Drag option overrides (``DragOptions`` names).
        latent_file (str, optional): Absolute path the latent came from.
        mask_file (str, optional): Absolute path the mask came from.
        sample_idx (int): Index in the dataset (-1 when not from one).
    """
    task_id: str
    handles: List[List[float]]
    targets: List[List[float]]
    start: StartImage = field(
        default_factory=lambda: StartImage(seed=DEFAULT_SEED))
    mask: Optional[np.ndarray] = None
    options: Dict[str, Any] = field(default_factory=dict)
    latent_file: Optional[str] = None
    mask_file: Optional[str] = None
    sample_idx: int = -1

    @property
    def seed(self) -> Optional[int]:
        """Seed of the start latent (``start.seed``)."""
        return self.start.seed

    @property
    def truncation(self) -> Optional[float]:
        """psi for the seed (``start.truncation``); None = the model's."""
        return self.start.truncation

    @property
    def latent(self) -> Optional[Tensor]:
        """The start W+ latent (``start.latent``), (1, L, C)."""
        return self.start.latent

    @property
    def inversion_file(self) -> Optional[str]:
        """The photo's ``inversion.pth`` (``start.inversion``)."""
        return self.start.inversion
