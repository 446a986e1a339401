from .motion_supervision_loss import MotionSupervisionLoss

__all__ = ['MotionSupervisionLoss']
