"""What the demo page shows after a handler: the view, the settings panel
and the side panels after the edit was replaced.

Points are model pixels ``(x, y)`` here; the display enlargement is applied
only when the image is composed (:func:`~mmagic_draggan.utils.visualization.
compose`).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from .display import compose, editor_value
from .guards import NO_MODEL
from .messages import EXPECTED_ERRORS, code, error_text
from .state import DemoState

__all__ = ['View', 'Settings', 'Refresh', 'ViewsMixin', 'points_text']


@dataclass
class View:
    """What the page shows after a handler.

    Attributes:
        image (np.ndarray | None): Display image (H * s, W * s, 3) uint8
            with overlays and watermark.
        points (str): The handle/target list, one pair a line.
        steps (int): Steps taken in this edit.
        status (str): Markdown status line.
    """
    image: Optional[np.ndarray]
    points: str
    steps: int
    status: str


@dataclass
class Settings:
    """The image and drag settings shown in the page (auto radii resolved
    to pixels).

    Attributes:
        seed (int): Seed of the start latent.
        truncation (float): Truncation psi of the start latent.
        latent_space (str): ``'w+'`` or ``'w'``.
        lr (float): Adam learning rate.
        lambda_mask (float): Weight of the fixed-region term.
        max_steps (int): Steps of one Start.
        r1 (float): Motion-supervision radius, px.
        r2 (int): Tracking radius, px.
    """
    seed: int
    truncation: float
    latent_space: str
    lr: float
    lambda_mask: float
    max_steps: int
    r1: float
    r2: int


@dataclass
class Refresh:
    """A :class:`View` after the edit was replaced, plus the side panels.

    Attributes:
        view (View): The page view.
        settings (Settings | None): New settings; None keeps the page's
            (the edit was not replaced).
        checkpoint (str): Markdown line about the selected checkpoint.
        can_download (bool): Offer the download button.
        editor (dict | None): New brush-editor value; None keeps it.
    """
    view: View
    settings: Optional[Settings]
    checkpoint: str
    can_download: bool
    editor: Optional[dict]

    @property
    def replaced(self) -> bool:
        """The edit was replaced (a new image, model or loaded session):
        what the page showed about the old one (e.g. a photo's
        comparison) goes."""
        return self.settings is not None


def _fmt(v: float) -> str:
    return f'{v:.0f}' if float(v).is_integer() else f'{v:.1f}'


def points_text(handles: Sequence[Sequence[float]],
                targets: Sequence[Sequence[float]],
                pending: Optional[Sequence[int]] = None) -> str:
    """One line per handle: ``1: (x, y) -> (x, y)``; a ``pending`` handle
    (x, y) without target last."""
    lines: List[str] = [
        f'{i + 1}: ({_fmt(h[0])}, {_fmt(h[1])}) -> '
        f'({_fmt(t[0])}, {_fmt(t[1])})'
        for i, (h, t) in enumerate(zip(handles, targets))
    ]
    if pending is not None:
        x, y = pending
        lines.append(f'{len(lines) + 1}: ({x}, {y}) -> (click a target)')
    return '\n'.join(lines)


class ViewsMixin:
    """The view builders of :class:`~.handlers.DemoHandlers` (needs
    ``cache``, ``default_config`` and ``default_seed``)."""

    def view(self, state: Optional[DemoState], status: str = '') -> View:
        """The current view of ``state`` with a status line."""
        if state is None or state.session is None or state.image is None:
            return View(None, '', 0, status or NO_MODEL)
        s = state.session
        handles = s.handles
        if state.pending is not None:
            handles = handles + [list(state.pending)]
        image = compose(state.image, handles, s.targets, mask=s.mask,
                        show_mask=state.show_mask,
                        watermark=state.watermark, scale=state.scale)
        return View(image, self.points_text(state), s.steps_taken, status)

    @staticmethod
    def points_text(state: DemoState) -> str:
        """The points of ``state``'s edit (see :func:`points_text`)."""
        s = state.session
        return points_text(s.handles, s.targets, state.pending)

    def settings(self, state: DemoState) -> Optional[Settings]:
        """The settings of the current edit (None without one)."""
        s = state.session
        if s is None:
            return None
        opts, H = s.options, s.image_size
        return Settings(
            seed=self.default_seed if s.seed is None else s.seed,
            truncation=float(s.truncation),
            latent_space=opts.latent_space,
            lr=float(opts.lr),
            lambda_mask=float(opts.lambda_mask),
            max_steps=int(opts.max_steps),
            r1=float(opts.r1_px(H)),
            r2=int(opts.r2_px(H)))

    def refresh(self,
                state: Optional[DemoState],
                status: str = '',
                config: Optional[str] = None,
                settings: bool = True,
                editor: bool = True) -> Refresh:
        """A :class:`Refresh` of ``state``; the checkpoint line is about
        ``config`` (default: the state's)."""
        config = config or (state.config if state else None) \
            or self.default_config
        try:
            ck = self.cache.status(config)
            ck_line, can_download = ck.describe(), ck.needs_download
        except EXPECTED_ERRORS as err:
            ck, can_download = None, False
            ck_line = f'Cannot read {code(config)}: {error_text(err)}'
        if state is not None and state.random_weights and ck is not None \
                and not ck.random and config == state.config \
                and ck.path is not None:
            ck_line = 'Running with **random weights** (no checkpoint). ' \
                + ck_line
        has = state is not None and state.session is not None
        return Refresh(
            view=self.view(state, status),
            settings=self.settings(state) if settings and has else None,
            checkpoint=ck_line,
            can_download=can_download,
            editor=editor_value(state.image, state.scale)
            if editor and has else None)

    def editor(self, state: Optional[DemoState]) -> Optional[dict]:
        """A fresh brush-editor value (the current image, no strokes)."""
        if state is None or state.image is None:
            return None
        return editor_value(state.image, state.scale)
