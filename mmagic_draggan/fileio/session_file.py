"""The session JSON: one schema, one reader, shared by the CLI, the demo and
batch runs.

Schema ``format: mmagic-draggan/session``, ``version: 2``. Points are
``[[x, y], ...]`` image pixels; file names are relative to the JSON's folder
(a bundle, see :mod:`mmagic_draggan.fileio.bundle`)::

    {
      "format": "mmagic-draggan/session", "version": 2,
      "id": "face-1" | null,                  # batch task id
      "config": "configs/draggan/....py", "checkpoint": "path" | null,
      "random_weights": false, "cfg_options": {...} | null,
      "seed": 42 | null,                      # start: a seed ...
      "latent_file": "start_latent.pt" | null,  # ... or a start latent
      "inversion_file": "path" | null,        # a photo's inversion
                                              # (tuned weights + pivot)
      "final_latent_file": "latent.pt" | null,
      "mask_file": "mask.png" | null,
      "handles": [[x, y], ...],               # as set (before tracking)
      "targets": [[x, y], ...],
      "final_handles": [[x, y], ...],
      "steps": 57, "start_step": 0, "run_steps": 57,
      "converged": true, "stop_reason": "converged",
      "mean_distance": 1.4, "initial_mean_distance": 40.2,
      "seconds": 12.3, "run_seconds": 12.3,
      "resumed_from": "path" | null,
      "hyper_parameters": {DragOptions (auto values resolved), "truncation",
                           "feat_idx", "image_size"},
      "history": [{"step": 1, "mean_distance": ..., "loss": ...}, ...],
      "files": {"start": "start.png", "result": "result.png", ...}
    }

Version 1 (written before the bundle writer existed) lacks ``id``,
``files`` in demo and batch bundles, ``start_step``/``run_steps`` and
``resumed_from`` in some writers; it is read the same way. A plain points
file (``{"handles": ..., "targets": ...}``) is read too.
"""
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from mmagic_draggan.structures.drag_options import DragOptions
from mmagic_draggan.structures.points import check_point_pairs, check_points
from mmagic_draggan.structures.start_image import (check_seed,
                                                   check_truncation)

__all__ = ['FORMAT', 'VERSION', 'READABLE_VERSIONS', 'FILE_KEYS',
           'SessionFile', 'read_session', 'write_session']

FORMAT = 'mmagic-draggan/session'
VERSION = 2
READABLE_VERSIONS = (1, 2)
#: Record keys that name files (relative to the JSON's folder).
FILE_KEYS = ('latent_file', 'final_latent_file', 'mask_file')


@dataclass
class SessionFile:
    """A validated session JSON (or points file).

    Attributes:
        path (str): The JSON file.
        record (dict): The raw record, file names made absolute.
        handles / targets (list): ``[[x, y], ...]`` as set.
        final_handles (list | None): Tracked handles at the end.
        options (dict): Drag options stored in ``hyper_parameters``
            (validated, see :class:`DragOptions`).
        truncation (float | None): psi of the seed.
        seed (int | None): Seed of the start latent.
        latent_file / final_latent_file / mask_file (str | None): Absolute
            paths (not checked for existence here).
        config / checkpoint (str | None): As stored.
        inversion_file (str | None): The inversion the edit drags (as
            stored: relative to the repository root or absolute).
        random_weights (bool): Made with seeded random weights.
        cfg_options (dict | None): Config overrides used.
        steps (int): Steps taken. seconds (float): Wall time spent.
        history (list[dict]): Per-step records.
    """
    path: str
    record: Dict[str, Any]
    handles: List[List[float]]
    targets: List[List[float]]
    final_handles: Optional[List[List[float]]] = None
    options: Dict[str, Any] = field(default_factory=dict)
    truncation: Optional[float] = None
    seed: Optional[int] = None
    latent_file: Optional[str] = None
    final_latent_file: Optional[str] = None
    mask_file: Optional[str] = None
    config: Optional[str] = None
    checkpoint: Optional[str] = None
    inversion_file: Optional[str] = None
    random_weights: bool = False
    cfg_options: Optional[Dict[str, Any]] = None
    steps: int = 0
    seconds: float = 0.
    history: List[Dict[str, Any]] = field(default_factory=list)


def read_session(path: str) -> SessionFile:
    """Read and validate a session JSON (v1 or v2) or a plain points file.

    Raises:
        ValueError: Missing file, bad JSON, an unknown format or version, or
            missing / ill-formed fields, naming them.
    """
    path = str(path)
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ValueError(f'points/session file {path!r} does not exist')
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f'{path!r} is not valid JSON: {e}') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path!r} must hold a JSON object with "handles" '
                         'and "targets"')
    if 'format' in data and data['format'] != FORMAT:
        raise ValueError(f'{path!r} is a {data["format"]!r} file, not a '
                         f'{FORMAT!r} session')
    if data.get('version', 1) not in READABLE_VERSIONS:
        raise ValueError(
            f'{path!r} is session version {data.get("version")!r}; this '
            f'mmagic-draggan reads versions {list(READABLE_VERSIONS)} '
            '(update mmagic-draggan)')
    where = repr(path)
    for key in ('handles', 'targets'):
        if key not in data:
            raise ValueError(f'{where} has no "{key}" list ([[x, y], ...])')
    try:
        handles, targets = check_point_pairs(data['handles'],
                                             data['targets'])
        final = None
        if data.get('final_handles') is not None:
            final = check_points(data['final_handles'], 'final_handles')
            if len(final) != len(targets):
                raise ValueError(f'{len(final)} final_handles but '
                                 f'{len(targets)} targets')
    except ValueError as e:
        raise ValueError(f'{where}: {e}') from None
    hp = data.get('hyper_parameters') or {}
    options = DragOptions.record_overrides(hp, where)
    folder = osp.dirname(osp.abspath(path))
    for key in FILE_KEYS:
        if data.get(key):
            data[key] = osp.join(folder, str(data[key]))
    try:
        seed = None if data.get('seed') is None else check_seed(
            data['seed'], '"seed"')
        truncation = None if hp.get('truncation') is None else \
            check_truncation(hp['truncation'], '"truncation"')
    except ValueError as e:
        raise ValueError(f'{where}: {e}') from None
    cfg_options = data.get('cfg_options')
    if cfg_options is not None and not isinstance(cfg_options, dict):
        raise ValueError(f'{where}: "cfg_options" must be an object')
    return SessionFile(
        path=osp.abspath(path),
        record=data,
        handles=handles,
        targets=targets,
        final_handles=final,
        options=options,
        truncation=truncation,
        seed=seed,
        latent_file=data.get('latent_file'),
        final_latent_file=data.get('final_latent_file'),
        mask_file=data.get('mask_file'),
        config=data.get('config'),
        checkpoint=data.get('checkpoint'),
        inversion_file=data.get('inversion_file'),
        random_weights=bool(data.get('random_weights', False)),
        cfg_options=dict(cfg_options) if cfg_options else None,
        steps=int(data.get('steps') or 0),
        seconds=float(data.get('seconds') or 0.),
        history=list(data.get('history') or []))


def write_session(record: Dict[str, Any], path: str) -> str:
    """Write a session record as indented JSON; returns ``path``."""
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=2)
    return str(path)
