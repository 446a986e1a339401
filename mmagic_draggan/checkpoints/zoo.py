"""The model zoo: the DragGAN configs and the checkpoints they expect.

Everything is read from ``configs/draggan/*.py`` (via :class:`mmengine.Config`,
without importing custom modules), so adding a config adds a zoo entry. Each
config names its checkpoint in a top-level ``checkpoint`` dict::

    checkpoint = dict(
        name='StyleGAN2-Lions-internet',  # the zoo name, used in the URL
        path='checkpoints/stylegan2_lions_512_pytorch_mmagic.pth')

Download URL of a checkpoint: ``base_url + name`` (MMagic's own metafile lists
``.../weight//StyleGAN2-car-official``); the file is saved under the local
file name of ``path``. The base URL can be replaced for a mirror
(``--base-url`` of ``tools/download_checkpoint.py``, or the environment
variable ``DRAGGAN_CHECKPOINT_BASE_URL``).
"""
import functools
import os
from pathlib import Path
from typing import Dict, List, Optional

from mmengine.config import Config

from mmagic_draggan.utils.paths import config_dir, repo_root

#: OpenXLab folder of MMagic's DragGAN checkpoints; URL = base + zoo name.
DEFAULT_BASE_URL = ('https://download.openxlab.org.cn/models/qsun1/'
                    'DragGAN-StyleGAN2-checkpoint/weight//')

#: Environment variable that overrides :data:`DEFAULT_BASE_URL`.
BASE_URL_ENV = 'DRAGGAN_CHECKPOINT_BASE_URL'

#: Training data of each released checkpoint (for docs and the metafile).
DATASETS: Dict[str, str] = {
    'StyleGAN2-Lions-internet': 'Lions (Internet photos, self-distilled)',
    'StyleGAN2-elephants-internet':
    'Elephants (Internet photos, self-distilled)',
    'StyleGAN2-cat-AFHQ': 'AFHQ-Cat',
    'StyleGAN2-FFHQ': 'FFHQ',
    'StyleGAN2-lsun-horses': 'LSUN Horse',
    'StyleGAN2-dogs-internet': 'Dogs (Internet photos, self-distilled)',
    'StyleGAN2-car-official': 'LSUN Car (NVIDIA config-f)',
    'StyleGAN2-cat-official': 'LSUN Cat (NVIDIA config-f)',
}


def base_url(override: Optional[str] = None) -> str:
    """Return the download base URL, always ending with ``/``.

    Args:
        override (str, optional): A mirror URL. Defaults to None, which means
            ``$DRAGGAN_CHECKPOINT_BASE_URL`` or :data:`DEFAULT_BASE_URL`.

    Returns:
        str: The base URL.
    """
    url = override or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return url if url.endswith('/') else url + '/'


def checkpoint_url(name: str, base: Optional[str] = None) -> str:
    """Return the download URL of a zoo checkpoint.

    Args:
        name (str): Zoo name, e.g. ``'StyleGAN2-FFHQ'``.
        base (str, optional): Base URL; see :func:`base_url`.

    Returns:
        str: ``base_url(base) + name``.
    """
    return base_url(base) + name


def download_command(name: str) -> str:
    """Return the shell command that downloads a zoo checkpoint.

    Args:
        name (str): Zoo name.

    Returns:
        str: e.g. ``'bash run.sh download_checkpoint StyleGAN2-FFHQ'``.
    """
    return f'bash run.sh download_checkpoint {name}'


def missing_checkpoint_message(path: str, name: Optional[str] = None,
                               command: Optional[str] = None) -> str:
    """The one message for a checkpoint file that is not there.

    Args:
        path (str): The file that was looked for.
        name (str, optional): Its zoo name; None looks it up by file name.
        command (str, optional): The download command; default
            :func:`download_command`.
    """
    if name is None:
        for entry in list_zoo():
            if entry['filename'] == Path(path).name:
                name = entry['name']
    if name is None:
        return (f'checkpoint file {path} does not exist. Released '
                'checkpoints: bash run.sh download_checkpoint NAME (names: '
                'python tools/download_checkpoint.py --list).')
    return (f'checkpoint file {path} does not exist. Download it with\n'
            f'    {command or download_command(name)}\n'
            f'(or: python tools/download_checkpoint.py {name})')


@functools.lru_cache(maxsize=None)
def _read_configs(folder: str) -> tuple:
    entries = []
    for file in sorted(Path(folder).glob('*.py')):
        cfg = Config.fromfile(str(file), import_custom_modules=False)
        gen = cfg.get('model', {}).get('generator', {})
        ckpt = cfg.get('checkpoint') or {}
        rel = file.relative_to(repo_root()).as_posix() \
            if repo_root() in file.parents else str(file)
        entries.append(
            dict(
                config=rel,
                out_size=gen.get('out_size'),
                style_channels=gen.get('style_channels', 512),
                num_mlps=gen.get('num_mlps', 8),
                channel_multiplier=gen.get('channel_multiplier', 2),
                lr=cfg.get('model', {}).get('lr'),
                name=ckpt.get('name'),
                path=ckpt.get('path')))
    return tuple(entries)


def list_configs() -> List[dict]:
    """List every DragGAN config with its generator settings.

    Returns:
        list[dict]: One dict per ``configs/draggan/*.py`` with keys
        ``config`` (path relative to the repo root), ``out_size``,
        ``style_channels``, ``num_mlps``, ``channel_multiplier``, ``lr``,
        ``name`` and ``path`` (the checkpoint; None for the tiny config).
    """
    folder = config_dir()
    if not folder.is_dir():
        return []
    return [dict(e) for e in _read_configs(str(folder))]


def list_zoo() -> List[dict]:
    """List the released checkpoints (configs whose checkpoint has a name).

    Returns:
        list[dict]: One dict per checkpoint with keys ``name``, ``config``,
        ``path`` (relative to the repo root), ``resolution``, ``filename``,
        ``url``, ``dataset`` and ``lr``.
    """
    zoo = []
    for entry in list_configs():
        if not entry['name']:
            continue
        zoo.append(
            dict(
                name=entry['name'],
                config=entry['config'],
                path=entry['path'],
                resolution=entry['out_size'],
                filename=Path(entry['path']).name,
                url=checkpoint_url(entry['name']),
                dataset=DATASETS.get(entry['name'], ''),
                lr=entry['lr']))
    return zoo


def find_zoo_entry(name: str) -> Optional[dict]:
    """Find a zoo checkpoint by name, case-insensitively.

    Args:
        name (str): e.g. ``'stylegan2-ffhq'``.

    Returns:
        dict | None: The :func:`list_zoo` entry, or None.
    """
    for entry in list_zoo():
        if entry['name'].lower() == name.strip().lower():
            return entry
    return None


def configs_for(out_size: int,
                style_channels: Optional[int] = None,
                num_mlps: Optional[int] = None,
                channel_multiplier: Optional[int] = None) -> List[str]:
    """Return the configs whose generator has the given architecture.

    Args:
        out_size (int): Image side in pixels.
        style_channels (int, optional): W size; None matches any.
        num_mlps (int, optional): Mapping depth; None matches any.
        channel_multiplier (int, optional): None matches any.

    Returns:
        list[str]: Config paths relative to the repo root.
    """
    wanted = dict(
        out_size=out_size,
        style_channels=style_channels,
        num_mlps=num_mlps,
        channel_multiplier=channel_multiplier)
    return [
        e['config'] for e in list_configs()
        if all(v is None or e[k] == v for k, v in wanted.items())
    ]
