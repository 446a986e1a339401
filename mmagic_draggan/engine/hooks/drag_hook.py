"""Base class of drag hooks: per-step observers of a ``DragSession``."""


class DragHook:
    """Called by :class:`~mmagic_draggan.models.DragSession` around steps.

    Drag hooks are registered in ``DRAG_HOOKS`` (not the Runner's
    ``HOOKS``) and built from config dicts (``DragGAN(drag_hooks=[...])`` or
    ``new_session(hooks=...)``).
    They observe and may call ``session.request_stop()``; they hold no model
    logic.
    """

    def wants_image(self, session) -> bool:
        """Whether the next step should render its image for this hook."""
        return False

    def before_run(self, session) -> None:
        """Before :meth:`DragSession.run` starts stepping."""

    def after_step(self, session, result) -> None:
        """After each step, with its :class:`StepResult`."""

    def after_run(self, session, result) -> None:
        """After :meth:`DragSession.run`, with its :class:`DragResult`."""
