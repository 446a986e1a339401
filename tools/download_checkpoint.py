"""Download DragGAN StyleGAN2 checkpoints (MMagic format) from the model zoo.

Usage::

    python tools/download_checkpoint.py StyleGAN2-FFHQ      # one (any case)
    python tools/download_checkpoint.py --all               # all eight
    python tools/download_checkpoint.py --list              # names and files
    bash run.sh download_checkpoint StyleGAN2-Lions-internet

The URL is ``BASE_URL + NAME``. The default base is MMagic's OpenXLab
folder (``mmagic_draggan.checkpoints.zoo.DEFAULT_BASE_URL``:
``https://download.openxlab.org.cn/models/qsun1/``
``DragGAN-StyleGAN2-checkpoint/weight//``); for a mirror serving the same
names use ``--base-url`` or ``$DRAGGAN_CHECKPOINT_BASE_URL``. Each file is
saved under its config's local name
(``checkpoints/stylegan2_lions_512_pytorch_mmagic.pth`` ...), written to
``.part`` first and renamed when complete and verified; broken transfers are
resumed (HTTP Range) up to ``--retries`` times, and re-running the command
resumes too. HTML pages and other non-checkpoint responses are refused.

Exit codes: 0 done; 1 network failure after retries; 2 usage error (e.g.
unknown name); 3 the server sent something that is not a checkpoint;
4 HTTP error status (e.g. 404).
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmagic_draggan.checkpoints.download import (  # noqa: E402
    EXIT_OK, EXIT_USAGE, DownloadError, describe_size, download_file,
    is_checkpoint_file)
from mmagic_draggan.checkpoints.resolver import (  # noqa: E402
    resolve_checkpoint_dir)
from mmagic_draggan.checkpoints.zoo import (  # noqa: E402
    checkpoint_url, find_zoo_entry, list_zoo)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Download DragGAN StyleGAN2 checkpoints (MMagic format).',
        epilog='Exit codes: 0 ok, 1 network failure, 2 usage, 3 not a '
        'checkpoint, 4 HTTP error.')
    parser.add_argument(
        'names', nargs='*', help='zoo names, e.g. StyleGAN2-FFHQ (any case)')
    parser.add_argument('--all', action='store_true', help='all checkpoints')
    parser.add_argument(
        '--list', action='store_true', help='list the zoo and exit')
    parser.add_argument(
        '--dir',
        default=None,
        help='output folder (default: <repo>/checkpoints, where the configs '
        'look; a relative folder is taken from the working directory when it '
        'exists there, else from the repository root)')
    parser.add_argument(
        '--base-url',
        default=None,
        help='mirror base URL; the file URL is BASE_URL + NAME')
    parser.add_argument(
        '--retries', type=int, default=5, help='retries per file (default 5)')
    parser.add_argument(
        '--timeout', type=float, default=60., help='socket timeout, seconds')
    parser.add_argument(
        '--backoff',
        type=float,
        default=1.,
        help='first wait between retries, seconds (doubles)')
    parser.add_argument(
        '--force', action='store_true', help='download even if present')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def _print_zoo() -> None:
    for e in list_zoo():
        print(f"{e['name']:30s} {e['resolution']:>5}px  {e['path']}  "
              f"({e['config']})")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the downloader.

    Args:
        argv (list[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        int: The exit code (see the module docstring).
    """
    args = parse_args(argv)
    if args.list:
        _print_zoo()
        return EXIT_OK
    if args.all:
        entries = list_zoo()
    elif args.names:
        entries = []
        for name in args.names:
            entry = find_zoo_entry(name)
            if entry is None:
                print(
                    f'unknown checkpoint name {name!r}; known names:',
                    file=sys.stderr)
                for e in list_zoo():
                    print(f"  {e['name']}", file=sys.stderr)
                return EXIT_USAGE
            entries.append(entry)
    else:
        print(
            'give checkpoint names, --all or --list (see --help)',
            file=sys.stderr)
        return EXIT_USAGE

    folder = resolve_checkpoint_dir(args.dir)  # the demo's and loader's rule
    for entry in entries:
        dest = folder / entry['filename']
        if dest.exists() and not args.force:
            if is_checkpoint_file(dest):
                print(f"{entry['name']}: {dest} already present, skipped")
                continue
            print(f"{entry['name']}: {dest} exists but is not a complete "
                  'checkpoint; downloading again')
        url = checkpoint_url(entry['name'], args.base_url)
        print(f"{entry['name']}: {url} -> {dest}")
        try:
            download_file(
                url,
                str(dest),
                retries=args.retries,
                timeout=args.timeout,
                backoff=args.backoff,
                progress=not args.quiet)
        except DownloadError as err:
            print(f"{entry['name']}: error: {err}", file=sys.stderr)
            return err.exit_code
        print(f"{entry['name']}: saved {dest} ({describe_size(dest)})")
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
