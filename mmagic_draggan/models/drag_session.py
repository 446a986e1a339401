"""A DragGAN editing session: the one API that CLI, demo and Runner share.

Coordinate convention: at this API points are ``(x, y)`` image pixels
(x = column, y = row, origin top-left, pixel centres at integers). Inside,
tensors are (row, col) and named ``*_rc``. Conversion happens only in
:func:`xy_to_rc` / :func:`rc_to_xy`.
"""
import copy
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from mmagic_draggan.registry import HOOKS
from .draggan import DragGAN, to_uint8_image

PointsXY = Sequence[Sequence[float]]


def xy_to_rc(points_xy: PointsXY) -> Tensor:
    """[[x, y], ...] -> (N, 2) float tensor in (row, col) order."""
    t = torch.as_tensor(points_xy, dtype=torch.float64).reshape(-1, 2)
    return t.flip(1).float()


def rc_to_xy(points_rc: Tensor) -> List[List[float]]:
    """(N, 2) (row, col) tensor -> [[x, y], ...] floats."""
    return [[float(c), float(r)] for r, c in points_rc.tolist()]


@dataclass
class StepResult:
    """What one :meth:`DragSession.step` did.

    Attributes:
        step (int): Steps taken in this session so far (this one included).
        handles (list): Tracked handle positions [[x, y], ...] that this
            step's motion supervision used.
        targets (list): Targets [[x, y], ...].
        distances (list[float]): |target - handle| per point, px.
        mean_distance (float): Mean of ``distances`` (0 with no points).
        loss (float | None): Loss value; None when no update was made.
        converged (bool): Every handle within the stop distance (no update
            was made).
        image (np.ndarray | None): (H, W, 3) uint8 RGB of the latent this
            step tracked on, when asked for.
    """
    step: int
    handles: List[List[float]]
    targets: List[List[float]]
    distances: List[float]
    mean_distance: float
    loss: Optional[float]
    converged: bool
    image: Optional[np.ndarray] = None


@dataclass
class DragResult:
    """What :meth:`DragSession.run` ended with.

    Attributes:
        image (np.ndarray): (H, W, 3) uint8 RGB of the final latent.
        latent (Tensor): Final W+ latent (1, L, C), CPU.
        steps (int): Steps taken by this run.
        converged (bool): Ended because every handle reached its target.
        stop_reason (str): ``'converged'``, ``'max_steps'``, ``'stopped'``
            (stop request or a hook) or ``'no_points'``.
        handles / targets (list): Final [[x, y], ...].
        mean_distance (float): Final mean handle-target distance, px.
        seconds (float): Wall time of the run.
        history (list[StepResult]): Per-step results (images dropped).
    """
    image: np.ndarray
    latent: Tensor
    steps: int
    converged: bool
    stop_reason: str
    handles: List[List[float]]
    targets: List[List[float]]
    mean_distance: float
    seconds: float
    history: List[StepResult] = field(default_factory=list)


class DragSession:
    """An interactive DragGAN edit of one image.

    A *drag* starts at the first :meth:`step` after the points or the mask
    changed: the current latent becomes its anchor, ``F0`` its features and
    ``f_i = F0(p_i)`` the reference features. Steps then track, test the stop
    rule and update the optimised latent rows with Adam. Stopping and
    calling :meth:`run` again resumes the same drag (same latent and Adam
    state); a new point set starts a new drag from the current latent (a
    fresh Adam), never from the original image.

    Args:
        model (DragGAN): The model (generator, loss, tracker, defaults).
        latent (Tensor, optional): Starting W+ latent, (1, L, C).
        seed (int, optional): Or a seed to make it from.
        truncation (float, optional): psi for ``seed``.
        hooks (list, optional): Drag hooks (configs or objects) besides the
            model's ``drag_hooks``.
        **options: Per-session overrides of ``SESSION_OPTIONS``.
    """

    def __init__(self,
                 model: DragGAN,
                 latent: Optional[Tensor] = None,
                 seed: Optional[int] = None,
                 truncation: Optional[float] = None,
                 hooks: Optional[Sequence] = None,
                 **options):
        if (latent is None) == (seed is None):
            raise ValueError('give exactly one of latent= and seed=')
        self.model = model
        self.seed = None if seed is None else int(seed)
        #: psi the start latent was made with (meaningful with ``seed``)
        self.truncation = float(model.truncation if truncation is None
                                else truncation)
        if latent is None:
            latent = model.latent_from_seed(self.seed, truncation)
        self.initial_latent = model.check_latent(latent)
        self.options = {**model.defaults}
        self.motion_loss = copy.copy(model.motion_loss)
        self.tracker = copy.copy(model.tracker)
        self.configure(**options)
        self.hooks = [
            HOOKS.build(h) if isinstance(h, dict) else h
            for h in list(model.drag_hooks) + list(hooks or [])
        ]
        self.steps_taken = 0
        self.history: List[StepResult] = []
        self._user_handles_rc = torch.zeros(0, 2)
        self._handles_rc = torch.zeros(0, 2)
        self._targets_rc = torch.zeros(0, 2)
        self._mask: Optional[Tensor] = None
        self._stop = False
        self._set_base(self.initial_latent)

    # ------------------------------------------------------------------
    # options
    def configure(self, **options) -> None:
        """Change hyper-parameters (``SESSION_OPTIONS``) between steps.

        Changes of the latent space, the number of optimised rows or the
        learning rate start a new drag at the next step; the others take
        effect at once.
        """
        opts = self.model.check_options(options)
        loss_kw = {k: opts.pop(k) for k in ('r1', 'lambda_mask') if k in opts}
        if loss_kw:
            loss = self.motion_loss
            self.motion_loss = type(loss)(**{
                'r1': loss.r1, 'lambda_mask': loss.lambda_mask,
                'min_distance': loss.min_distance, **loss_kw})
        track_kw = {k: opts.pop(k) for k in ('r2', 'metric') if k in opts}
        if track_kw:
            self.tracker = type(self.tracker)(**{
                'r2': self.tracker.r2, 'metric': self.tracker.metric,
                **track_kw})
        restart = any(k in opts and opts[k] != self.options.get(k)
                      for k in ('latent_space', 'num_opt_latents', 'lr'))
        self.options.update(opts)
        if restart and hasattr(self, '_base'):
            self._set_base(self.latent)

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def stop_distance(self) -> float:
        d = self.options.get('stop_distance')
        return self.model.default_stop_distance() if d is None else float(d)

    # ------------------------------------------------------------------
    # points and mask
    def _check_points(self, points_xy: PointsXY, what: str) -> Tensor:
        try:
            arr = np.asarray(points_xy, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f'{what} must be a list of [x, y] pixel pairs; '
                             f'got {points_xy!r}') from None
        if arr.size == 0:
            return torch.zeros(0, 2)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f'{what} must be a list of [x, y] pixel pairs; '
                             f'got an array of shape {arr.shape}')
        if not np.isfinite(arr).all():
            raise ValueError(f'{what} hold NaN or inf: {arr.tolist()}')
        H = W = self.image_size
        off = [p for p in arr.tolist()
               if not (0 <= p[0] <= W - 1 and 0 <= p[1] <= H - 1)]
        if off:
            raise ValueError(
                f'{what} {off} lie outside the {W}x{H} image: x must be in '
                f'[0, {W - 1}] and y in [0, {H - 1}] (x = column, y = row)')
        return xy_to_rc(arr)

    def set_points(self, handles: PointsXY, targets: PointsXY) -> None:
        """Replace all points; handles[i] is dragged to targets[i] ((x, y))."""
        h = self._check_points(handles, 'handles')
        t = self._check_points(targets, 'targets')
        if len(h) != len(t):
            raise ValueError(f'got {len(h)} handles but {len(t)} targets: '
                             'every handle needs exactly one target')
        self._handles_rc, self._targets_rc = h, t
        self._user_handles_rc = h.clone()
        self._new_drag = True

    def add_point(self, handle: Sequence[float],
                  target: Sequence[float]) -> None:
        """Add one handle (x, y) and its target (x, y)."""
        self.set_points(rc_to_xy(self._handles_rc) + [list(handle)],
                        rc_to_xy(self._targets_rc) + [list(target)])

    def undo_point(self) -> None:
        """Remove the last handle/target pair (no-op without points)."""
        if len(self._handles_rc):
            self.set_points(rc_to_xy(self._handles_rc[:-1]),
                            rc_to_xy(self._targets_rc[:-1]))

    def clear_points(self) -> None:
        """Remove all points."""
        self.set_points([], [])

    @property
    def handles(self) -> List[List[float]]:
        """Current (tracked) handle positions, [[x, y], ...]."""
        return rc_to_xy(self._handles_rc)

    @property
    def initial_handles(self) -> List[List[float]]:
        """Handles where they were set (before any tracking), [[x, y], ...]."""
        return rc_to_xy(self._user_handles_rc)

    @property
    def targets(self) -> List[List[float]]:
        """Targets, [[x, y], ...]."""
        return rc_to_xy(self._targets_rc)

    def set_mask(self, mask) -> None:
        """Set the editable region, (H, W), nonzero = may change; None to
        remove. Outside it the features are held to those at the start of
        the drag (weight ``lambda_mask``)."""
        if mask is None:
            self._mask = None
        else:
            m = torch.as_tensor(np.asarray(mask))
            H = W = self.image_size
            if m.ndim == 3 and m.shape[-1] in (1, 3, 4):
                m = m[..., 0]
            if tuple(m.shape) != (H, W):
                raise ValueError(f'mask must be {H}x{W} (H, W) like the '
                                 f'image; got shape {tuple(m.shape)}')
            m = m.float()
            if not torch.isfinite(m).all():
                raise ValueError('mask holds NaN or inf values')
            self._mask = (m > 0).float()
        self._new_drag = True

    @property
    def mask(self) -> Optional[np.ndarray]:
        """The mask as (H, W) bool, or None."""
        return None if self._mask is None else self._mask.bool().numpy()

    # ------------------------------------------------------------------
    # latent
    def _set_base(self, latent: Tensor) -> None:
        """Make ``latent`` the base of a fresh optimisation (new drag)."""
        n = int(self.options['num_opt_latents'])
        self._base = latent.detach().clone()
        if self.options['latent_space'] == 'w+':
            # W+: a copy of the first n rows
            param = self._base[:, :n].clone()
        else:
            # W: one shared offset, (1, 1, C), added to the first n rows
            param = torch.zeros_like(self._base[:, :1])
        self._param = param.requires_grad_(True)
        self._optim = torch.optim.Adam([self._param],
                                       lr=float(self.options['lr']))
        self._new_drag = True

    def _current_latent(self) -> Tensor:
        n = int(self.options['num_opt_latents'])
        if self.options['latent_space'] == 'w+':
            head = self._param
        else:
            head = self._base[:, :n] + self._param
        return torch.cat([head, self._base[:, n:]], dim=1)

    @property
    def latent(self) -> Tensor:
        """Current W+ latent, (1, L, C), detached, on the model's device."""
        return self._current_latent().detach()

    def image(self) -> np.ndarray:
        """Render the current latent, (H, W, 3) uint8 RGB."""
        return to_uint8_image(self.model.render(self.latent))

    def reset(self) -> None:
        """Back to the initial latent; the handles go back to where they
        were set, targets and mask are kept."""
        self._set_base(self.initial_latent)
        self._handles_rc = self._user_handles_rc.clone()
        self.steps_taken = 0
        self.history = []

    # ------------------------------------------------------------------
    # the algorithm
    def _begin_drag(self) -> None:
        mode = self.options['mode']
        self._set_base(self.latent)
        self._new_drag = False
        with torch.no_grad():
            feats0, _ = self.model.features(self.latent, mode=mode)
            self._feats0 = type(feats0)(feats0.feat.detach(), feats0.size)
            if len(self._handles_rc):
                self._ref_feats = feats0.sample(
                    self._handles_rc).t().contiguous()  # (N, C)
            else:
                self._ref_feats = None

    def _wants_image(self) -> bool:
        return any(h.wants_image(self) for h in self.hooks)

    def step(self, return_image: bool = False) -> StepResult:
        """One DragGAN iteration: forward, track, stop test, update.

        Args:
            return_image (bool): Include the image of the latent this step
                tracked on (costs a full synthesis in ``'fast'`` mode).

        Returns:
            StepResult: Positions, distances, loss and the image if asked.
        """
        if self._new_drag:
            self._begin_drag()
        mode = self.options['mode']
        want_image = return_image or self._wants_image()
        with torch.enable_grad():  # also under a caller's no_grad
            ws = self._current_latent()
            feats, img = self.model.features(
                ws, mode=mode, return_image=want_image)
        loss_value = None
        converged = True
        if len(self._handles_rc):
            self._handles_rc = self.tracker(feats, self._handles_rc,
                                            self._ref_feats)
            dists = (self._targets_rc - self._handles_rc).norm(dim=1)
            converged = bool((dists <= self.stop_distance).all())
            if not converged:
                with torch.enable_grad():
                    loss = self.motion_loss(
                        feats, self._handles_rc, self._targets_rc,
                        mask=self._mask, feats0=self._feats0)
                if loss is not None:
                    self._optim.zero_grad(set_to_none=True)
                    loss.backward()
                    self._optim.step()
                    loss_value = float(loss.detach())
        dist_list = (self._targets_rc - self._handles_rc).norm(dim=1).tolist()
        self.steps_taken += 1
        result = StepResult(
            step=self.steps_taken,
            handles=self.handles,
            targets=self.targets,
            distances=dist_list,
            mean_distance=float(np.mean(dist_list)) if dist_list else 0.,
            loss=loss_value,
            converged=converged,
            image=None if img is None else to_uint8_image(img))
        self.history.append(
            StepResult(**{**result.__dict__, 'image': None}))
        for hook in self.hooks:
            hook.after_step(self, result)
        return result

    def request_stop(self) -> None:
        """Ask a running :meth:`run` to stop after the current step (thread
        safe; hooks and UIs call it)."""
        self._stop = True

    def run(self,
            max_steps: Optional[int] = None,
            callback: Optional[Callable[[StepResult], Optional[bool]]] = None,
            return_images: bool = False) -> DragResult:
        """Iterate until convergence, ``max_steps`` steps, or a stop request.

        Args:
            max_steps (int, optional): Step limit of this call; defaults to the
                session's ``max_steps``.
            callback (callable, optional): Called with each
                :class:`StepResult`; returning ``False`` stops the run.
            return_images (bool): Put the image into every step result.

        Returns:
            DragResult: The final image, latent, positions and why it ended.
        """
        limit = int(self.options['max_steps'] if max_steps is None
                    else max_steps)
        self._stop = False
        start = time.perf_counter()
        first = len(self.history)
        for hook in self.hooks:
            hook.before_run(self)
        reason = 'max_steps'
        converged = False
        if not len(self._handles_rc):
            reason = 'no_points'
        else:
            for _ in range(limit):
                res = self.step(return_image=return_images)
                if callback is not None and callback(res) is False:
                    self._stop = True
                if res.converged:
                    reason, converged = 'converged', True
                    break
                if self._stop:
                    reason = 'stopped'
                    break
        dists = (self._targets_rc - self._handles_rc).norm(dim=1)
        result = DragResult(
            image=self.image(),
            latent=self.latent.cpu(),
            steps=len(self.history) - first,
            converged=converged,
            stop_reason=reason,
            handles=self.handles,
            targets=self.targets,
            mean_distance=float(dists.mean()) if len(dists) else 0.,
            seconds=time.perf_counter() - start,
            history=self.history[first:])
        for hook in self.hooks:
            hook.after_run(self, result)
        self._stop = False
        return result
