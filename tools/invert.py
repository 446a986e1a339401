"""Invert a photo for DragGAN: pivot latent, then pivotal tuning (PTI).

Usage::

    python tools/invert.py configs/draggan/draggan_stylegan2_lions-512x512.py \\
        photos/lion.jpg --out-dir outputs/invert/lion
    python tools/invert.py configs/draggan/draggan_stylegan2_tiny-64x64.py \\
        img.png --random-weights --perceptual none --steps 20 --pti-steps 10 \\
        --out-dir /tmp/inv                                  # smoke run

Presets (``configs/_base_/inversion/<preset>.py``): ``pti`` (default; a W
pivot in 450 steps, then 350 steps of pivotal tuning) and ``projector``
(1000 W steps, weights untouched). Without ``--preset`` a config's own
``inversion`` recipe is used when it has one. ``--perceptual lpips`` needs
torchvision's VGG16 ImageNet weights (``vgg16-397923af.pth``) in
``$TORCH_HOME/hub/checkpoints/`` (downloaded on first use when online);
``--perceptual none`` uses pixel losses only and runs offline.

The photo is centre-cropped (``--resize pad``: padded) to a square and
resized to the generator's side. A photo outside the generator's domain
(a face model wants an aligned face) reconstructs but edits badly.

Writes to ``--out-dir``: inversion.pth (pivot W+ and tuned-weight delta),
target.png, pivot.png, reconstruction.png, metrics.json, curves.png.

Ctrl-C stops after the current step and still writes everything
(``"stopped": true`` in metrics.json, exit 0); a second Ctrl-C aborts
(exit 130). Bad arguments print one line to stderr and exit 2.

This file only parses arguments: it builds the model with
:func:`mmagic_draggan.apis.init_model` and inverts with
:func:`mmagic_draggan.apis.invert`.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmagic_draggan.utils.cli import (ArgumentParser,  # noqa: E402
                                      UsageError, int_type, run_tool)
from mmagic_draggan.utils.paths import inversion_presets  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog='tools/invert.py',
        description='Invert a photo into a StyleGAN2 generator for DragGAN '
        '(GAN inversion, then pivotal tuning).',
        epilog='Exit codes: 0 done (also after one Ctrl-C), 2 bad '
        'arguments or inputs, 130 aborted by a second Ctrl-C.')
    p.add_argument('config', help='config file (configs/draggan/*.py)')
    p.add_argument('image', help='the photo (PNG, JPEG, WebP, ...)')
    p.add_argument('--out-dir', required=True, metavar='DIR',
                   help='output folder')
    w = p.add_argument_group('weights')
    w.add_argument('--checkpoint', default=None,
                   help="checkpoint path or zoo name (default: the config's)")
    w.add_argument('--random-weights', action='store_true',
                   help='seeded random weights (smoke runs and tests)')
    w.add_argument('--device', default=None,
                   help="'cpu', 'cuda', 'cuda:1' (default: CUDA if any)")
    r = p.add_argument_group('recipe')
    from mmagic_draggan.apis.invert import PERCEPTUAL_CHOICES
    from mmagic_draggan.fileio.image_input import RESIZE_MODES
    r.add_argument('--preset', choices=inversion_presets(), default=None,
                   help="recipe (default: the config's inversion, else pti)")
    r.add_argument('--perceptual', choices=PERCEPTUAL_CHOICES,
                   default='lpips',
                   help='LPIPS loss (needs the VGG16 weights) or pixel '
                   'losses only (default lpips)')
    r.add_argument('--steps', type=int_type(0), default=None, metavar='N',
                   help='stage A (pivot) steps')
    r.add_argument('--pti-steps', type=int_type(0), default=None, metavar='M',
                   help='pivotal-tuning steps (0: no tuning)')
    r.add_argument('--resize', choices=RESIZE_MODES, default='crop',
                   help='square the photo by centre crop or padding '
                   '(default crop)')
    o = p.add_argument_group('outputs')
    o.add_argument('--overwrite', action='store_true',
                   help='write into a folder that already holds an '
                   'inversion.pth')
    o.add_argument('--no-progress', action='store_true',
                   help='no progress bar')
    return p


def check_args(args: argparse.Namespace) -> None:
    """Conflicts between flags of this tool (before anything heavy runs;
    the weights have their own rule, in ``init_model``)."""
    if args.preset == 'projector' and args.pti_steps:
        raise UsageError('the projector preset has no pivotal tuning: drop '
                         '--pti-steps or use --preset pti')


def summary(out) -> str:
    """What happened and where the files are."""
    m = out.metrics
    steps = ', '.join(f'{k} {v}' for k, v in m['steps'].items())
    line = (f"{'stopped' if m['stopped'] else 'done'}: PSNR "
            f"{m['psnr']:.2f} dB")
    if 'lpips' in m:
        line += f", LPIPS {m['lpips']:.4f}"
    line += (f" (pivot {m['pivot_psnr']:.2f} dB) after {steps} steps in "
             f"{m['total_seconds']:.1f} s")
    names = ' '.join(Path(p).name for p in out.paths.values())
    folder = Path(out.paths['inversion']).parent if out.paths else '-'
    return f'{line}\noutputs in {folder}/: {names}'


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit code (errors: one line on stderr)."""
    return run_tool(lambda: _main(argv), 'tools/invert.py',
                    'aborted by a second Ctrl-C; the outputs may be '
                    'incomplete')


def _main(argv: Optional[List[str]]) -> None:
    args = build_parser().parse_args(argv)
    check_args(args)
    # heavy imports only once the command line is known to be sane
    from mmagic_draggan.apis import init_model, invert
    model = init_model(args.config, checkpoint=args.checkpoint,
                       random_weights=args.random_weights,
                       device=args.device)
    out = invert(model, args.image, out_dir=args.out_dir,
                 preset=args.preset, perceptual=args.perceptual,
                 steps=args.steps, pti_steps=args.pti_steps,
                 resize=args.resize, progress=not args.no_progress,
                 overwrite=args.overwrite)
    print(summary(out))


if __name__ == '__main__':
    sys.exit(main())
