"""A DragGAN editing session: the one API that CLI, demo and Runner share.

Coordinate convention: at this API points are ``(x, y)`` image pixels
(x = column, y = row, origin top-left, pixel centres at integers). Inside,
tensors are (row, col) and named ``*_rc``. Conversion happens only in
:func:`~mmagic_draggan.structures.points.xy_to_rc` /
:func:`~mmagic_draggan.structures.points.rc_to_xy`.
"""
import math
import time
from dataclasses import dataclass, field
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Optional,
                    Sequence)

import numpy as np
import torch
from torch import Tensor

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.fileio.mask import check_mask
from mmagic_draggan.fileio.session_file import ResumeInfo, SessionRecord
from mmagic_draggan.registry import DRAG_HOOKS
from mmagic_draggan.structures.drag_options import DragOptions
from mmagic_draggan.structures.points import (PointsXY, check_point_pairs,
                                              rc_to_xy, xy_to_rc)
from mmagic_draggan.structures.start_image import (StartImage,
                                                   check_truncation)
from mmagic_draggan.utils.memory import release_freed_memory
from mmagic_draggan.utils.image import to_uint8_image
from mmagic_draggan.utils.paths import portable_path
from .feature_maps import FeatureMap
from .feature_windows import Box, handle_boxes
from .modulated_conv import resolve_precision

if TYPE_CHECKING:  # annotations only: draggan.py imports this module
    from .draggan import DragGAN


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

    Made by :meth:`DragGAN.new_session`, which checks the start and applies
    an inversion (its tuned weights are in ``model``, its pivot in
    ``start.latent``).

    Args:
        model (DragGAN): The model (generator, loss, tracker, defaults).
        start (StartImage): The start: a W+ latent (1, L, C) tensor, or a
            seed (and truncation psi) to make it from.
        hooks (list, optional): Drag hooks (configs or objects) besides the
            model's ``drag_hooks``.
        inversion_file (str, optional): The ``inversion.pth`` the session
            drags (for the record).
        resume (ResumeInfo, optional): The earlier session this one
            continues: steps count on from its steps, and the record holds
            its history, time and the seed (and psi) it began from.
        **options: Per-session overrides of the model's
            :class:`~mmagic_draggan.structures.DragOptions`.

    Attributes:
        options (DragOptions): The options in force (change them with
            :meth:`configure`).
        start (StartImage): The start as given.
        seed (int | None): Seed of the image the edit began from (the
            start's, or the resumed session's).
        truncation (float): psi of that seed (the model's by default).
        inversion_file (str | None): The inversion the session drags.
        resume (ResumeInfo | None): What the session continues.
    """

    def __init__(self,
                 model: 'DragGAN',
                 start: StartImage,
                 hooks: Optional[Sequence] = None,
                 *,
                 inversion_file: Optional[str] = None,
                 resume: Optional[ResumeInfo] = None,
                 **options):
        if start.latent is None and start.seed is None:
            raise InvalidInputError(
                'a session starts at a latent or a seed; an inversion is '
                'applied by DragGAN.new_session')
        self.model = model
        self.start = start
        self.inversion_file = inversion_file
        self.resume = resume
        origin = resume or ResumeInfo(session_file='')
        self.seed = start.seed if start.seed is not None else origin.seed
        psi = start.truncation if start.seed is not None else \
            origin.truncation
        self.truncation = check_truncation(
            model.truncation if psi is None else psi)
        latent = start.latent
        if latent is None:
            latent = model.latent_from_seed(start.seed, start.truncation)
        self.initial_latent = model.check_latent(latent)
        self.options = model.default_options
        self.configure(**options)
        self.hooks = [
            DRAG_HOOKS.build(h) if isinstance(h, dict) else h
            for h in list(model.drag_hooks) + list(hooks or [])
        ]
        self.steps_taken = origin.steps
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
        """Change drag options between steps (any
        :class:`~mmagic_draggan.structures.DragOptions` field).

        Changes of the latent space, the number of optimised rows or the
        learning rate start a new drag at the next step; the others take
        effect at once. Nothing changes when a value is refused.

        Raises:
            ValueError: An unknown option or a bad value.
        """
        new = self.options.replace(**options)
        new.check_latents(self.model.num_latents)
        restart = self.options.restarts(new)
        self.options = new
        if restart and hasattr(self, '_base'):
            self._set_base(self.latent)

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def precision(self) -> str:
        """The synthesis precision in force: the ``precision`` option
        resolved for the model's device (``'fp32'`` in ``'exact'`` mode)."""
        if self.options.mode == 'exact':
            return 'fp32'
        return resolve_precision(self.options.precision, self.model.device)

    @property
    def stop_distance(self) -> float:
        """The stop distance in force, px (auto value resolved)."""
        return self.options.stop_distance_px(self.image_size)

    # ------------------------------------------------------------------
    # points and mask
    def set_points(self, handles: PointsXY, targets: PointsXY) -> None:
        """Replace all points; handles[i] is dragged to targets[i] ((x, y)).

        Raises:
            ValueError: See :func:`~mmagic_draggan.structures.points.
                check_point_pairs` (the points are kept as they were).
        """
        h, t = check_point_pairs(handles, targets, self.image_size)
        self._handles_rc, self._targets_rc = xy_to_rc(h), xy_to_rc(t)
        self._user_handles_rc = self._handles_rc.clone()
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
        the drag (weight ``lambda_mask``).

        Raises:
            ValueError: See :func:`~mmagic_draggan.fileio.mask.check_mask`
                (another size, NaN, all zero); the mask is kept as it was.
        """
        if mask is None:
            self._mask = None
        else:
            # (H, W) float, 1 = may change
            self._mask = torch.from_numpy(
                check_mask(mask, self.image_size)).float()
        self._new_drag = True

    @property
    def mask(self) -> Optional[np.ndarray]:
        """The mask as (H, W) bool, or None."""
        return None if self._mask is None else self._mask.bool().numpy()

    # ------------------------------------------------------------------
    # latent
    def _set_base(self, latent: Tensor) -> None:
        """Make ``latent`` the base of a fresh optimisation (new drag)."""
        n = self.options.num_opt_latents
        self._base = latent.detach().clone()
        if self.options.latent_space == 'w+':
            # W+: a copy of the first n rows
            param = self._base[:, :n].clone()
        else:
            # W: one shared offset, (1, 1, C), added to the first n rows
            param = torch.zeros_like(self._base[:, :1])
        self._param = param.requires_grad_(True)
        self._optim = torch.optim.Adam([self._param],
                                       lr=self.options.lr)
        self._new_drag = True

    def _current_latent(self) -> Tensor:
        n = self.options.num_opt_latents
        if self.options.latent_space == 'w+':
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
        return to_uint8_image(self.model.render(
            self.latent, self.options.num_opt_latents, self.precision))

    def initial_image(self) -> np.ndarray:
        """Render the start latent, (H, W, 3) uint8 RGB."""
        return to_uint8_image(self.model.render(
            self.initial_latent, self.options.num_opt_latents,
            self.precision))

    def reset(self) -> None:
        """Back to the initial latent; the handles go back to where they
        were set, targets and mask are kept."""
        self._set_base(self.initial_latent)
        self._handles_rc = self._user_handles_rc.clone()
        self.steps_taken = self.resume.steps if self.resume else 0
        self.history = []

    # ------------------------------------------------------------------
    # the algorithm
    def _begin_drag(self) -> None:
        self._set_base(self.latent)
        self._new_drag = False
        self._feats0 = None
        windows = self._windows()
        if windows is None:
            feats0 = self._start_features()
        else:
            # no mask term: the reference features from the same windows as
            # the first step's (so it finds each handle where it is)
            with torch.no_grad():
                feats0, _ = self.model.features(
                    self._base, mode=self.options.mode,
                    grad_rows=self.options.num_opt_latents,
                    precision=self.precision, windows=windows)
        if len(self._handles_rc):
            with torch.no_grad():
                self._ref_feats = feats0.sample(
                    self._handles_rc).t().contiguous()  # (N, C)
        else:
            self._ref_feats = None

    def _start_features(self) -> FeatureMap:
        """``F0``: the whole feature map of the drag's start latent, made
        when the mask term first needs it."""
        if self._feats0 is None:
            with torch.no_grad():
                # the same route as the steps (grad_rows): F of the first
                # step equals F0 bit for bit, where the L1 mask term has its
                # kink
                feats0, _ = self.model.features(
                    self._base, mode=self.options.mode,
                    grad_rows=self.options.num_opt_latents,
                    precision=self.precision)
                self._feats0 = type(feats0)(feats0.feat.detach(),
                                            feats0.size)
            release_freed_memory()  # the whole-map pass's buffers
        return self._feats0

    def _windows(self) -> Optional[List[Box]]:
        """Image boxes around the handles outside which this step reads no
        ``F`` (tracker window, then the motion loss around the tracked
        handle), or None when it needs the whole map: a mask term, no
        handles, or a tracker / loss that does not state its ``reach``.
        (:meth:`DragGAN.features` applies them in ``'fast'`` mode only.)"""
        tracker, loss = self.model.tracker, self.model.motion_loss
        opts = self.options
        if not len(self._handles_rc) or (
                self._mask is not None and opts.lambda_mask > 0) or \
                not (hasattr(tracker, 'reach') and hasattr(loss, 'reach')):
            return None
        H = self.image_size
        reach = tracker.reach(opts.r2_px(H)) + loss.reach(opts.r1_px(H))
        return handle_boxes(self._handles_rc, reach, (H, H))

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
        mode = self.options.mode
        want_image = return_image or self._wants_image()
        windows = self._windows()
        rows = self.options.num_opt_latents
        with torch.enable_grad():  # also under a caller's no_grad
            ws = self._current_latent()
            # in 'fast' mode the image is a separate render (in bands, see
            # DragGAN.render): whether a step shows its image never changes
            # its numbers, and it equals the session's renders bit for bit
            feats, img = self.model.features(
                ws, mode=mode, return_image=want_image and mode != 'fast',
                grad_rows=rows, precision=self.precision, windows=windows)
        if want_image and mode == 'fast':
            img = self.model.render(ws.detach(), grad_rows=rows,
                                    precision=self.precision)
        loss_value = None
        converged = True
        if len(self._handles_rc):
            opts, H = self.options, self.image_size
            self._handles_rc = self.model.tracker(
                feats, self._handles_rc, self._ref_feats,
                r2=opts.r2_px(H), metric=opts.metric)
            dists = (self._targets_rc - self._handles_rc).norm(dim=1)
            converged = bool((dists <= self.stop_distance).all())
            if not converged:
                masked = self._mask is not None and opts.lambda_mask > 0
                with torch.enable_grad():
                    loss = self.model.motion_loss(
                        feats, self._handles_rc, self._targets_rc,
                        mask=self._mask,
                        feats0=self._start_features() if masked else None,
                        r1=opts.r1_px(H), lambda_mask=opts.lambda_mask)
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
        limit = int(self.options.max_steps if max_steps is None
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

    # ------------------------------------------------------------------
    # the session record (schema: mmagic_draggan.fileio.session_file)
    def hyper_parameters(self) -> Dict[str, Any]:
        """Every hyper-parameter in force, auto values resolved."""
        H = self.image_size
        # the precision as used (a record tells what ran)
        options = dict(self.options.to_record(H), precision=self.precision)
        return dict(**options, truncation=self.truncation,
                    feat_idx=self.model.feat_idx, image_size=H)

    def record(self,
               result: Optional[DragResult] = None,
               task_id: Optional[str] = None) -> SessionRecord:
        """The session record of this edit (and its last run), complete
        but for the file fields, which the bundle writer fills in.

        The model's config, checkpoint and config overrides come from the
        model (``init_model`` sets them); the seed, inversion and the counts
        of a resumed edit from the session itself.

        Args:
            result (DragResult, optional): The last run.
            task_id (str, optional): Batch task id.

        Returns:
            SessionRecord: The record (``format``/``version`` of the
            current schema).
        """
        info = getattr(self.model, 'checkpoint_info', None) or {}
        cfg = getattr(self.model, 'cfg', None)
        random_weights = bool(info.get('random_weights', False))
        cfg_options = getattr(self.model, 'cfg_options', None)
        prior = self.resume or ResumeInfo(session_file='')

        def mean_dist(handles):
            d = [math.dist(h, t) for h, t in zip(handles, self.targets)]
            return float(np.mean(d)) if d else 0.

        run_seconds = None if result is None else float(result.seconds)
        history = list(prior.history) + [
            dict(step=h.step, mean_distance=h.mean_distance, loss=h.loss)
            for h in self.history
        ]
        return SessionRecord(
            id=task_id,
            config=portable_path(getattr(cfg, 'filename', None)),
            checkpoint=None if random_weights else portable_path(
                info.get('path')),
            random_weights=random_weights,
            cfg_options=dict(cfg_options) if cfg_options else None,
            seed=self.seed,
            inversion_file=portable_path(self.inversion_file),
            handles=self.initial_handles,
            targets=self.targets,
            final_handles=self.handles,
            steps=self.steps_taken,
            start_step=int(prior.steps),
            run_steps=0 if result is None else int(result.steps),
            converged=bool(result.converged) if result else False,
            stop_reason=result.stop_reason if result else None,
            mean_distance=mean_dist(self.handles),
            initial_mean_distance=mean_dist(self.initial_handles),
            seconds=float(prior.seconds) + (run_seconds or 0.),
            run_seconds=run_seconds,
            resumed_from=portable_path(self.resume.session_file)
            if self.resume is not None else None,
            hyper_parameters=self.hyper_parameters(),
            history=history)
