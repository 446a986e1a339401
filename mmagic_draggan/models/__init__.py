from .draggan import DragGAN, to_uint8_image
from .drag_session import DragResult, DragSession, StepResult
from .losses import MotionSupervisionLoss
from .trackers import NearestNeighbourTracker

__all__ = [
    'DragGAN', 'DragSession', 'StepResult', 'DragResult',
    'MotionSupervisionLoss', 'NearestNeighbourTracker', 'to_uint8_image'
]
