"""One drag task of a batch run: reading, validating and loading it.

A task file is JSON Lines (one JSON object per line; blank lines are
skipped) or JSON (a list of task objects, or ``{"tasks": [...]}``). Each
task object::

    {
      "id": "face-001",               # optional; default "task-<index>"
      "seed": 42,                     # the start latent: a seed ...
      "latent_file": "w/face.pt",     # ... or a W+ latent (.pt/.pth/.npy)
      "handles": [[x, y], ...],       # image pixels, x = column, y = row
      "targets": [[x, y], ...],       # one target per handle
      "mask_file": "masks/face.png",  # optional; white = may change
      "truncation": 0.7,              # optional, for "seed"
      "lr": 0.002, "max_steps": 200   # optional DragSession options
    }

Any key of :data:`~mmagic_draggan.models.draggan.SESSION_OPTIONS` may be
given per task. Relative file names are resolved against the task file's
folder. Errors name the task file, the line (or list index), the task and
the field.
"""
import json
import math
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from mmagic_draggan.models.draggan import SESSION_OPTIONS

#: Task fields besides the DragSession options.
TASK_FIELDS = ('id', 'seed', 'latent_file', 'handles', 'targets', 'mask_file',
               'truncation')
#: File name suffixes accepted for ``latent_file``.
LATENT_SUFFIXES = ('.pt', '.pth', '.npy')
#: Types of the per-task options (checked here; ranges by the model).
_INT_OPTIONS = ('max_steps', 'num_opt_latents', 'r2')
_FLOAT_OPTIONS = ('lr', 'stop_distance', 'lambda_mask', 'r1')
_STR_OPTIONS = ('latent_space', 'mode', 'metric')
_NULLABLE_OPTIONS = ('stop_distance', 'r1', 'r2')
_ID_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')


class TaskError(ValueError):
    """A task file or task is invalid; the message names where and why."""


@dataclass
class DragTask:
    """A drag task ready to run: points, start latent or seed, mask.

    Attributes:
        task_id (str): Unique, file-name safe id.
        handles (list): Handles [[x, y], ...] in image pixels.
        targets (list): Targets [[x, y], ...], one per handle.
        seed (int, optional): Seed of the start latent.
        latent (Tensor, optional): Start W+ latent, (1, L, C) or (L, C),
            when the task names a ``latent_file``.
        mask (np.ndarray, optional): (H, W) bool, True = may change.
        truncation (float, optional): psi for ``seed``; None = the model's.
        options (dict): DragSession option overrides.
        latent_file (str, optional): Absolute path the latent came from.
        mask_file (str, optional): Absolute path the mask came from.
        sample_idx (int): Index in the dataset (-1 when not from one).
    """
    task_id: str
    handles: List[List[float]]
    targets: List[List[float]]
    seed: Optional[int] = None
    latent: Optional[Tensor] = None
    mask: Optional[np.ndarray] = None
    truncation: Optional[float] = None
    options: Dict[str, Any] = field(default_factory=dict)
    latent_file: Optional[str] = None
    mask_file: Optional[str] = None
    sample_idx: int = -1

    @classmethod
    def from_info(cls, info: Dict[str, Any]) -> 'DragTask':
        """Load the files of a parsed task (see :func:`parse_task`)."""
        where = f"task {info['id']!r}"
        latent = None
        if info.get('latent_file'):
            latent = read_latent(info['latent_file'], where)
        mask = None
        if info.get('mask_file'):
            mask = read_mask(info['mask_file'], where, info.get('image_size'))
        return cls(
            task_id=info['id'],
            handles=info['handles'],
            targets=info['targets'],
            seed=info.get('seed'),
            latent=latent,
            mask=mask,
            truncation=info.get('truncation'),
            options=dict(info.get('options') or {}),
            latent_file=info.get('latent_file'),
            mask_file=info.get('mask_file'),
            sample_idx=int(info.get('sample_idx', -1)))

    @classmethod
    def from_dict(cls,
                  raw: Dict[str, Any],
                  base_dir: str = '.',
                  image_size: Optional[int] = None,
                  index: int = 0) -> 'DragTask':
        """Parse, validate and load one task object (Python API)."""
        return cls.from_info(
            parse_task(raw, f'task #{index}', base_dir, image_size, index))


def read_task_file(path: str) -> List[Tuple[str, Any]]:
    """Read a JSON or JSON Lines task file.

    Args:
        path (str): ``.json`` or ``.jsonl`` file.

    Returns:
        list[tuple[str, Any]]: ``(where, raw task)`` pairs; ``where`` names
        the file and line or list index for error messages.

    Raises:
        TaskError: Missing file, bad JSON (with the line), no tasks.
    """
    if not path:
        raise TaskError('no task file given: pass --tasks FILE (JSON or JSON '
                        'Lines; make one with tools/make_tasks.py) or set '
                        'test_dataloader.dataset.ann_file')
    if not osp.isfile(path):
        raise TaskError(f'task file {path!r} does not exist (make one with '
                        'tools/make_tasks.py CONFIG --num N -o tasks.jsonl)')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    name = osp.basename(path)
    items: List[Tuple[str, Any]] = []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith('['):
            raise TaskError(f'{name} is not valid JSON: {e}') from None
        data = None  # JSON Lines
    if data is None:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((f'{name} line {lineno}', json.loads(line)))
            except json.JSONDecodeError as e:
                raise TaskError(
                    f'{name} line {lineno} is not valid JSON ({e}); JSON '
                    'Lines files hold one task object per line') from None
    elif isinstance(data, list):
        items = [(f'{name} [{i}]', t) for i, t in enumerate(data)]
    elif isinstance(data, dict) and 'tasks' in data:
        if not isinstance(data['tasks'], list):
            raise TaskError(f'{name}: "tasks" must be a list of task objects')
        items = [(f'{name} tasks[{i}]', t)
                 for i, t in enumerate(data['tasks'])]
    else:
        items = [(f'{name} line 1', data)]  # a single task
    if not items:
        raise TaskError(f'{name} holds no tasks')
    return items


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return (_is_number(v) and float(v).is_integer())


def _check_points(value: Any, key: str, where: str,
                  image_size: Optional[int]) -> List[List[float]]:
    if not isinstance(value, list) or not value:
        raise TaskError(f'{where}: "{key}" must be a non-empty list of [x, y] '
                        f'pixel pairs; got {value!r}')
    points = []
    for p in value:
        if not (isinstance(p, (list, tuple)) and len(p) == 2
                and all(_is_number(c) for c in p)):
            raise TaskError(f'{where}: "{key}" must be [[x, y], ...] with '
                            f'numbers; got the entry {p!r}')
        if not all(math.isfinite(c) for c in p):
            raise TaskError(f'{where}: "{key}" holds NaN or inf: {p!r}')
        points.append([float(p[0]), float(p[1])])
    if image_size:
        last = image_size - 1
        off = [p for p in points
               if not (0 <= p[0] <= last and 0 <= p[1] <= last)]
        if off:
            raise TaskError(
                f'{where}: "{key}" {off} lie outside the {image_size}x'
                f'{image_size} image; x (column) and y (row) must be in '
                f'[0, {last}]')
    return points


def _resolve(path: Any, key: str, where: str, base_dir: str) -> str:
    if not isinstance(path, str) or not path:
        raise TaskError(f'{where}: "{key}" must be a file name; got {path!r}')
    full = osp.abspath(osp.join(base_dir, osp.expanduser(path)))
    if not osp.isfile(full):
        raise TaskError(f'{where}: "{key}" file {full} does not exist '
                        '(relative names are resolved against the task '
                        "file's folder)")
    return full


def _check_options(raw: Dict[str, Any], where: str) -> Dict[str, Any]:
    options = {}
    for key in SESSION_OPTIONS:
        if key not in raw:
            continue
        v = raw[key]
        if v is None and key in _NULLABLE_OPTIONS:
            options[key] = None
            continue
        if key in _INT_OPTIONS and not _is_int(v):
            raise TaskError(f'{where}: "{key}" must be an integer; got {v!r}')
        if key in _FLOAT_OPTIONS and not (_is_number(v)
                                          and math.isfinite(v)):
            raise TaskError(f'{where}: "{key}" must be a number; got {v!r}')
        if key in _STR_OPTIONS and not isinstance(v, str):
            raise TaskError(f'{where}: "{key}" must be a string; got {v!r}')
        options[key] = int(v) if key in _INT_OPTIONS else v
    return options


def parse_task(raw: Any,
               where: str,
               base_dir: str,
               image_size: Optional[int] = None,
               index: int = 0) -> Dict[str, Any]:
    """Validate one raw task object into a plain dict (files not loaded).

    Args:
        raw (Any): The decoded JSON object.
        where (str): Where it came from (``'tasks.jsonl line 3'``).
        base_dir (str): Folder that relative file names are resolved in.
        image_size (int, optional): Image side H = W of the model; when
            given, points and masks are checked against it.
        index (int): Position in the file; names tasks without an ``id``.

    Returns:
        dict: ``id``, ``handles``, ``targets``, ``seed``, ``latent_file``,
        ``mask_file`` (absolute), ``truncation``, ``options``,
        ``image_size``.

    Raises:
        TaskError: Naming ``where``, the task id and the field.
    """
    if not isinstance(raw, dict):
        raise TaskError(f'{where}: a task must be a JSON object with "handles"'
                        f' and "targets"; got {type(raw).__name__}')
    task_id = raw.get('id', f'task-{index:05d}')
    if _is_int(task_id):
        task_id = str(int(task_id))
    if not isinstance(task_id, str) or not _ID_PATTERN.match(task_id):
        raise TaskError(
            f'{where}: "id" {task_id!r} must be a string of letters, digits, '
            "'.', '_' or '-' (it names the output files), at most 128 long")
    where = f'{where} (task {task_id!r})'
    unknown = sorted(set(raw) - set(TASK_FIELDS) - set(SESSION_OPTIONS))
    if unknown:
        raise TaskError(f'{where}: unknown field(s) {unknown}; known: '
                        f'{list(TASK_FIELDS) + list(SESSION_OPTIONS)}')
    has_seed = raw.get('seed') is not None
    has_latent = raw.get('latent_file') is not None
    if has_seed == has_latent:
        raise TaskError(
            f'{where}: give exactly one of "seed" (an integer) and '
            '"latent_file" (a W+ latent .pt/.pth/.npy) for the start image')
    seed = None
    if has_seed:
        seed = raw['seed']
        if not _is_int(seed) or not 0 <= seed < 2**63:
            raise TaskError(f'{where}: "seed" must be an integer in '
                            f'[0, 2**63); got {seed!r}')
        seed = int(seed)
    latent_file = None
    if has_latent:
        latent_file = _resolve(raw['latent_file'], 'latent_file', where,
                               base_dir)
        if not latent_file.lower().endswith(LATENT_SUFFIXES):
            raise TaskError(f'{where}: "latent_file" must be one of '
                            f'{LATENT_SUFFIXES}; got {latent_file}')
    for key in ('handles', 'targets'):
        if key not in raw:
            raise TaskError(f'{where}: missing "{key}" ([[x, y], ...])')
    handles = _check_points(raw['handles'], 'handles', where, image_size)
    targets = _check_points(raw['targets'], 'targets', where, image_size)
    if len(handles) != len(targets):
        raise TaskError(f'{where}: {len(handles)} handles but {len(targets)}'
                        ' targets; every handle needs exactly one target')
    mask_file = None
    if raw.get('mask_file') is not None:
        mask_file = _resolve(raw['mask_file'], 'mask_file', where, base_dir)
        _check_mask_header(mask_file, where, image_size)
    truncation = raw.get('truncation')
    if truncation is not None:
        if not (_is_number(truncation) and math.isfinite(truncation)):
            raise TaskError(f'{where}: "truncation" must be a number; got '
                            f'{truncation!r}')
        truncation = float(truncation)
    return dict(
        id=task_id,
        handles=handles,
        targets=targets,
        seed=seed,
        latent_file=latent_file,
        mask_file=mask_file,
        truncation=truncation,
        options=_check_options(raw, where),
        image_size=image_size)


def _check_mask_header(path: str, where: str,
                       image_size: Optional[int]) -> None:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError) as e:
        raise TaskError(
            f'{where}: "mask_file" {path} is not a readable image ({e}); use '
            'a PNG, white = may change') from None
    if image_size and (w, h) != (image_size, image_size):
        raise TaskError(f'{where}: "mask_file" {path} is {w}x{h}; it must be '
                        f'{image_size}x{image_size} like the image')


def read_mask(path: str,
              where: str = 'mask',
              image_size: Optional[int] = None) -> np.ndarray:
    """Read a mask image by the CLI's and demo's rule
    (:func:`mmagic_draggan.apis.drag_io.load_mask_file`: white / nonzero =
    may change, an all-black mask is refused).

    Returns:
        np.ndarray: (H, W) bool.

    Raises:
        TaskError: The reader's message, prefixed with the task.
    """
    from mmagic_draggan.apis.drag_io import load_mask_file
    try:
        return load_mask_file(path, image_size)
    except ValueError as e:
        raise TaskError(f'{where}: "mask_file" {e}') from None


def read_latent(path: str, where: str = 'latent') -> Tensor:
    """Read a W+ latent from ``.pt``/``.pth`` (a tensor, or a dict with one
    of ``latent``, ``w``, ``ws``) or ``.npy``.

    Returns:
        Tensor: float32 on the CPU, shape as stored ((1, L, C) or (L, C);
        the model checks it).
    """
    try:
        if path.lower().endswith('.npy'):
            value = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            value = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 (any reader error, reported)
        raise TaskError(f'{where}: cannot read latent_file {path}: {e}') \
            from None
    if isinstance(value, dict):
        found = [value[k] for k in ('latent', 'w', 'ws') if k in value]
        if not found:
            raise TaskError(f'{where}: latent_file {path} holds a dict without'
                            ' a "latent", "w" or "ws" tensor')
        value = found[0]
    if not isinstance(value, Tensor):
        raise TaskError(f'{where}: latent_file {path} must hold a tensor; got '
                        f'{type(value).__name__}')
    return value.detach().float()


__all__ = [
    'DragTask', 'TaskError', 'TASK_FIELDS', 'parse_task', 'read_task_file',
    'read_mask', 'read_latent'
]
