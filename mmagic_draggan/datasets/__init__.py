"""Drag tasks for batch runs through MMEngine's Runner."""
from .drag_task import (DragTask, TaskError, parse_task, read_latent,
                        read_mask, read_task_file)
from .drag_task_dataset import DragTaskDataset

__all__ = [
    'DragTask', 'DragTaskDataset', 'TaskError', 'parse_task',
    'read_task_file', 'read_mask', 'read_latent'
]
