from .drag_hook import DragHook
from .early_stop_hook import EarlyStopHook
from .trajectory_recorder_hook import TrajectoryRecorderHook

__all__ = ['DragHook', 'EarlyStopHook', 'TrajectoryRecorderHook']
