"""Headless DragGAN: drag points on a generated image and write the results.

Usage::

    python tools/drag.py configs/draggan/draggan_stylegan2_lions-512x512.py \\
        --seed 42 --drag 250,200,300,200 --out-dir outputs/drag/lion
    python tools/drag.py configs/draggan/draggan_stylegan2_tiny-64x64.py \\
        --random-weights --drag 24,32,36,32 --max-steps 30
    python tools/drag.py --resume outputs/drag/lion/session.json \\
        --max-steps 100                                  # continue a drag
    python tools/drag.py CONFIG --points-file outputs/drag/lion/session.json
                                                         # re-run a session

Points are (x, y) image pixels (x = column, y = row, origin top-left):
``--drag HX,HY,TX,TY`` moves the handle (HX, HY) to the target (TX, TY);
repeat it for more points. ``--mask`` is a PNG of the image's size, white
(nonzero) = region allowed to change, black = kept fixed. With neither
``--seed`` nor ``--latent`` the seed is 0.

Writes to ``--out-dir`` (default ``outputs/drag/<--name or timestamp>``):
start.png, result.png, trajectory.gif|mp4 (points drawn; ``--no-overlay``:
plain frames), latent.pt (final W+ (1, L, C); feeds ``--latent``),
start_latent.pt (when started from a latent), mask.png (with ``--mask``),
curves.png and session.json (written last).

Ctrl-C stops after the current step and still writes everything
(``stop_reason: "stopped"``, exit 0); a second Ctrl-C aborts (exit 130).
Bad arguments print one line to stderr and exit 2.

This file only parses arguments: it builds the model with
:func:`mmagic_draggan.apis.init_model` (the weights of a session file it
re-runs or resumes, unless flags replace them) and drags with
:func:`mmagic_draggan.apis.drag`.
"""
import argparse
import math
import os.path as osp
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmagic_draggan.structures.drag_options import (  # noqa: E402
    OPTION_NAMES, OPTION_SPECS)

from mmagic_draggan.utils.cli import (ArgumentParser,  # noqa: E402
                                      UsageError, run_tool)

NEED_CONFIG = ('give a CONFIG, e.g. '
               'configs/draggan/draggan_stylegan2_lions-512x512.py')


def build_parser() -> argparse.ArgumentParser:
    from mmengine.config import DictAction
    p = ArgumentParser(
        prog='tools/drag.py',
        description='Drag points on a StyleGAN2 image with DragGAN, without '
        'a UI. Points are (x, y) pixels.',
        epilog='Exit codes: 0 done (also after one Ctrl-C), 2 bad '
        'arguments or inputs, 130 aborted by a second Ctrl-C.')
    p.add_argument('config', nargs='?', default=None,
                   help='config file (configs/draggan/*.py); optional with '
                   '--resume or a session --points-file when they name a '
                   'shipped config (a config named inside a file is never '
                   'read otherwise: pass it here)')
    w = p.add_argument_group('weights')
    w.add_argument('--checkpoint', default=None,
                   help='checkpoint path or zoo name (default: the config\'s)')
    w.add_argument('--random-weights', action='store_true', default=None,
                   help='seeded random weights (abstract images; for smoke '
                   'runs and tests)')
    w.add_argument('--device', default=None,
                   help="'cpu', 'cuda', 'cuda:1' (default: CUDA if any)")
    w.add_argument('--cfg-options', nargs='+', action=DictAction,
                   default=None, metavar='KEY=VALUE',
                   help='config overrides, e.g. model.lr=0.002')
    s = p.add_argument_group('start image (default --seed 0)')
    s.add_argument('--seed', type=int, default=None, help='seed of the image')
    s.add_argument('--latent', default=None, metavar='FILE',
                   help='start W+ latent (.pt, e.g. an earlier latent.pt)')
    s.add_argument('--inversion', default=None, metavar='INVERSION.pth',
                   help='drag your own photo: an inversion.pth from '
                   'tools/invert.py (give the same config and weight flags '
                   'as the inversion); with --resume, the inversion of a '
                   'session that names it by a path')
    s.add_argument('--truncation', type=float, default=None,
                   help='truncation psi for --seed (default: the config\'s)')
    pts = p.add_argument_group('points')
    pts.add_argument('--drag', action='append', default=None,
                     metavar='HX,HY,TX,TY',
                     help='move handle (HX, HY) to target (TX, TY), pixels; '
                     'repeat for more points')
    pts.add_argument('--points-file', default=None, metavar='FILE',
                     help='JSON with "handles" and "targets" ([[x, y], ...]),'
                     ' e.g. a session.json to re-run (its seed/latent, mask, '
                     'config and hyper-parameters are defaults)')
    pts.add_argument('--mask', default=None, metavar='PNG',
                     help='editable region, image-sized PNG: white/nonzero = '
                     'may change, black = fixed')
    pts.add_argument('--resume', default=None, metavar='SESSION.json',
                     help='continue a session from its final latent and '
                     'handles toward its targets (steps keep counting)')
    r = p.add_argument_group('run (drag options; default: the config\'s)')
    types = dict(int=int, float=float, str=str)
    for spec in OPTION_SPECS:  # one flag per DragOptions field
        r.add_argument(f'--{spec.name.replace("_", "-")}',
                       type=types[spec.kind], choices=spec.choices,
                       default=None, help=spec.help)
    o = p.add_argument_group('outputs')
    o.add_argument('--out-dir', default=None, metavar='DIR',
                   help='output folder (default outputs/drag/<name>)')
    o.add_argument('--name', default=None,
                   help='folder name under outputs/drag (default: timestamp)')
    o.add_argument('--overwrite', action='store_true',
                   help='write into a folder that already holds a session')
    from mmagic_draggan.apis.drag import VIDEO_CHOICES
    o.add_argument('--video', choices=VIDEO_CHOICES, default=None,
                   help='trajectory format (default gif)')
    o.add_argument('--no-overlay', action='store_true',
                   help='trajectory frames without points and arrows')
    o.add_argument('--fps', type=int, default=None,
                   help='trajectory frames per second (default 10)')
    # the default is drag()'s: auto_frame_interval of the image size
    from mmagic_draggan.engine.hooks import auto_frame_interval
    every = '/'.join(str(auto_frame_interval(h)) for h in (64, 256, 512))
    o.add_argument('--frame-interval', type=int, default=None, metavar='N',
                   help='render and record every N-th step for the '
                   'trajectory (default: by image size, every '
                   f'{every} steps at 64/256/512 px, so rendering stays near '
                   'a quarter of the drag time or less; the final image is '
                   'always recorded; the drag itself does not depend on it)')
    o.add_argument('--no-progress', action='store_true',
                   help='no progress bar')
    return p


def parse_drag(values: List[str]) -> Dict[str, list]:
    """``['HX,HY,TX,TY', ...]`` -> handles and targets ([[x, y], ...]).

    Raises:
        UsageError: A value that is not four finite numbers.
    """
    handles, targets = [], []
    for v in values:
        parts = [s for s in v.replace(' ', ',').split(',') if s.strip()]
        if len(parts) != 4:
            raise UsageError(
                f'--drag {v!r} needs 4 numbers HX,HY,TX,TY (handle x, y then '
                f'target x, y, pixels); got {len(parts)}')
        nums = []
        for s in parts:
            try:
                x = float(s)
            except ValueError:
                raise UsageError(f'--drag {v!r}: {s!r} is not a number '
                                 '(expected HX,HY,TX,TY pixels)') from None
            if not math.isfinite(x):
                raise UsageError(f'--drag {v!r}: {s!r} is not finite')
            nums.append(x)
        handles.append(nums[:2])
        targets.append(nums[2:])
    return dict(handles=handles, targets=targets)


def check_args(args: argparse.Namespace) -> None:
    """Conflicts between flags of this tool (before anything heavy runs;
    the start image and the weights have their own rules, in
    ``StartImage.create`` and ``init_model``)."""
    def given(*names):
        return [f'--{n.replace("_", "-")}' for n in names
                if getattr(args, n) not in (None, False)]

    if args.drag and args.points_file:
        raise UsageError('give --drag or --points-file, not both')
    if args.out_dir and args.name:
        raise UsageError('give --out-dir or --name, not both')
    if args.resume:
        bad = given('drag', 'points_file', 'seed', 'latent', 'truncation')
        if bad:
            raise UsageError(
                f'--resume continues the session\'s own start and points; '
                f'drop {" ".join(bad)} (to drag new points from its final '
                'latent use --latent DIR/latent.pt --drag ...)')
    elif not args.drag and not args.points_file:
        raise UsageError('no points: give --drag HX,HY,TX,TY (repeatable), '
                         '--points-file FILE or --resume SESSION.json')
    elif args.config is None and not args.points_file:
        raise UsageError(NEED_CONFIG)


def default_out_dir(name: Optional[str]) -> str:
    """``outputs/drag/<name>``; a timestamp (made unique) without a name."""
    base = osp.join('outputs', 'drag')
    if name:
        return osp.join(base, name)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    out, i = osp.join(base, stamp), 1
    while osp.exists(out):
        out, i = osp.join(base, f'{stamp}-{i}'), i + 1
    return out


def model_kwargs(args: argparse.Namespace) -> dict:
    """The explicitly given weight flags as ``init_model`` arguments."""
    kw = {}
    for key in ('config', 'checkpoint', 'device', 'cfg_options'):
        if getattr(args, key) is not None:
            kw[key] = getattr(args, key)
    if args.random_weights:
        kw['random_weights'] = True
    return kw


def drag_kwargs(args: argparse.Namespace) -> dict:
    """The explicitly given flags as :func:`drag` keyword arguments."""
    kw = {}
    for key in ('seed', 'latent', 'inversion', 'truncation', 'mask',
                'max_steps', 'video', 'fps', 'frame_interval') + OPTION_NAMES:
        if getattr(args, key) is not None:
            kw[key] = getattr(args, key)
    if args.drag:
        kw.update(parse_drag(args.drag))
    kw['out_dir'] = args.out_dir or default_out_dir(args.name)
    kw['overwrite'] = args.overwrite
    kw['overlay'] = not args.no_overlay
    kw['progress'] = not args.no_progress
    return kw


def summary(out) -> str:
    """What happened and where the files are."""
    rec = out.record
    how = {'converged': 'converged', 'max_steps': 'reached --max-steps',
           'stopped': 'stopped'}.get(rec.stop_reason, rec.stop_reason)
    lines = [
        f'{how} after {rec.run_steps} steps (step {rec.steps} in all): '
        f'mean distance {rec.initial_mean_distance:.2f} -> '
        f'{rec.mean_distance:.2f} px in {rec.run_seconds:.1f} s',
        f'outputs in {out.out_dir}/: ' + ' '.join(rec.files.values())
    ]
    if not rec.converged:
        lines.append('continue with: python tools/drag.py --resume '
                     f"{out.paths['session']}")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit code (errors: one line on stderr)."""
    return run_tool(lambda: _main(argv), 'tools/drag.py',
                    'aborted by a second Ctrl-C; the outputs may be '
                    'incomplete')


def _main(argv: Optional[List[str]]) -> None:
    args = build_parser().parse_args(argv)
    check_args(args)
    build, run = model_kwargs(args), drag_kwargs(args)
    # heavy imports only once the command line is known to be sane
    from mmagic_draggan.apis import (drag, drag_kwargs_from_file, init_model,
                                     merge_drag_kwargs, merge_model_kwargs,
                                     model_kwargs_from_file, resume_kwargs)
    from mmagic_draggan.fileio.session_file import read_session
    from mmagic_draggan.structures.start_image import StartImage
    source = args.resume or args.points_file
    if source:  # read once: what it asks to build, and to run
        sf = read_session(source)
        run = resume_kwargs(sf, run) if args.resume else \
            merge_drag_kwargs(drag_kwargs_from_file(sf), run)
        build = merge_model_kwargs(model_kwargs_from_file(sf), build)
    if build.get('config') is None:
        raise UsageError(NEED_CONFIG)
    # the start is checked before the model is built
    run['start'] = StartImage.create(
        **{k: run.pop(k) for k in ('seed', 'latent', 'inversion',
                                   'truncation') if k in run})
    out = drag(init_model(**build), **run)
    print(summary(out))


if __name__ == '__main__':
    sys.exit(main())
