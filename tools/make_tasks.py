"""Write a file of drag tasks for a config's image size.

    python tools/make_tasks.py CONFIG --num N [--mode random|grid] \
        [--points K] [--distance D] [--seed S] [--mask-margin M] \
        -o tasks.jsonl

Each task gets the start seed ``S + i``, K handles inside the image and a
target for each at distance ~D px (exactly D before rounding to whole
pixels), also inside the image. ``random`` draws handles and directions
from a seeded RNG; ``grid`` spreads the handles of every task on a regular
grid and turns the direction by 45 degrees from task to task. With
``--mask-margin`` each task also gets a mask PNG (white = may change): the
boxes around each handle-target pair, grown by M px. The output is JSON
Lines for ``tools/test.py --tasks``.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from typing import List, Optional, Tuple

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmagic_draggan.structures.numbers import check_int  # noqa: E402
from mmagic_draggan.structures.start_image import check_seed  # noqa: E402
from mmagic_draggan.utils.cli import UsageError, run_tool  # noqa: E402
from mmagic_draggan.utils.paths import find_repo_path  # noqa: E402

Point = Tuple[float, float]


def image_size_of(config: str) -> int:
    """``model.generator.out_size`` of a config (no custom imports)."""
    from mmengine.config import Config
    config = find_repo_path(config)  # as given, else under the repository
    if not osp.isfile(config):
        raise UsageError(f'config {config!r} does not exist (see '
                         'configs/draggan/)')
    cfg = Config.fromfile(config, import_custom_modules=False)
    try:
        return int(cfg.model.generator.out_size)
    except (AttributeError, KeyError, TypeError):
        raise UsageError(f'{config} has no model.generator.out_size; use a '
                         'configs/draggan/*.py config') from None


def _inside(p: Point, lo: float, hi: float) -> bool:
    return lo <= p[0] <= hi and lo <= p[1] <= hi


def _target(h: Point, angle: float, distance: float) -> Point:
    return (float(round(h[0] + distance * math.cos(angle))),
            float(round(h[1] + distance * math.sin(angle))))


def random_points(rng: np.random.Generator, size: int, k: int,
                  distance: float, margin: float) -> List[Tuple[Point, Point]]:
    """K (handle, target) pairs drawn uniformly, targets at ``distance``."""
    lo, hi = margin, size - 1 - margin
    pairs = []
    for _ in range(k):
        for _ in range(1000):
            h = (float(rng.integers(math.ceil(lo), math.floor(hi) + 1)),
                 float(rng.integers(math.ceil(lo), math.floor(hi) + 1)))
            t = _target(h, float(rng.uniform(0, 2 * math.pi)), distance)
            if _inside(t, lo, hi) and t != h:
                pairs.append((h, t))
                break
        else:
            raise UsageError(f'found no handle/target pair {distance} px apart'
                             f' inside the {size}x{size} image; use a smaller'
                             ' --distance')
    return pairs


def grid_points(index: int, size: int, k: int, distance: float,
                margin: float) -> List[Tuple[Point, Point]]:
    """K handles on a regular grid, targets at ``distance`` in the task's
    direction (index * 45 degrees), turned back where they would leave the
    image."""
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    lo, hi = margin, size - 1 - margin
    angle = (index % 8) * math.pi / 4
    pairs = []
    for j in range(k):
        r, c = divmod(j, cols)
        h = (float(round(lo + (hi - lo) * (c + 0.5) / cols)),
             float(round(lo + (hi - lo) * (r + 0.5) / rows)))
        for turn in range(8):
            t = _target(h, angle + turn * math.pi / 4, distance)
            if _inside(t, lo, hi) and t != h:
                pairs.append((h, t))
                break
        else:
            raise UsageError(f'no target {distance} px from the grid point '
                             f'{h} fits in the {size}x{size} image; use a '
                             'smaller --distance or fewer --points')
    return pairs


def box_mask(size: int, pairs: List[Tuple[Point, Point]],
             margin: int) -> np.ndarray:
    """(H, W) uint8, 255 in the boxes around each pair grown by ``margin``."""
    mask = np.zeros((size, size), np.uint8)
    for h, t in pairs:
        x0 = max(0, int(min(h[0], t[0])) - margin)
        x1 = min(size - 1, int(max(h[0], t[0])) + margin)
        y0 = max(0, int(min(h[1], t[1])) - margin)
        y1 = min(size - 1, int(max(h[1], t[1])) + margin)
        mask[y0:y1 + 1, x0:x1 + 1] = 255
    return mask


def make_tasks(size: int,
               num: int,
               mode: str = 'random',
               points: int = 1,
               distance: Optional[float] = None,
               seed: int = 0,
               mask_margin: Optional[int] = None) -> List[dict]:
    """Task dicts (``mask`` arrays are returned under ``_mask``).

    Args:
        size (int): Image side in pixels.
        num (int): Number of tasks.
        mode (str): ``'random'`` or ``'grid'``.
        points (int): Handles per task.
        distance (float, optional): Handle-target distance in px; default
            ``size / 8``.
        seed (int): First start seed and the seed of the point RNG.
        mask_margin (int, optional): Make masks with this margin.

    Returns:
        list[dict]: Task objects (see ``mmagic_draggan.datasets.drag_task``).
    """
    num = check_int(num, '--num', 1)
    points = check_int(points, '--points', 1)
    if mode not in ('random', 'grid'):
        raise UsageError(f"--mode must be 'random' or 'grid'; got {mode!r}")
    distance = size / 8 if distance is None else float(distance)
    if not distance > 0:
        raise UsageError(f'--distance must be > 0 px; got {distance}')
    seed = check_seed(seed, '--seed')
    if mask_margin is not None:
        mask_margin = check_int(mask_margin, '--mask-margin', 0)
    margin = max(2., round(size / 16))  # keep points off the border
    if distance > size - 1 - 2 * margin:
        raise UsageError(f'--distance {distance} px does not fit in the '
                         f'{size}x{size} image (at most '
                         f'{size - 1 - 2 * margin:g})')
    rng = np.random.default_rng(seed)
    width = max(5, len(str(num - 1)))
    tasks = []
    for i in range(num):
        pairs = random_points(rng, size, points, distance, margin) \
            if mode == 'random' else grid_points(i, size, points, distance,
                                                 margin)
        task = dict(
            id=f'task-{i:0{width}d}',
            seed=seed + i,
            handles=[[int(x), int(y)] for (x, y), _ in pairs],
            targets=[[int(x), int(y)] for _, (x, y) in pairs])
        if mask_margin is not None:
            task['_mask'] = box_mask(size, pairs, mask_margin)
        tasks.append(task)
    return tasks


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write drag tasks (JSON Lines) for a config')
    parser.add_argument('config', help='model config (configs/draggan/*.py)')
    parser.add_argument('--num', type=int, required=True, help='tasks')
    parser.add_argument('--mode', choices=['random', 'grid'],
                        default='random', help='point layout')
    parser.add_argument('--points', type=int, default=1,
                        help='handles per task (default 1)')
    parser.add_argument('--distance', type=float, default=None,
                        help='handle-target distance in px (default: image '
                        'side / 8)')
    parser.add_argument('--seed', type=int, default=0,
                        help='first start seed and the point RNG seed')
    parser.add_argument('--mask-margin', type=int, default=None,
                        help='also write a mask per task: boxes around the '
                        'points grown by this many px')
    parser.add_argument('-o', '--out', required=True,
                        help='output .jsonl (masks go to <out stem>_masks/)')
    return parser.parse_args()


def main() -> int:
    """Write the task file; returns the exit code (errors: one line)."""
    return run_tool(_main, 'tools/make_tasks.py')


def _main() -> None:
    args = parse_args()
    size = image_size_of(args.config)
    tasks = make_tasks(size, args.num, args.mode, args.points,
                       args.distance, args.seed, args.mask_margin)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    mask_dir = osp.splitext(osp.basename(args.out))[0] + '_masks'
    with open(args.out, 'w') as f:
        for task in tasks:
            mask = task.pop('_mask', None)
            if mask is not None:
                from mmagic_draggan.fileio.mask import save_mask
                os.makedirs(osp.join(out_dir, mask_dir), exist_ok=True)
                name = f'{mask_dir}/{task["id"]}.png'
                save_mask(mask > 0, osp.join(out_dir, name))
                task['mask_file'] = name
            f.write(json.dumps(task) + '\n')
    print(f'{len(tasks)} tasks for {size}x{size} images -> {args.out}')


if __name__ == '__main__':
    sys.exit(main())
