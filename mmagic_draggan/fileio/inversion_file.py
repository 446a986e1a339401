"""Inversion files: the pivot latent and the tuned-weight delta of a photo.

An inversion file (``inversion.pth``, written by ``tools/invert.py``) is a
:func:`torch.save` of a plain dict (tensors, dicts, lists, strings, numbers
only; never a pickled module), read back with
``torch.load(weights_only=True)`` so no code runs on load:

* ``latent``: the pivot W+, (1, L, C) float32;
* ``synthesis_delta``: tuned minus base weights for every generator
  ``state_dict`` key the pivotal tuning changed (empty without tuning);
* ``base_fingerprint`` / ``config_fingerprint``: which generator and config
  it belongs to (:mod:`mmagic_draggan.utils.fingerprint`);
* the config and checkpoint it was made with, the recipe, the metrics and
  the preprocessing of the photo.

Its size is checked from the zip directory before any tensor is unpacked
(:func:`~mmagic_draggan.utils.torch_file.load_tensor_file`): at most
``max_bytes`` (a model's own limit, :func:`inversion_file_limit`, where the
model is known; else :data:`MAX_INVERSION_BYTES`).
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Optional, Union

import torch
from torch import Tensor

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.utils.torch_file import TensorFileError, load_tensor_file

__all__ = ['INVERSION_FORMAT', 'INVERSION_VERSION', 'MAX_INVERSION_BYTES',
           'InversionFile', 'save_inversion', 'read_inversion',
           'inversion_file_limit', 'inversion_summary']

PathLike = Union[str, os.PathLike]

#: The ``format`` field of every inversion file.
INVERSION_FORMAT = 'mmagic-draggan/inversion'
#: The newest version this code reads and the one it writes.
INVERSION_VERSION = 1
#: Most bytes an inversion file may unpack to when the model is not known
#: (the tuned delta of a 1024 px StyleGAN2 is about 120 MB).
MAX_INVERSION_BYTES = 512 * 2**20


def inversion_file_limit(generator: torch.nn.Module) -> int:
    """Most bytes an inversion file for ``generator`` may unpack to: a
    float32 delta of every parameter and buffer, plus 16 MB for the pivot and
    the records."""
    numel = sum(t.numel() for t in generator.state_dict().values())
    return 4 * int(numel) + 16 * 2**20


@dataclass
class InversionFile:
    """The content of an inversion file.

    Attributes:
        latent (Tensor): The pivot W+, shape (1, L, C), float32, CPU.
        synthesis_delta (dict[str, Tensor]): ``tuned - base`` for each
            generator ``state_dict`` key the tuning changed (float32, CPU);
            empty for the ``'projector'`` preset.
        base_fingerprint (str): :func:`~mmagic_draggan.utils.fingerprint.
            weights_fingerprint` of the base generator.
        config_fingerprint (str): :func:`~mmagic_draggan.utils.fingerprint.
            config_fingerprint` of the model config.
        config (str | None): The config file (portable path).
        checkpoint (str | None): The checkpoint file (portable path); None
            for random weights.
        random_weights (bool): The generator had seeded random weights.
        image_size (int): Generator side H = W in pixels.
        recipe (dict): The inversion recipe that ran (plain types).
        metrics (dict): PSNR, MSE, LPIPS, steps and seconds per stage.
        preprocess (dict): How the photo became the target (source, size,
            crop/pad box, EXIF orientation).
        format (str): :data:`INVERSION_FORMAT`.
        version (int): :data:`INVERSION_VERSION`.
    """
    latent: Tensor
    synthesis_delta: Dict[str, Tensor] = field(default_factory=dict)
    base_fingerprint: str = ''
    config_fingerprint: str = ''
    config: Optional[str] = None
    checkpoint: Optional[str] = None
    random_weights: bool = False
    image_size: int = 0
    recipe: Dict[str, Any] = field(default_factory=dict)
    metrics: Dict[str, Any] = field(default_factory=dict)
    preprocess: Dict[str, Any] = field(default_factory=dict)
    format: str = INVERSION_FORMAT
    version: int = INVERSION_VERSION

    @property
    def tuned(self) -> bool:
        """Whether the file carries tuned weights (a non-empty delta)."""
        return bool(self.synthesis_delta)

    @property
    def num_latents(self) -> int:
        """Rows L of the pivot."""
        return int(self.latent.shape[1])


def _json_plain(obj: Any, what: str) -> Any:
    """A JSON round trip: plain dicts/lists/str/numbers only."""
    try:
        return json.loads(json.dumps(obj))
    except (TypeError, ValueError) as e:
        raise InvalidInputError(
            f'inversion {what} must hold plain JSON values '
            f'only: {e}') from None


def _check_latent(latent: Any, what: str) -> Tensor:
    if not isinstance(latent, Tensor):
        raise InvalidInputError(
            f'{what}: latent is a {type(latent).__name__}, not '
            'a tensor')
    if latent.ndim != 3 or latent.shape[0] != 1:
        raise InvalidInputError(
            f'{what}: latent has shape {tuple(latent.shape)}; '
            'expected a W+ tensor (1, L, C)')
    if not latent.is_floating_point() or not torch.isfinite(latent).all():
        raise InvalidInputError(
            f'{what}: latent holds NaN/inf or non-float values')
    return latent.detach().float().cpu().contiguous()


def _check_delta(delta: Any, what: str) -> Dict[str, Tensor]:
    if not isinstance(delta, dict):
        raise InvalidInputError(f'{what}: synthesis_delta is a '
                                f'{type(delta).__name__}, not a dict')
    out = {}
    for key, value in delta.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise InvalidInputError(
                f'{what}: synthesis_delta must map state-dict '
                f'key names to tensors; entry {key!r} is a '
                f'{type(value).__name__}')
        if not value.is_floating_point() or not torch.isfinite(value).all():
            raise InvalidInputError(f'{what}: synthesis_delta[{key!r}] holds '
                                    'NaN/inf or non-float values')
        out[key] = value.detach().float().cpu().contiguous()
    return out


def save_inversion(path: PathLike, inv: InversionFile) -> str:
    """Write an inversion file (atomically: a temporary file, then rename).

    Args:
        path (str): Target file, usually ``.../inversion.pth``.
        inv (InversionFile): What to write; ``latent`` (1, L, C).

    Returns:
        str: ``path``.

    Raises:
        ValueError: A latent that is not a finite (1, L, C) tensor, a delta
            that is not a dict of tensors, or non-JSON recipe / metrics /
            preprocess values.
    """
    path = str(path)
    what = f'inversion {path!r}'
    record = dict(
        format=INVERSION_FORMAT, version=INVERSION_VERSION,
        latent=_check_latent(inv.latent, what).clone(),
        synthesis_delta={
            k: v.clone()
            for k, v in _check_delta(inv.synthesis_delta, what).items()
        },
        base_fingerprint=str(inv.base_fingerprint),
        config_fingerprint=str(inv.config_fingerprint),
        config=None if inv.config is None else str(inv.config),
        checkpoint=None if inv.checkpoint is None else str(inv.checkpoint),
        random_weights=bool(inv.random_weights),
        image_size=int(inv.image_size),
        recipe=_json_plain(inv.recipe, 'recipe'),
        metrics=_json_plain(inv.metrics, 'metrics'),
        preprocess=_json_plain(inv.preprocess, 'preprocess'))
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        torch.save(record, tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path


_STR_FIELDS = ('base_fingerprint', 'config_fingerprint')
_OPT_STR_FIELDS = ('config', 'checkpoint')
_DICT_FIELDS = ('recipe', 'metrics', 'preprocess')


def read_inversion(path: PathLike,
                   max_bytes: Optional[int] = MAX_INVERSION_BYTES
                   ) -> InversionFile:
    """Read an inversion file safely (``torch.load(weights_only=True)``).

    Args:
        path (str): An ``inversion.pth`` written by :func:`save_inversion`.
        max_bytes (int, optional): Most bytes it may unpack to, checked
            before loading (:func:`inversion_file_limit` of the model it is
            for). Defaults to :data:`MAX_INVERSION_BYTES`.

    Returns:
        InversionFile: Its content; ``latent`` (1, L, C) float32 CPU.

    Raises:
        ValueError: A missing, corrupt or unsafe file (one that needs code
            to load), a file that is no inversion, a newer version, a latent
            that is not a finite (1, L, C) tensor, or a delta that is not a
            dict of finite tensors (the message names the file).
    """
    path = str(path)
    what = f'inversion file {path!r}'
    if not osp.isfile(path):
        raise InvalidInputError(f'{what} does not exist (make one with '
                                'tools/invert.py CONFIG IMAGE --out-dir DIR)')
    try:
        obj = load_tensor_file(path, max_bytes, what=what)
    except TensorFileError as e:
        raise InvalidInputError(str(e)) from None
    except Exception as e:  # zip, pickle and weights_only errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else \
            type(e).__name__
        raise InvalidInputError(
            f'cannot read {what} safely (torch.load(weights_'
            f'only=True)): it is corrupt or not a plain-tensor '
            f'file ({first})') from None
    if not isinstance(obj, dict) or obj.get('format') != INVERSION_FORMAT:
        raise InvalidInputError(
            f'{what} is not an mmagic-draggan inversion (no '
            f'format {INVERSION_FORMAT!r}); is it a latent or a '
            'checkpoint?')
    version = obj.get('version')
    if not isinstance(version, int) or version < 1:
        raise InvalidInputError(f'{what} has an invalid version {version!r}')
    if version > INVERSION_VERSION:
        raise InvalidInputError(
            f'{what} is version {version}; this code reads up '
            f'to {INVERSION_VERSION}: update mmagic-draggan')
    if 'latent' not in obj:
        raise InvalidInputError(f'{what} has no latent')
    kwargs: Dict[str, Any] = dict(
        latent=_check_latent(obj['latent'], what),
        synthesis_delta=_check_delta(obj.get('synthesis_delta', {}), what))
    for name in _STR_FIELDS:
        value = obj.get(name, '')
        if not isinstance(value, str):
            raise InvalidInputError(f'{what}: {name} must be a string')
        kwargs[name] = value
    for name in _OPT_STR_FIELDS:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f'{what}: {name} must be a string or None')
        kwargs[name] = value
    for name in _DICT_FIELDS:
        value = obj.get(name, {})
        if not isinstance(value, dict):
            raise InvalidInputError(f'{what}: {name} must be a dict')
        kwargs[name] = value
    size = obj.get('image_size', 0)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInputError(
            f'{what}: image_size must be a non-negative int')
    kwargs['image_size'] = size
    kwargs['random_weights'] = bool(obj.get('random_weights', False))
    kwargs['version'] = version
    known = {f.name for f in fields(InversionFile)}
    assert set(kwargs) <= known
    return InversionFile(**kwargs)


def inversion_summary(inv: InversionFile) -> Dict[str, Any]:
    """A JSON-able description (no tensors) of an inversion."""
    out = {f.name: getattr(inv, f.name) for f in fields(InversionFile)}
    out['latent'] = list(inv.latent.shape)
    out['synthesis_delta'] = sorted(inv.synthesis_delta)
    return out
