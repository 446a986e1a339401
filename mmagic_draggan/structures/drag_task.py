"""A drag task of a batch run, ready to run (files already loaded)."""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
from torch import Tensor

__all__ = ['DragTask', 'TaskError']


class TaskError(ValueError):
    """A task file or task is invalid, or the model refused a task; the
    message names where and why."""


@dataclass
class DragTask:
    """A drag task: points, start latent or seed, mask, options.

    Attributes:
        task_id (str): Unique, file-name safe id.
        handles (list): Handles [[x, y], ...] in image pixels.
        targets (list): Targets [[x, y], ...], one per handle.
        seed (int, optional): Seed of the start latent.
        latent (Tensor, optional): Start W+ latent, (1, L, C), when the task
            names a ``latent_file``.
        mask (np.ndarray, optional): (H, W) bool, True = may change.
        truncation (float, optional): psi for ``seed``; None = the model's.
        options (dict): Drag option overrides (``DragOptions`` names).
        latent_file (str, optional): Absolute path the latent came from.
        mask_file (str, optional): Absolute path the mask came from.
        inversion_file (str, optional): Absolute path of a photo's
            ``inversion.pth``: the drag runs on its tuned weights and starts
            at its pivot.
        sample_idx (int): Index in the dataset (-1 when not from one).
    """
    task_id: str
    handles: List[List[float]]
    targets: List[List[float]]
    seed: Optional[int] = None
    latent: Optional[Tensor] = None
    mask: Optional[np.ndarray] = None
    truncation: Optional[float] = None
    options: Dict[str, Any] = field(default_factory=dict)
    latent_file: Optional[str] = None
    mask_file: Optional[str] = None
    inversion_file: Optional[str] = None
    sample_idx: int = -1
