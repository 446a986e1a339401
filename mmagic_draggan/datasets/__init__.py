"""Drag tasks for batch runs through MMEngine's Runner."""
from .drag_task import (DragTask, TaskError, load_task, parse_task,
                        read_task_file, task_from_dict)
from .drag_task_dataset import DragTaskDataset

__all__ = [
    'DragTask', 'DragTaskDataset', 'TaskError', 'parse_task',
    'read_task_file', 'load_task', 'task_from_dict'
]
