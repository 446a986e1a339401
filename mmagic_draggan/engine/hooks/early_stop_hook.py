"""Stop a drag when the handles stop moving."""
from mmagic_draggan.registry import DRAG_HOOKS
from mmagic_draggan.structures.numbers import check_int
from .drag_hook import DragHook


@DRAG_HOOKS.register_module()
class EarlyStopHook(DragHook):
    """Request a stop when no handle moved for ``patience`` steps in a row.

    Tracking works on integer pixels, so "moved" means a tracked position
    changed by at least ``min_move`` px.

    Args:
        patience (int): Steps without movement before stopping. Defaults
            to 20.
        min_move (float): Movement (px) that counts. Defaults to 0.5.
    """

    def __init__(self, patience: int = 20, min_move: float = 0.5):
        self.patience = check_int(patience, 'patience', 1)
        self.min_move = float(min_move)
        self.stalled_steps = 0
        self._last = None
        self.triggered = False

    def before_run(self, session) -> None:
        self.stalled_steps = 0
        self._last = None
        self.triggered = False

    def after_step(self, session, result) -> None:
        if self._last is not None and len(self._last) == len(result.handles):
            moved = any(
                abs(a[0] - b[0]) >= self.min_move
                or abs(a[1] - b[1]) >= self.min_move
                for a, b in zip(self._last, result.handles))
            self.stalled_steps = 0 if moved else self.stalled_steps + 1
        self._last = result.handles
        if self.stalled_steps >= self.patience and not result.converged:
            self.triggered = True
            session.request_stop()
