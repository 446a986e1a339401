"""Batch drag runs: tasks through ``DragSession`` inside MMEngine's Runner.

* :func:`run_tasks` runs tasks (or task dicts) outside a Runner, as
  ``DragGAN.predict`` does inside one
  (:mod:`mmagic_draggan.models.drag_task_runner`: one
  :class:`~mmagic_draggan.models.DragSession` per task, to convergence or
  the step limit).
* :func:`batch_config`, :func:`build_batch_model`, :func:`build_runner` and
  :func:`run_batch` set up the Runner for ``tools/test.py`` (single process
  or ``torch.distributed``, CPU/gloo or GPU/NCCL).
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.datasets import DragTask, task_from_dict
from mmagic_draggan.models.drag_task_runner import new_task_session
from mmagic_draggan.models.drag_task_runner import \
    run_tasks as run_model_tasks
from mmagic_draggan.utils.paths import find_repo_path

#: Top-level keys a config needs for a batch run (``configs/draggan/*.py``
#: get them from ``_base_/datasets/drag_tasks_<size>.py`` and
#: ``_base_/default_runtime.py``).
BATCH_KEYS = ('test_dataloader', 'test_cfg', 'test_evaluator')


# ----------------------------------------------------------------------
# running tasks (the model side: mmagic_draggan.models.drag_task_runner)
def run_tasks(model,
              inputs: Sequence[Union[DragTask, dict]]) -> List[dict]:
    """Run drag tasks one after the other, outside a Runner.

    Args:
        model (DragGAN): The model.
        inputs (Sequence[DragTask | dict]): Tasks; dicts are task objects as
            in a task file (files resolved against the working folder).

    Returns:
        list[dict]: One result per task (see
        :func:`mmagic_draggan.models.drag_task_runner.run_task`).
    """
    if isinstance(inputs, (DragTask, dict)):
        inputs = [inputs]
    tasks = [
        t if isinstance(t, DragTask) else task_from_dict(
            t, image_size=model.image_size, index=i)
        for i, t in enumerate(inputs)
    ]
    return run_model_tasks(model, tasks)


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
    """A model config set up for a batch run.

    ``configs/draggan/*.py`` are complete (model, dataset and runtime
    ``_base_`` files), as MMagic's own ``tools/test.py`` needs them; this
    applies ``cfg_options``, swaps the task file, checks the dataset's image
    size against the model and sets the work dir (default
    ``work_dirs/<config name>``).

    Args:
        config (str | Config): Model config (``configs/draggan/*.py``).
        tasks (str, optional): Task file; None keeps the config's
            ``test_dataloader.dataset.ann_file`` (the shipped
            ``data/drag_tasks/drag_tasks_<size>.jsonl``).
        work_dir (str, optional): Output folder.
        launcher (str): ``'none'``, ``'pytorch'`` or ``'slurm'``.
        cfg_options (dict, optional): Overrides (``--cfg-options``).
        save_gif (bool, optional): Switch the GIF output of
            ``DragVisualizationHook`` on or off; None keeps the config's.

    Returns:
        Config: The config to build the Runner from.

    Raises:
        ValueError: The config has no model, lacks a test pipeline, or its
            dataset's ``image_size`` is not the model's ``out_size``.
    """
    from .inference import load_config
    cfg = load_config(config, cfg_options)
    if 'model' not in cfg or 'generator' not in cfg.model:
        raise InvalidInputError(
            'the config has no model.generator; start from '
            'configs/draggan/*.py')
    missing = [key for key in BATCH_KEYS if cfg.get(key) is None]
    if missing:
        raise InvalidInputError(
            f'the config has no {", ".join(missing)}: compose it from '
            "_base_ = ['../_base_/models/draggan_stylegan2.py', "
            "'../_base_/datasets/drag_tasks_<size>.py', "
            "'../_base_/default_runtime.py'] like configs/draggan/*.py")
    dataset = cfg.test_dataloader.dataset
    if tasks is not None:
        # as given, else under the repository (the dataset's rule too)
        dataset.ann_file = osp.abspath(find_repo_path(tasks))
        dataset.data_root = ''
    out_size = int(cfg.model.generator.out_size)
    if dataset.get('image_size') not in (None, out_size):
        raise InvalidInputError(
            f'test_dataloader.dataset.image_size is {dataset.image_size} '
            f'but the model makes {out_size}x{out_size} images; use the '
            f'_base_/datasets/drag_tasks_{out_size}.py base (or set '
            f'image_size={out_size})')
    dataset.image_size = out_size
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
        raise InvalidInputError(
            f'--launcher {launcher} needs CUDA GPUs; on CPUs '
            'use torchrun and --launcher pytorch (gloo backend)')
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg') or {})
    backend = dist_cfg.pop('backend', 'gloo')
    if backend == 'nccl':
        backend = 'gloo'  # NCCL needs GPUs; the config default assumes them
    if backend != 'gloo':
        raise InvalidInputError(
            f'dist backend {backend!r} cannot run without CUDA; '
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
        CheckpointError: No checkpoint where one is needed, or a checkpoint
            and ``random_weights`` both given.
    """
    from .inference import init_model
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
    'run_tasks', 'check_tasks',
    'BATCH_KEYS', 'batch_config', 'init_distributed', 'build_batch_model', 'build_runner',
    'run_batch', 'format_metrics'
]
