"""Plain data shared by every layer (bottom layer: imports only torch and
numpy): drag options, points, the start image, number checks and drag
tasks."""
from .drag_options import (OPTION_NAMES, OPTION_SPECS, PRECISIONS,
                           DragOptions, check_option, default_r1, default_r2,
                           default_stop_distance)
from .drag_task import DragTask, TaskError
from .numbers import check_int, check_number, is_int
from .start_image import StartImage, check_seed, check_truncation
from .points import (PointsXY, check_point_pairs, check_points, rc_to_xy,
                     xy_to_rc)

__all__ = [
    'OPTION_NAMES', 'OPTION_SPECS', 'PRECISIONS', 'DragOptions',
    'check_option', 'default_r1', 'default_r2', 'default_stop_distance',
    'DragTask', 'TaskError', 'StartImage', 'check_seed', 'check_truncation',
    'check_int', 'check_number', 'is_int', 'PointsXY', 'check_point_pairs',
    'check_points', 'rc_to_xy', 'xy_to_rc'
]
