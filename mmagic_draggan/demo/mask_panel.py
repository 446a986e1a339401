"""The mask panel: the painted area becomes the region that may change; the
display toggles (mask tint, watermark)."""
from typing import Any

from .display import mask_from_editor
from .guards import handler
from .messages import error_text
from .state import DemoState
from .views import View

__all__ = ['MaskPanel']


class MaskPanel:
    """Mask and display handlers of :class:`~.handlers.DemoHandlers`."""

    @handler(locked=True)
    def apply_mask(self, state: DemoState, editor: Any) -> View:
        """Use the painted area of the brush editor value ``editor`` as the
        region allowed to change."""
        try:
            mask = mask_from_editor(editor, state.session.image_size)
            if mask is None:
                return self.view(
                    state, 'Nothing is painted: paint the area that may '
                    'change with the brush first.')
            state.session.set_mask(mask)  # (H, W) bool; refuses all-zero
        except ValueError as err:
            return self.view(state, error_text(err))
        state.show_mask = True
        share = 100 * mask.mean()
        return self.view(
            state, f'Mask set: {share:.0f}% of the image may change (the '
            'rest is tinted grey).')

    @handler(locked=True)
    def reset_mask(self, state: DemoState) -> View:
        """No mask: the whole image may change."""
        state.session.set_mask(None)
        return self.view(state, 'Mask removed: the whole image may change.')

    @handler(needs_session=False, refuse_busy=False)
    def set_display(self, state: DemoState, show_mask: bool,
                    watermark: bool) -> View:
        """Show/hide the mask tint and the watermark (also during a drag)."""
        state.show_mask = bool(show_mask)
        state.watermark = bool(watermark)
        return self.view(state, '')
