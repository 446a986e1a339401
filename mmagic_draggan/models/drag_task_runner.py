"""Run drag tasks on a model: what ``DragGAN.predict`` does in a Runner's
test loop (and ``apis.batch.run_tasks`` outside one)."""
import math
from typing import Any, Dict, List, Sequence, Union

import numpy as np

from mmagic_draggan.structures.drag_task import DragTask, TaskError

__all__ = ['new_task_session', 'run_task', 'run_tasks']


def new_task_session(model, task: DragTask):
    """A :class:`DragSession` set up with a task's start, points and mask.

    Raises:
        TaskError: Naming the task, when the model refuses any of it.
    """
    try:
        session = model.new_session(start=task.start, **task.options)
        session.set_points(task.handles, task.targets)
        if task.mask is not None:
            session.set_mask(task.mask)
    except (ValueError, TypeError) as e:
        raise TaskError(f'task {task.task_id!r}: {e}') from e
    return session


def _mean_distance(handles: Sequence, targets: Sequence) -> float:
    d = [math.dist(h, t) for h, t in zip(handles, targets)]
    return float(np.mean(d)) if d else 0.


def run_task(model, task: DragTask) -> Dict[str, Any]:
    """Run one drag task to convergence or its step limit.

    Args:
        model (DragGAN): The model.
        task (DragTask): The task.

    Returns:
        dict: ``task_id``, ``sample_idx``, ``seed``, ``latent_file``,
        ``mask_file``; ``handles`` (as set), ``targets``, ``final_handles``
        ([[x, y], ...]); ``initial_distance`` and ``final_distance`` (mean
        px); ``steps``, ``converged``, ``stop_reason``, ``seconds``;
        ``start_image`` and ``final_image`` ((H, W, 3) uint8 RGB), ``mask``
        ((H, W) bool or None), ``start_latent`` (when the task began from a
        latent) and ``final_latent`` ((1, L, C) CPU tensors), ``record``
        (the session record), ``inversion_file`` (the photo's inversion, or
        None) and ``trajectory`` (frames of a recording drag hook if the
        session has one, else None).
    """
    session = new_task_session(model, task)
    start_image = session.image()
    result = session.run()
    frames = None
    for hook in session.hooks:
        if getattr(hook, 'frames', None) is not None:
            frames = hook.frames
    return dict(
        task_id=task.task_id,
        sample_idx=task.sample_idx,
        seed=task.seed,
        latent_file=task.latent_file,
        mask_file=task.mask_file,
        handles=[list(map(float, p)) for p in task.handles],
        targets=session.targets,
        final_handles=result.handles,
        initial_distance=_mean_distance(task.handles, task.targets),
        final_distance=float(result.mean_distance),
        steps=int(result.steps),
        converged=bool(result.converged),
        stop_reason=result.stop_reason,
        seconds=float(result.seconds),
        start_image=start_image,
        final_image=result.image,
        mask=session.mask,
        start_latent=None if task.seed is not None else
        session.initial_latent.cpu(),
        final_latent=result.latent,
        record=session.record(result, task_id=task.task_id),
        inversion_file=session.inversion_file,
        trajectory=frames)


def run_tasks(model, inputs: Union[DragTask, Sequence[DragTask]]
              ) -> List[Dict[str, Any]]:
    """Run drag tasks one after the other (``DragGAN.predict``).

    Args:
        model (DragGAN): The model.
        inputs (DragTask | Sequence[DragTask]): Tasks, e.g. a batch of the
            ``DragTaskDataset`` (task dicts are parsed by
            :func:`mmagic_draggan.apis.run_tasks`).

    Returns:
        list[dict]: One result per task, see :func:`run_task`.

    Raises:
        TypeError: An input that is not a :class:`DragTask`.
    """
    if isinstance(inputs, DragTask):
        inputs = [inputs]
    for t in inputs:
        if not isinstance(t, DragTask):
            raise TypeError(
                f'DragGAN.predict runs DragTask objects; got '
                f'{type(t).__name__} (parse task dicts with '
                'mmagic_draggan.datasets.task_from_dict or call '
                'mmagic_draggan.apis.run_tasks)')
    return [run_task(model, t) for t in inputs]
