"""Batch drag runs: tasks through ``DragSession`` inside MMEngine's Runner.

* :func:`run_tasks` is what ``DragGAN.test_step`` / ``predict`` run: one
  :class:`~mmagic_draggan.models.DragSession` per task, to convergence or
  the step limit.
* :func:`batch_config`, :func:`build_batch_model`, :func:`build_runner` and
  :func:`run_batch` set up the Runner for ``tools/test.py`` (single process
  or ``torch.distributed``, CPU/gloo or GPU/NCCL).
"""
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mmagic_draggan.datasets import DragTask, TaskError
from mmagic_draggan.utils.paths import repo_root

#: _base_ files merged into a model config that has no test pipeline.
BATCH_BASES = ('configs/_base_/batch_runtime.py',
               'configs/_base_/datasets/drag_tasks.py')
#: CHECKPOINT words meaning "deterministic random weights".
RANDOM_WEIGHT_WORDS = ('none', 'random')


# ----------------------------------------------------------------------
# running tasks (the model side)
def _as_task(item: Union[DragTask, dict], index: int,
             image_size: int) -> DragTask:
    if isinstance(item, DragTask):
        return item
    if isinstance(item, dict):
        return DragTask.from_dict(item, image_size=image_size, index=index)
    raise TypeError(f'a drag task must be a DragTask or a task dict; got '
                    f'{type(item).__name__}')


def new_task_session(model, task: DragTask):
    """A :class:`DragSession` set up with a task's start, points and mask.

    Raises:
        ValueError: Naming the task, when the model refuses any of it (latent
            shape, option range, points outside the image, mask size).
    """
    try:
        session = model.new_session(
            latent=task.latent, seed=task.seed, truncation=task.truncation,
            **task.options)
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
        ((H, W) bool or None), ``final_latent`` ((1, L, C) CPU tensor),
        ``record`` (the session JSON, :mod:`~mmagic_draggan.apis.session_io`)
        and ``trajectory`` (frames of a ``TrajectoryRecorderHook`` if the
        session has one, else None).
    """
    from mmagic_draggan.engine.hooks import TrajectoryRecorderHook
    from .session_io import session_record
    session = new_task_session(model, task)
    start_image = session.image()
    result = session.run()
    info = getattr(model, 'checkpoint_info', None) or {}
    cfg = getattr(model, 'cfg', None)
    record = session_record(
        session, result,
        config=getattr(cfg, 'filename', None),
        checkpoint=info.get('path'),
        random_weights=bool(info.get('random_weights', False)),
        latent_file=task.latent_file,
        mask_file=task.mask_file)
    frames = None
    for hook in session.hooks:
        if isinstance(hook, TrajectoryRecorderHook):
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
        final_latent=result.latent,
        record=record,
        trajectory=frames)


def run_tasks(model,
              inputs: Sequence[Union[DragTask, dict]],
              data_samples: Optional[Sequence] = None) -> List[dict]:
    """Run a batch of drag tasks one after the other (``DragGAN.predict``).

    Args:
        model (DragGAN): The model.
        inputs (Sequence[DragTask | dict]): Tasks; dicts are task objects as
            in a task file (files resolved against the working folder).
        data_samples (Sequence, optional): Unused (the tasks carry all).

    Returns:
        list[dict]: One result per task, see :func:`run_task`.
    """
    if isinstance(inputs, (DragTask, dict)):
        inputs = [inputs]
    tasks = [_as_task(t, i, model.image_size) for i, t in enumerate(inputs)]
    return [run_task(model, t) for t in tasks]


def check_tasks(model, dataset) -> None:
    """Set up (without running) a session for every task of a dataset, so
    that a task the model refuses stops the batch before any drag runs.

    Raises:
        TaskError: Naming the first bad task.
    """
    for idx in range(len(dataset)):
        new_task_session(model, dataset[idx]['inputs'])


# ----------------------------------------------------------------------
# the Runner side
def batch_config(config: Union[str, Config],
                 tasks: Optional[str] = None,
                 work_dir: Optional[str] = None,
                 launcher: str = 'none',
                 cfg_options: Optional[dict] = None,
                 save_gif: Optional[bool] = None) -> Config:
    """A model config completed for a batch run.

    Top-level keys that the config lacks (``test_dataloader``,
    ``test_evaluator``, ``test_cfg``, ``default_hooks``, ``custom_hooks``,
    ``env_cfg``, ``model_wrapper_cfg`` ...) come from :data:`BATCH_BASES`;
    a config with its own keeps them. Then ``cfg_options`` are applied, the
    task file and the model's image size are put into the dataset, and the
    work dir defaults to ``work_dirs/<config name>``.

    Args:
        config (str | Config): Model config (``configs/draggan/*.py``).
        tasks (str, optional): Task file; None keeps the config's
            ``test_dataloader.dataset.ann_file``.
        work_dir (str, optional): Output folder.
        launcher (str): ``'none'``, ``'pytorch'`` or ``'slurm'``.
        cfg_options (dict, optional): Overrides (``--cfg-options``).
        save_gif (bool, optional): Switch the GIF output of
            ``DragVisualizationHook`` on or off; None keeps the config's.

    Returns:
        Config: The completed config.
    """
    from .inference import load_config
    cfg = load_config(config)
    for rel in BATCH_BASES:
        base = Config.fromfile(osp.join(repo_root(), rel))
        for key, value in base.to_dict().items():
            if key not in cfg:
                cfg[key] = value
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg or 'generator' not in cfg.model:
        raise ValueError('the config has no model.generator; start from '
                         'configs/draggan/*.py')
    dataset = cfg.test_dataloader.dataset
    if tasks is not None:
        dataset.ann_file = osp.abspath(tasks)
        dataset.data_root = ''
    dataset.image_size = int(cfg.model.generator.out_size)
    if save_gif is not None:
        for hook in cfg.get('custom_hooks') or []:
            if hook.get('type') == 'DragVisualizationHook':
                hook['save_gif'] = bool(save_gif)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(getattr(cfg, 'filename', None)
                                         or 'draggan'))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    cfg.launcher = launcher
    cfg.load_from = None  # weights come from build_batch_model
    return cfg


def init_distributed(launcher: str, cfg: Config) -> None:
    """Start ``torch.distributed`` where MMEngine cannot: on a machine
    without CUDA (MMEngine's ``init_dist`` calls ``torch.cuda.set_device``),
    with the gloo backend. With CUDA, MMEngine's Runner does it with
    ``env_cfg.dist_cfg`` (NCCL).

    Raises:
        ValueError: ``slurm`` without CUDA (use ``--launcher pytorch``), or
            an NCCL backend asked for without CUDA.
    """
    import torch.distributed as dist
    if launcher == 'none' or torch.cuda.is_available() or \
            dist.is_initialized():
        return
    if launcher != 'pytorch':
        raise ValueError(f'--launcher {launcher} needs CUDA GPUs; on CPUs '
                         'use torchrun and --launcher pytorch (gloo backend)')
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg') or {})
    backend = dist_cfg.pop('backend', 'gloo')
    if backend == 'nccl':
        backend = 'gloo'  # NCCL needs GPUs; the config default assumes them
    if backend != 'gloo':
        raise ValueError(f'dist backend {backend!r} cannot run without CUDA; '
                         "use env_cfg.dist_cfg.backend='gloo'")
    timeout = dist_cfg.pop('timeout', None)
    kwargs = {}
    if timeout is not None:
        import datetime
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(backend='gloo', **kwargs)
    print_log(f'torch.distributed: gloo on CPU, rank {dist.get_rank()} of '
              f'{dist.get_world_size()}', logger='current')


def build_batch_model(cfg: Config,
                      checkpoint: Optional[str] = None,
                      random_weights: bool = False,
                      seed: int = 0):
    """The DragGAN of a batch run, built like every front end builds it
    (:func:`~mmagic_draggan.apis.init_model`: seeded random weights, or the
    generator checkpoint loaded with ``load_generator_checkpoint``), so all
    processes hold identical weights. Built on the CPU; the Runner moves it.

    Args:
        cfg (Config): The batch config.
        checkpoint (str, optional): Path or zoo name; ``'none'``/``'random'``
            mean random weights; None uses the config's checkpoint.
        random_weights (bool): Random weights (``--random-weights``).
        seed (int): Seed of the random weights. Defaults to 0.

    Raises:
        ValueError: A checkpoint and ``random_weights`` both given.
    """
    from .inference import init_model
    if checkpoint is not None and checkpoint.lower() in RANDOM_WEIGHT_WORDS:
        checkpoint, random_weights = None, True
    elif checkpoint is not None and random_weights:
        raise ValueError(f'got the checkpoint {checkpoint!r} and '
                         '--random-weights: give one of them')
    elif checkpoint is None and not random_weights:
        from mmagic_draggan.utils.checkpoint import resolve_checkpoint
        if resolve_checkpoint(None, cfg) is None:
            name = osp.basename(getattr(cfg, 'filename', None) or 'config')
            raise ValueError(
                f'{name} names no checkpoint: give CHECKPOINT (a .pth path or '
                'a zoo name), or `none` / --random-weights for seeded random '
                'weights')
    return init_model(cfg, checkpoint=checkpoint, device='cpu',
                      random_weights=random_weights, seed=seed)


def build_runner(cfg: Config, model):
    """An MMEngine :class:`Runner` for ``cfg`` around a built model.

    The same arguments as ``Runner.from_cfg``, except that the model is
    the one :func:`build_batch_model` made (MMEngine's ``load_from`` does
    not fit whole-GAN checkpoints, and random weights must be seeded).
    """
    from mmengine.runner import Runner
    return Runner(
        model=model,
        work_dir=cfg['work_dir'],
        test_dataloader=cfg.get('test_dataloader'),
        test_cfg=cfg.get('test_cfg'),
        test_evaluator=cfg.get('test_evaluator'),
        default_hooks=cfg.get('default_hooks'),
        custom_hooks=cfg.get('custom_hooks'),
        load_from=None,
        resume=False,
        launcher=cfg.get('launcher', 'none'),
        env_cfg=cfg.get('env_cfg', dict(dist_cfg=dict(backend='nccl'))),
        log_processor=cfg.get('log_processor'),
        log_level=cfg.get('log_level', 'INFO'),
        visualizer=cfg.get('visualizer'),
        default_scope=cfg.get('default_scope', 'mmagic'),
        randomness=cfg.get('randomness', dict(seed=None)),
        experiment_name=cfg.get('experiment_name'),
        cfg=cfg)


#: Units shown in the metrics table, by metric name (without prefix).
METRIC_UNITS = dict(
    final_distance='px', initial_distance='px', convergence_rate='0-1',
    steps='iterations', seconds='s per drag', masked_l1='0-1',
    masked_psnr='dB')


def format_metrics(metrics: Dict[str, float]) -> str:
    """The metrics as a Markdown table (name, value, unit)."""
    lines = ['| metric | value | unit |', '|---|---:|---|']
    for name, value in metrics.items():
        unit = METRIC_UNITS.get(name.rsplit('/', 1)[-1], '')
        text = f'{value:.4g}' if isinstance(value, float) else str(value)
        lines.append(f'| {name} | {text} | {unit} |')
    return '\n'.join(lines)


def run_batch(config: Union[str, Config],
              checkpoint: Optional[str] = None,
              tasks: Optional[str] = None,
              work_dir: Optional[str] = None,
              launcher: str = 'none',
              random_weights: bool = False,
              cfg_options: Optional[dict] = None,
              save_gif: Optional[bool] = None) -> Dict[str, float]:
    """Validate the tasks, build the model and run every task through the
    Runner's test loop (what ``tools/test.py`` does).

    Args:
        config (str | Config): Model config.
        checkpoint (str, optional): See :func:`build_batch_model`.
        tasks (str, optional): Task file (JSON/JSON Lines).
        work_dir (str, optional): Output folder.
        launcher (str): ``'none'``, ``'pytorch'`` or ``'slurm'``.
        random_weights (bool): Seeded random weights.
        cfg_options (dict, optional): Config overrides.
        save_gif (bool, optional): Write trajectory GIFs.

    Returns:
        dict: The metrics (every process gets them).
    """
    import mmagic_draggan  # noqa: F401  (registers the components)
    from mmagic_draggan.registry import DATASETS
    cfg = batch_config(config, tasks, work_dir, launcher, cfg_options,
                       save_gif)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)  # fail fast
    model = build_batch_model(cfg, checkpoint, random_weights)
    check_tasks(model, dataset)
    init_distributed(launcher, cfg)
    runner = build_runner(cfg, model)
    return runner.test()


__all__ = [
    'run_tasks', 'run_task', 'new_task_session', 'check_tasks',
    'batch_config', 'init_distributed', 'build_batch_model', 'build_runner',
    'run_batch', 'format_metrics'
]
