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

Any drag option (:data:`~mmagic_draggan.structures.OPTION_NAMES`) may be
given per task. Relative file names are resolved against the task file's
folder. Errors name the task file, the line (or list index), the task and
the field.
"""
import json
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Tuple

from mmagic_draggan.fileio.latent import LATENT_SUFFIXES, read_latent
from mmagic_draggan.fileio.mask import check_mask_file, read_mask
from mmagic_draggan.structures.drag_options import OPTION_NAMES, check_option
from mmagic_draggan.structures.drag_task import DragTask, TaskError
from mmagic_draggan.structures.numbers import is_int
from mmagic_draggan.structures.points import check_point_pairs
from mmagic_draggan.structures.start_image import StartImage

#: Task fields besides the drag options.
TASK_FIELDS = ('id', 'seed', 'latent_file', 'inversion_file', 'handles',
               'targets', 'mask_file', 'truncation')
#: The task fields of the start image, as messages name them.
START_FIELDS = dict(seed='"seed"', latent='"latent_file"',
                    inversion='"inversion_file"', truncation='"truncation"')
_ID_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')


def load_task(info: Dict[str, Any]) -> DragTask:
    """Load the files of a parsed task (see :func:`parse_task`).

    Raises:
        TaskError: A latent or mask file that cannot be read (the reader's
            message, naming the task).
    """
    where = f"task {info['id']!r}"
    try:
        latent = read_latent(info['latent_file']) \
            if info.get('latent_file') else None
        mask = read_mask(info['mask_file'], info.get('image_size')) \
            if info.get('mask_file') else None
    except ValueError as e:
        raise TaskError(f'{where}: {e}') from None
    # the start was checked by parse_task (StartImage.create)
    start = StartImage(seed=info.get('seed'),
                       truncation=info.get('truncation'), latent=latent,
                       inversion=info.get('inversion_file'))
    return DragTask(
        task_id=info['id'],
        handles=info['handles'],
        targets=info['targets'],
        start=start,
        mask=mask,
        options=dict(info.get('options') or {}),
        latent_file=info.get('latent_file'),
        mask_file=info.get('mask_file'),
        sample_idx=int(info.get('sample_idx', -1)))


def task_from_dict(raw: Dict[str, Any],
                   base_dir: str = '.',
                   image_size: Optional[int] = None,
                   index: int = 0) -> DragTask:
    """Parse, validate and load one task object (Python API)."""
    return load_task(
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
    for key in OPTION_NAMES:
        if key in raw:
            try:
                options[key] = check_option(key, raw[key])
            except ValueError as e:
                raise TaskError(f'{where}: "{key}": {e}') from None
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
    if is_int(task_id):
        task_id = str(int(task_id))
    if not isinstance(task_id, str) or not _ID_PATTERN.match(task_id):
        raise TaskError(
            f'{where}: "id" {task_id!r} must be a string of letters, digits, '
            "'.', '_' or '-' (it names the output files), at most 128 long")
    where = f'{where} (task {task_id!r})'
    unknown = sorted(set(raw) - set(TASK_FIELDS) - set(OPTION_NAMES))
    if unknown:
        raise TaskError(f'{where}: unknown field(s) {unknown}; known: '
                        f'{list(TASK_FIELDS) + list(OPTION_NAMES)}')
    try:
        start = StartImage.create(
            seed=raw.get('seed'), latent=raw.get('latent_file'),
            inversion=raw.get('inversion_file'),
            truncation=raw.get('truncation'), default_seed=None,
            names=START_FIELDS, flags=False)
    except ValueError as e:
        raise TaskError(f'{where}: {e}') from None
    inversion_file = None
    if start.inversion is not None:
        inversion_file = _resolve(raw['inversion_file'], 'inversion_file',
                                  where, base_dir)
    latent_file = None
    if start.latent is not None:
        latent_file = _resolve(raw['latent_file'], 'latent_file', where,
                               base_dir)
        if not latent_file.lower().endswith(LATENT_SUFFIXES):
            raise TaskError(f'{where}: "latent_file" must be one of '
                            f'{LATENT_SUFFIXES}; got {latent_file}')
    for key in ('handles', 'targets'):
        if key not in raw:
            raise TaskError(f'{where}: missing "{key}" ([[x, y], ...])')
    try:
        handles, targets = check_point_pairs(raw['handles'], raw['targets'],
                                             image_size, allow_empty=False)
    except ValueError as e:
        raise TaskError(f'{where}: {e}') from None
    mask_file = None
    if raw.get('mask_file') is not None:
        mask_file = _resolve(raw['mask_file'], 'mask_file', where, base_dir)
        try:
            check_mask_file(mask_file, image_size)
        except ValueError as e:
            raise TaskError(f'{where}: "mask_file": {e}') from None
    return dict(
        id=task_id,
        handles=handles,
        targets=targets,
        seed=start.seed,
        latent_file=latent_file,
        inversion_file=inversion_file,
        mask_file=mask_file,
        truncation=start.truncation,
        options=_check_options(raw, where),
        image_size=image_size)


__all__ = [
    'DragTask', 'TaskError', 'TASK_FIELDS', 'parse_task', 'read_task_file',
    'load_task', 'task_from_dict'
]
