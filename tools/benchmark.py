"""Benchmark DragGAN iterations against the floor of the method.

Usage::

    python tools/benchmark.py CONFIG [--checkpoint CKPT | --random-weights]
        [--device cpu|cuda] [--iters N] [--mode fast|exact] [--points K]
        [--json]

Measures, in one process:

* ``iteration``: median seconds of one ``DragSession.step()`` (track, loss,
  backward, Adam) with ``K`` handles that never converge.
* ``floor``: median seconds of "synthesis up to the feature block + backward
  to the optimised W+ rows", the least any DragGAN iteration can cost.
* ``render``: median seconds of a full image synthesis (no grad).
* ``ratio`` = iteration / floor, peak RSS (MB) and, on CUDA, peak allocated
  GPU memory (MB).
"""
import argparse
import json
import resource
import statistics
import sys
import time
from typing import Callable, Dict, List

import torch

sys.path.insert(0, __import__('os').path.dirname(
    __import__('os').path.dirname(__import__('os').path.abspath(__file__))))

from mmagic_draggan.apis import init_model  # noqa: E402
from mmagic_draggan.models.stylegan2_synthesis import synthesize  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], None], iters: int, warmup: int,
          device: torch.device) -> List[float]:
    """Seconds of each of ``iters`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t)
    return out


def benchmark(config: str,
              checkpoint: str = None,
              random_weights: bool = False,
              device: str = None,
              iters: int = 10,
              warmup: int = 2,
              mode: str = 'fast',
              points: int = 1) -> Dict:
    """Run the benchmark; returns the figures as a dict (seconds, MB)."""
    model = init_model(config, checkpoint, device=device,
                       random_weights=random_weights)
    dev = model.device
    H = model.image_size
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(dev)
    # handles on a horizontal line, targets far to their right: never converge
    handles = [[H * 0.25, H * (i + 1) / (points + 1)] for i in range(points)]
    targets = [[H * 0.75, y] for _, y in handles]
    session = model.new_session(seed=0, mode=mode,
                                max_steps=iters + warmup + 1,
                                stop_distance=0.)
    session.set_points(handles, targets)
    step_times = timed(session.step, iters, warmup, dev)

    n = session.options.num_opt_latents
    ws0 = session.latent

    def floor_step():
        head = ws0[:, :n].clone().requires_grad_(True)
        ws = torch.cat([head, ws0[:, n:]], dim=1)
        feat, _ = synthesize(model.generator, ws, model.feat_idx,
                             return_image=False)
        feat.mean().backward()

    floor_times = timed(floor_step, iters, warmup, dev)
    render_times = timed(lambda: model.render(ws0), max(3, iters // 3), 1,
                         dev)
    res = dict(
        config=config,
        device=str(dev),
        image_size=H,
        mode=mode,
        points=points,
        iters=iters,
        threads=torch.get_num_threads(),
        iteration_s=statistics.median(step_times),
        floor_s=statistics.median(floor_times),
        render_s=statistics.median(render_times),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    res['ratio'] = res['iteration_s'] / res['floor_s']
    if dev.type == 'cuda':
        res['cuda_peak_mb'] = torch.cuda.max_memory_allocated(dev) / 2**20
    return res


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='config file (configs/draggan/*.py)')
    g = p.add_mutually_exclusive_group()
    g.add_argument('--checkpoint', help='checkpoint path or zoo name')
    g.add_argument('--random-weights', action='store_true',
                   help='no checkpoint: seeded random weights')
    p.add_argument('--device', default=None, help='cpu, cuda (default: auto)')
    p.add_argument('--iters', type=int, default=10, help='timed iterations')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--mode', choices=['fast', 'exact'], default='fast')
    p.add_argument('--points', type=int, default=1, help='handles')
    p.add_argument('--json', action='store_true', help='print JSON only')
    args = p.parse_args(argv)
    if args.iters < 1 or args.points < 1:
        p.error('--iters and --points must be >= 1')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        res = benchmark(args.config, args.checkpoint, args.random_weights,
                        args.device, args.iters, args.warmup, args.mode,
                        args.points)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f'benchmark: error: {e}', file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{res['config']} on {res['device']} ({res['threads']} threads), "
          f"{res['image_size']}x{res['image_size']}, mode {res['mode']}, "
          f"{res['points']} point(s), median of {res['iters']}:")
    print(f"  iteration         {res['iteration_s']:.3f} s")
    print(f"  floor (feat+bwd)  {res['floor_s']:.3f} s")
    print(f"  ratio             {res['ratio']:.2f}x")
    print(f"  render (no grad)  {res['render_s']:.3f} s")
    print(f"  peak RSS          {res['peak_rss_mb']:.0f} MB")
    if 'cuda_peak_mb' in res:
        print(f"  CUDA peak         {res['cuda_peak_mb']:.0f} MB")
    return 0


if __name__ == '__main__':
    sys.exit(main())
