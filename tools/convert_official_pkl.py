"""Convert an official NVIDIA/DragGAN StyleGAN2 pickle to a MMagic checkpoint.

Usage::

    python tools/convert_official_pkl.py stylegan2_lions_512_pytorch.pkl \\
        checkpoints/stylegan2_lions_512_pytorch_mmagic.pth [--which G_ema]

Input: a stylegan2-ada-pytorch style pickle (a dict with ``G``, ``D``,
``G_ema``, ``training_set_kwargs``, ``augment_pipe``, or only some of them).
It is read with a restricted unpickler: the Python source stored in the
pickle is never executed and only tensor/container globals are accepted.
Old TensorFlow pickles (``dnnlib.tflib``) are refused.

Output: ``{'state_dict': {'generator_ema.<key>': tensor, ...}, 'meta': {...}}``
(``generator.`` when ``--which G``), every key of MMagic's
``StyleGANv2Generator`` including the constant noise buffers and ``w_avg``;
load it with ``--checkpoint OUT.pth`` and a config that fits (printed).

Exit codes: 0 done, 1 the pickle is unsafe, unsupported or unreadable.
"""
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmagic_draggan.checkpoints.official.convert import (  # noqa: E402
    convert_official_pickle)
from mmagic_draggan.utils.cli import ArgumentParser, run_tool  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    """Run the converter.

    Args:
        argv (list[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        int: 0 on success, 2 when the pickle is refused (one line on
        stderr).
    """
    return run_tool(lambda: _main(argv), 'tools/convert_official_pkl.py')


def _main(argv: Optional[List[str]]) -> None:
    parser = ArgumentParser(
        description='Convert an official StyleGAN2/DragGAN .pkl to a MMagic '
        'checkpoint (never runs code from the pickle).')
    parser.add_argument('src', help='official .pkl')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument(
        '--which',
        choices=['G_ema', 'G'],
        default=None,
        help='network to convert (default: G_ema if present, else G)')
    args = parser.parse_args(argv)
    info = convert_official_pickle(args.src, args.dst, args.which)
    arch = info['arch']
    print(f"converted {info['which']} of {args.src} -> {info['dst']}")
    print(f"generator: out_size={arch['out_size']} "
          f"style_channels={arch['style_channels']} "
          f"num_mlps={arch['num_mlps']} "
          f"channel_multiplier={arch['channel_multiplier']}")
    if info['which'] == 'G':
        print('note: this is the non-EMA generator G (the pickle had no '
              'G_ema, or --which G was given)')
    if not info['w_avg']:
        print('note: the pickle has no mapping.w_avg; the loader will '
              'compute it from 10000 seeded samples')
    if info['configs']:
        print('configs that fit: ' + ', '.join(info['configs']))
    else:
        print('no config in configs/draggan fits this architecture; write '
              'one with the generator settings above')


if __name__ == '__main__':
    sys.exit(main())
