"""The points panel: clicks on the image make handle/target pairs; undo,
clear and reset the image.

Clicks arrive in display pixels and become model pixels ``(x, y)`` in
:func:`~mmagic_draggan.demo.display.click_to_pixel`; the session checks them
(:func:`~mmagic_draggan.structures.points.check_point_pairs`).
"""
from typing import Any

from .display import click_to_pixel
from .guards import handler
from .messages import error_text
from .state import DemoState
from .views import View

__all__ = ['PointsPanel', 'REPLACING']

#: Status line of a click while a new image is being made.
REPLACING = ('A new image is on its way: click again once it shows (this '
             'click was not used).')


class PointsPanel:
    """Point handlers of :class:`~.handlers.DemoHandlers`. Each runs under
    the state's lock, so a drag cannot start half-way through an edit."""

    @handler(locked=True)
    def click(self, state: DemoState, index: Any) -> View:
        """A click on the image at display pixel ``index`` = (x, y): a
        handle, or the target of the waiting handle. While a new image is
        being made (:meth:`~.model_panel.ModelPanel.announce_new_image`)
        the click is refused with a message: it was aimed at the image that
        is about to go."""
        if state.replacing:
            return self.view(state, REPLACING)
        try:
            xy = click_to_pixel(index, state.scale, state.session.image_size)
        except ValueError as err:
            return self.view(state, error_text(err))
        if state.pending is None:
            state.pending = xy
            return self.view(
                state, f'Handle at ({xy[0]}, {xy[1]}): now click its target.')
        handle, state.pending = state.pending, None
        try:
            state.session.add_point(handle, xy)
        except ValueError as err:
            state.pending = handle
            return self.view(state, error_text(err))
        n = len(state.session.targets)
        return self.view(
            state, f'Point {n}: ({handle[0]}, {handle[1]}) -> ({xy[0]}, '
            f'{xy[1]}). Add more, or press **Start**.')

    @handler(locked=True)
    def undo(self, state: DemoState) -> View:
        """Remove the waiting handle, else the last handle/target pair."""
        if state.pending is not None:
            state.pending = None
            return self.view(state, 'Removed the handle without target.')
        if not state.session.targets:
            return self.view(state, 'No points to undo.')
        state.session.undo_point()
        return self.view(state, 'Removed the last point.')

    @handler(locked=True)
    def clear(self, state: DemoState) -> View:
        """Remove every point."""
        state.pending = None
        state.session.clear_points()
        return self.view(state, 'Points cleared.')

    @handler(locked=True)
    def reset_image(self, state: DemoState) -> View:
        """Back to the start image (points go back to where they were set;
        targets and mask stay; the trajectory is dropped)."""
        state.session.reset()
        state.recorder.frames.clear()
        state.last_result = None
        state.image = state.session.image()
        return self.view(state, 'Image reset to the start.')
