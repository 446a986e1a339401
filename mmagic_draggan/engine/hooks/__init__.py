from .drag_hook import DragHook
from .drag_visualization_hook import DragVisualizationHook
from .early_stop_hook import EarlyStopHook
from .trajectory_recorder_hook import TrajectoryRecorderHook

__all__ = [
    'DragHook', 'DragVisualizationHook', 'EarlyStopHook',
    'TrajectoryRecorderHook'
]
