"""Benchmark DragGAN iterations against the floor of the method.

Usage::

    python tools/benchmark.py CONFIG [--checkpoint CKPT | --random-weights]
        [--device cpu|cuda] [--iters N] [--mode fast|exact] [--points K]
        [--precision fp32|bf16|tf32] [--fidelity-steps N] [--json]

Measures, in one process:

* ``naive``: median seconds of a fixed yardstick that does not move when our
  code gets faster: MMagic's own ``StyleGANv2Generator.forward`` (whole
  synthesis, ``return_features=True``), the features bilinearly resized to
  image size, the motion-supervision L1 on a disc of radius
  ``r1 = round(3 H / 512)`` around each handle (bilinear sample at
  ``q + d`` against the detached patch at ``q``) and the backward to W+
  rows 0-5 as a leaf. No tracking, no Adam.
* ``iteration``: median seconds of one ``DragSession.step()`` (track, loss,
  backward, Adam) with ``K`` handles that never converge.
* ``masked_step``: the same drag with a mask: a centred square of side
  ``H / 2`` (a quarter of the image) may change, the rest is held by the
  mask term; ``masked_ratio`` = masked_step / iteration.
* ``floor``: median seconds of "synthesis up to the feature block + backward
  to the optimised W+ rows", the least any DragGAN iteration can cost, with
  our synthesis (``impl='fast'``; ``floor_bf16`` too with
  ``--precision bf16``); ``floor_mmagic``: the same through MMagic's own
  modules (the walk used before).
* with ``--precision bf16|tf32`` (where the device runs it):
  ``iteration_<p>`` and ``masked_step_<p>``, the same steps with the drag
  option ``precision=<p>``, and the fidelity of that precision on a fixed
  drag (2 handles, ``--fidelity-steps`` steps, seed 0):
  ``fidelity_max_axis_px`` / ``fidelity_max_px``, the largest per-axis /
  Euclidean distance between its tracked handles and the fp32 run's over
  every step, and ``fidelity_psnr_db`` of its final image against fp32's.
* ``render``: median seconds of a full image synthesis (no grad).
* ``ratio`` = iteration / floor, ``speedup`` = naive / iteration,
  ``it_per_s`` = 1 / iteration, peak RSS (MB) and, on CUDA, peak allocated
  GPU memory (MB).
"""
import json
import resource
import statistics
import sys
import time
from typing import Callable, Dict, List

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, __import__('os').path.dirname(
    __import__('os').path.dirname(__import__('os').path.abspath(__file__))))

from mmagic_draggan.apis import init_model  # noqa: E402
from mmagic_draggan.models.stylegan2_synthesis import (  # noqa: E402
    resolve_precision, synthesize)
from mmagic_draggan.structures import PRECISIONS  # noqa: E402
from mmagic_draggan.utils.cli import ArgumentParser, run_tool  # noqa: E402


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


def naive_iteration(generator: torch.nn.Module, ws0: torch.Tensor,
                    feat_idx: int, handles: List[List[float]],
                    targets: List[List[float]],
                    n_opt: int = 6) -> Callable[[], torch.Tensor]:
    """The fixed yardstick: one naive DragGAN iteration on MMagic's own
    generator forward (see the module docstring).

    Args:
        generator (torch.nn.Module): A MMagic ``StyleGANv2Generator``.
        ws0 (Tensor): W+ latent, (1, num_latents, style_channels).
        feat_idx (int): Feature block.
        handles (list): Handle points, ``[row, col]`` pixels.
        targets (list): Target points, ``[row, col]`` pixels.
        n_opt (int): Leading W+ rows optimised (a leaf). Default: 6.

    Returns:
        Callable[[], Tensor]: Runs one iteration (forward, loss, backward)
        and returns the leaf, (1, n_opt, style_channels), with its ``grad``.
    """
    H = generator.out_size
    r1 = max(1, round(3 * H / 512))
    off = torch.arange(-r1, r1 + 1, dtype=torch.float32)
    orr, occ = torch.meshgrid(off, off, indexing='ij')
    inside = orr.square() + occ.square() <= r1 * r1
    disc_rc = torch.stack([orr[inside], occ[inside]], dim=1)  # (P, 2)
    dev = ws0.device

    def run():
        head = ws0[:, :n_opt].clone().requires_grad_(True)
        ws = torch.cat([head, ws0[:, n_opt:]], dim=1)
        out = generator([ws], input_is_latent=True, randomize_noise=False,
                        return_latents=True, return_features=True,
                        feat_idx=feat_idx)
        feat = F.interpolate(out['feats'], size=(H, H), mode='bilinear',
                             align_corners=False)
        loss = 0.
        for p, t in zip(handles, targets):
            p = torch.tensor(p, dtype=torch.float32)
            t = torch.tensor(t, dtype=torch.float32)
            d = (t - p) / (t - p).norm().clamp_min(1e-8)
            q = (p + disc_rc).round().clamp(0, H - 1)  # (P, 2) row, col
            qi = q.long()
            patch = feat[0, :, qi[:, 0], qi[:, 1]].detach()  # (C, P)
            moved = q + d
            # grid_sample wants (x, y) = (col, row) in [-1, 1]
            grid = torch.stack([(2 * moved[:, 1] + 1) / H - 1,
                                (2 * moved[:, 0] + 1) / H - 1], dim=1)
            shifted = F.grid_sample(feat, grid.to(dev).view(1, 1, -1, 2),
                                    mode='bilinear', align_corners=False)
            loss = loss + (shifted[0, :, 0] - patch).abs().mean()
        loss.backward()
        return head

    return run


def precision_fidelity(model, precision: str, steps: int) -> Dict:
    """A fixed drag at fp32 and at ``precision``: how far the tracked
    handles part (px, max over steps and handles) and the final images'
    PSNR (dB; inf when identical)."""
    H = model.image_size
    handles = [[H * 0.3, H * 0.4], [H * 0.6, H * 0.55]]  # (x, y)
    targets = [[H * 0.45, H * 0.35], [H * 0.5, H * 0.7]]
    tracks, images = [], []
    for prec in ('fp32', precision):
        s = model.new_session(seed=0, max_steps=steps, stop_distance=0.,
                              precision=prec)
        s.set_points(handles, targets)
        tracks.append(torch.tensor([s.step().handles for _ in range(steps)]))
        images.append(s.image().astype(np.float64))
    diff = (tracks[0] - tracks[1]).abs()  # (steps, N, 2)
    mse = float(((images[0] - images[1])**2).mean())
    return dict(fidelity_steps=steps,
                fidelity_max_axis_px=float(diff.max()),
                fidelity_max_px=float(diff.norm(dim=-1).max()),
                fidelity_psnr_db=float('inf') if mse == 0 else
                10 * np.log10(255.**2 / mse))


def centred_square_mask(size: int) -> np.ndarray:
    """The benchmark's mask: a centred square of side ``size // 2`` (a
    quarter of the image) may change.

    Args:
        size (int): Image side H (= W), px.

    Returns:
        np.ndarray: (H, W) bool, True = may change.
    """
    mask = np.zeros((size, size), bool)
    lo = size // 4
    mask[lo:lo + size // 2, lo:lo + size // 2] = True
    return mask


def benchmark(config: str,
              checkpoint: str = None,
              random_weights: bool = False,
              device: str = None,
              iters: int = 10,
              warmup: int = 2,
              mode: str = 'fast',
              points: int = 1,
              precision: str = 'fp32',
              invert_steps: int = 0,
              fidelity_steps: int = 20) -> Dict:
    """Run the benchmark; returns the figures as a dict (seconds, MB).

    A ``precision`` other than fp32 (where the device runs it) adds
    ``floor_<p>_s``, ``iteration_<p>_s``, ``masked_step_<p>_s`` and the
    ``fidelity_*`` figures of :func:`precision_fidelity` over
    ``fidelity_steps`` steps; the other figures stay fp32. With
    ``invert_steps`` > 0, a photo inversion (``apis.invert``, pti preset,
    pixel losses) of the model's own image runs that many projection and
    tuning steps and
    ``invert_projection_s`` / ``invert_tuning_s`` are its seconds per step
    of each stage.
    """
    model = init_model(config, checkpoint, device=device,
                       random_weights=random_weights)
    dev = model.device
    H = model.image_size
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(dev)
    # handles on a horizontal line, targets far to their right: never converge
    handles = [[H * 0.25, H * (i + 1) / (points + 1)] for i in range(points)]
    targets = [[H * 0.75, y] for _, y in handles]
    prec = resolve_precision(precision, dev)

    def step_times_of(masked: bool, p: str = 'fp32') -> List[float]:
        s = model.new_session(seed=0, mode=mode, precision=p,
                              max_steps=iters + warmup + 1,
                              stop_distance=0.)
        s.set_points(handles, targets)
        if masked:
            s.set_mask(centred_square_mask(H))
        return timed(s.step, iters, warmup, dev)

    session = model.new_session(seed=0, mode=mode, stop_distance=0.)
    step_times = step_times_of(False)
    masked_times = step_times_of(True)

    opts = session.options  # a DragOptions (attributes) or, before, a dict
    n = int(opts.num_opt_latents)
    ws0 = session.latent

    def floor_of(impl: str, prec: str = 'fp32') -> Callable[[], None]:
        def run():
            head = ws0[:, :n].clone().requires_grad_(True)
            ws = torch.cat([head, ws0[:, n:]], dim=1)
            feat, _ = synthesize(model.generator, ws, model.feat_idx,
                                 return_image=False, impl=impl,
                                 precision=prec, grad_rows=n)
            feat.mean().backward()
        return run

    floor_step = floor_of('fast')
    naive_step = naive_iteration(model.generator, ws0, model.feat_idx,
                                 handles, targets, n_opt=6)
    naive_times = timed(naive_step, iters, warmup, dev)
    # interleaved, so that a load change hits both walks alike
    floor_times, old_times = [], []
    for fn in (floor_step, floor_of('mmagic')):
        timed(fn, 0, warmup, dev)
    for _ in range(iters):
        floor_times += timed(floor_step, 1, 0, dev)
        old_times += timed(floor_of('mmagic'), 1, 0, dev)
    low = {}
    if prec != 'fp32':
        low[f'floor_{prec}_s'] = statistics.median(
            timed(floor_of('fast', prec), iters, warmup, dev))
        low[f'iteration_{prec}_s'] = statistics.median(
            step_times_of(False, prec))
        low[f'masked_step_{prec}_s'] = statistics.median(
            step_times_of(True, prec))
        low.update(precision_fidelity(model, prec, fidelity_steps))
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
        precision=prec,
        naive_s=statistics.median(naive_times),
        iteration_s=statistics.median(step_times),
        masked_step_s=statistics.median(masked_times),
        floor_s=statistics.median(floor_times),
        floor_mmagic_s=statistics.median(old_times),
        render_s=statistics.median(render_times),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    res.update(low)
    if invert_steps > 0:
        from mmagic_draggan.apis.invert import invert
        from mmagic_draggan.utils.image import to_uint8_image
        target = to_uint8_image(model.render(model.latent_from_seed(1)))
        out = invert(model, target, preset='pti', perceptual='none',
                     steps=invert_steps, pti_steps=invert_steps,
                     progress=False, handle_sigint=False)
        for stage in ('projection', 'tuning'):
            n = out.metrics['steps'].get(stage, 0)
            res[f'invert_{stage}_s'] = \
                out.metrics['seconds'][stage] / n if n else None
    res['ratio'] = res['iteration_s'] / res['floor_s']
    res['masked_ratio'] = res['masked_step_s'] / res['iteration_s']
    res['speedup'] = res['naive_s'] / res['iteration_s']
    res['it_per_s'] = 1. / res['iteration_s']
    if low:
        res[f'speedup_{prec}'] = res['naive_s'] / res[f'iteration_{prec}_s']
        res[f'masked_ratio_{prec}'] = \
            res[f'masked_step_{prec}_s'] / res[f'iteration_{prec}_s']
    if dev.type == 'cuda':
        res['cuda_peak_mb'] = torch.cuda.max_memory_allocated(dev) / 2**20
    return res


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n')[0])
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
    p.add_argument('--precision', choices=PRECISIONS, default='fp32',
                   help='also time the floor and the drag steps with the '
                   'drag option precision=P, and check its fidelity to fp32 '
                   'on a fixed drag')
    p.add_argument('--fidelity-steps', type=int, default=20, metavar='N',
                   help='steps of that fixed drag (default 20)')
    p.add_argument('--invert-steps', type=int, default=0, metavar='N',
                   help='also time N projection + N tuning steps of a photo '
                   'inversion (pixel losses)')
    p.add_argument('--json', action='store_true', help='print JSON only')
    args = p.parse_args(argv)
    if args.iters < 1 or args.points < 1 or args.fidelity_steps < 1:
        p.error('--iters, --points and --fidelity-steps must be >= 1')
    return args


def main(argv=None) -> int:
    """Run the benchmark; returns the exit code (errors: one line)."""
    return run_tool(lambda: _main(argv), 'tools/benchmark.py')


def _main(argv) -> int:
    args = parse_args(argv)
    res = benchmark(args.config, args.checkpoint, args.random_weights,
                    args.device, args.iters, args.warmup, args.mode,
                    args.points, args.precision, args.invert_steps,
                    args.fidelity_steps)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{res['config']} on {res['device']} ({res['threads']} threads), "
          f"{res['image_size']}x{res['image_size']}, mode {res['mode']}, "
          f"{res['points']} point(s), median of {res['iters']}:")
    print(f"  naive (MMagic)    {res['naive_s']:.3f} s")
    print(f"  iteration         {res['iteration_s']:.3f} s "
          f"({res['it_per_s']:.2f} it/s)")
    print(f"  masked step       {res['masked_step_s']:.3f} s "
          f"({res['masked_ratio']:.2f}x iteration; centred H/2 square)")
    print(f"  speed-up          {res['speedup']:.2f}x naive / iteration")
    print(f"  floor (feat+bwd)  {res['floor_s']:.3f} s")
    print(f"  floor, MMagic's modules {res['floor_mmagic_s']:.3f} s")
    p = res['precision']
    if f'floor_{p}_s' in res:
        print(f"  floor, {p}       {res[f'floor_{p}_s']:.3f} s")
        print(f"  iteration, {p}   {res[f'iteration_{p}_s']:.3f} s "
              f"({res[f'speedup_{p}']:.2f}x naive)")
        print(f"  masked step, {p} {res[f'masked_step_{p}_s']:.3f} s "
              f"({res[f'masked_ratio_{p}']:.2f}x iteration, {p})")
        print(f"  {p} vs fp32, {res['fidelity_steps']}-step drag: handles "
              f"within {res['fidelity_max_axis_px']:g} px per axis "
              f"({res['fidelity_max_px']:.2f} px), final image "
              f"{res['fidelity_psnr_db']:.1f} dB PSNR")
    print(f"  ratio             {res['ratio']:.2f}x iteration / floor")
    print(f"  render (no grad)  {res['render_s']:.3f} s")
    for stage in ('projection', 'tuning'):
        if res.get(f'invert_{stage}_s') is not None:
            print(f"  invert, {stage:10s} {res[f'invert_{stage}_s']:.3f} s "
                  '/ step (pixel losses)')
    print(f"  peak RSS          {res['peak_rss_mb']:.0f} MB")
    if 'cuda_peak_mb' in res:
        print(f"  CUDA peak         {res['cuda_peak_mb']:.0f} MB")
    return 0


if __name__ == '__main__':
    sys.exit(main())
