from .draggan import DragGAN
from .drag_session import DragResult, DragSession, StepResult
from . import inversion  # noqa: F401  (registers the inversion components)
from .drag_task_runner import new_task_session, run_task, run_tasks
from .losses import MotionSupervisionLoss
from .trackers import NearestNeighbourTracker

__all__ = [
    'DragGAN', 'DragSession', 'StepResult', 'DragResult',
    'MotionSupervisionLoss', 'NearestNeighbourTracker',
    'new_task_session', 'run_task', 'run_tasks'
]
