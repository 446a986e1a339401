from .drag_hook import DragHook
from .drag_visualization_hook import DragVisualizationHook
from .early_stop_hook import EarlyStopHook
from .trajectory_recorder_hook import (TrajectoryRecorderHook,
                                       auto_frame_interval)

__all__ = [
    'DragHook', 'DragVisualizationHook', 'EarlyStopHook',
    'TrajectoryRecorderHook', 'auto_frame_interval'
]
