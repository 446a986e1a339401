# Copyright (c) mmagic-draggan contributors. Layout of MMagic's tools/test.py.
"""Run a file of drag tasks through MMEngine's Runner and print the metrics.

    python tools/test.py CONFIG [CHECKPOINT] [--tasks tasks.jsonl] \
        [--work-dir DIR] [--launcher none|pytorch|slurm] [--random-weights] \
        [--gif] [--out metrics.json] [--cfg-options model.max_steps=100 ...]

CHECKPOINT is a path, a zoo name (``StyleGAN2-FFHQ``), ``none``/``random``
(seeded random weights, like ``--random-weights``), or left out for the
config's own checkpoint. Without ``--tasks`` the config's task file runs
(``data/drag_tasks/drag_tasks_<size>.jsonl``, shipped). MMagic's own
``tools/test.py CONFIG CHECKPOINT`` runs the same configs and gives the
same metrics. Distributed: ``tools/dist_test.sh`` (torchrun;
NCCL on GPUs, gloo on CPUs).
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description='Run drag tasks through the MMEngine Runner (test loop) '
        'and report the drag metrics')
    parser.add_argument('config', help='model config (configs/draggan/*.py)')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        default=None,
        help='checkpoint path or zoo name; "none" or "random" for seeded '
        'random weights; default: the config\'s checkpoint')
    parser.add_argument(
        '--tasks',
        help='task file, JSON Lines or JSON (tools/make_tasks.py makes '
        'one); default: the config\'s test_dataloader.dataset.ann_file')
    parser.add_argument(
        '--work-dir',
        help='output folder (default: work_dirs/<config name>); per-task '
        'files go to <work-dir>/drags, the summary to results.json')
    parser.add_argument(
        '--random-weights',
        action='store_true',
        help='use deterministic random weights (seed 0) instead of a '
        'checkpoint, e.g. with the tiny config')
    parser.add_argument(
        '--gif', action='store_true', help='also write trajectory GIFs')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (e.g. model.max_steps=100 '
        'test_dataloader.batch_size=2)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='job launcher (pytorch: run under torchrun, see dist_test.sh)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    from mmengine.dist import is_main_process

    from mmagic_draggan.apis.batch import format_metrics, run_batch
    from mmagic_draggan.utils.cli import run_tool
    metrics = {}

    def work() -> None:
        metrics.update(run_batch(
            args.config,
            checkpoint=args.checkpoint,
            tasks=args.tasks,
            work_dir=args.work_dir,
            launcher=args.launcher,
            random_weights=args.random_weights,
            cfg_options=args.cfg_options,
            save_gif=True if args.gif else None))

    code = run_tool(work, 'tools/test.py')
    if code:
        sys.exit(code)
    if is_main_process():
        print(format_metrics(metrics))
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(metrics, f, indent=2)


if __name__ == '__main__':
    main()
