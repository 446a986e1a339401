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

Names in a session are never followed as paths from outside its folder:
``latent_file``, ``final_latent_file`` and ``mask_file`` must be plain file
names in the JSON's own folder (the bundle), and ``config``, ``checkpoint``
and ``inversion_file`` are kept as the names they are; only
:mod:`mmagic_draggan.checkpoints.record_names` turns them into files, and only
into shipped configs, released checkpoints and files of the bundle. A JSON
larger than :data:`MAX_SESSION_BYTES` is refused before it is parsed.

Version 1 (written before the bundle writer existed) lacks ``id``,
``files`` in demo and batch bundles, ``start_step``/``run_steps`` and
``resumed_from`` in some writers; it is read the same way. A plain points
file (``{"handles": ..., "targets": ...}``) is read too.

:class:`SessionRecord` is the record as a typed value: a session makes one
(``DragSession.record()``), the bundle writer fills in its file names and
writes it, and :func:`read_session` reads one back (inside a
:class:`SessionFile`).
"""
import json
import os.path as osp
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterator, List, Optional

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.utils.files import check_file
from mmagic_draggan.structures.drag_options import DragOptions
from mmagic_draggan.structures.numbers import check_int
from mmagic_draggan.structures.points import check_point_pairs, check_points
from mmagic_draggan.structures.start_image import (check_seed,
                                                   check_truncation)

__all__ = ['FORMAT', 'VERSION', 'READABLE_VERSIONS', 'FILE_KEYS',
           'MAX_SESSION_BYTES', 'SessionRecord', 'ResumeInfo', 'SessionFile',
           'read_session', 'write_session']

FORMAT = 'mmagic-draggan/session'
VERSION = 2
READABLE_VERSIONS = (1, 2)
#: Record keys that name files (relative to the JSON's folder).
FILE_KEYS = ('latent_file', 'final_latent_file', 'mask_file')
#: Largest session JSON read (a 100000-step history needs about 8 MB).
MAX_SESSION_BYTES = 32 * 2**20

Points = List[List[float]]


@dataclass(eq=False)
class SessionRecord(Mapping):
    """The session record: what ``session.json`` holds, field by field in
    the schema's order (see the module doc for the meaning of each).

    It reads like the JSON object it is written as (``record['steps']``,
    ``dict(record)``, ``record == json.load(f)``); :meth:`to_dict` gives
    the object to write.
    """
    format: str = FORMAT
    version: int = VERSION
    id: Optional[str] = None
    config: Optional[str] = None
    checkpoint: Optional[str] = None
    random_weights: bool = False
    cfg_options: Optional[Dict[str, Any]] = None
    seed: Optional[int] = None
    inversion_file: Optional[str] = None
    latent_file: Optional[str] = None
    final_latent_file: Optional[str] = None
    mask_file: Optional[str] = None
    handles: Points = field(default_factory=list)
    targets: Points = field(default_factory=list)
    final_handles: Optional[Points] = None
    steps: int = 0
    start_step: int = 0
    run_steps: int = 0
    converged: bool = False
    stop_reason: Optional[str] = None
    mean_distance: float = 0.
    initial_mean_distance: float = 0.
    seconds: float = 0.
    run_seconds: Optional[float] = None
    resumed_from: Optional[str] = None
    hyper_parameters: Dict[str, Any] = field(default_factory=dict)
    history: List[Dict[str, Any]] = field(default_factory=list)
    files: Dict[str, str] = field(default_factory=dict)

    # the JSON object's view
    def __getitem__(self, key: str) -> Any:
        if key not in _RECORD_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_RECORD_KEYS)

    def __len__(self) -> int:
        return len(_RECORD_KEYS)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object, keys in the schema's order."""
        return {k: getattr(self, k) for k in _RECORD_KEYS}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'SessionRecord':
        """The record of a JSON object as it is (keys it lacks get their
        defaults, others are dropped); :func:`read_session` validates."""
        return cls(**{k: data[k] for k in _RECORD_KEYS if k in data})


_RECORD_KEYS = tuple(f.name for f in fields(SessionRecord))


@dataclass
class ResumeInfo:
    """What a resumed edit continues: the earlier session's counts and the
    start it began from (made from its ``session.json``).

    Attributes:
        session_file (str): The session JSON that is continued.
        steps (int): Steps already taken; this run's steps count on.
        seconds (float): Wall time already spent.
        history (list[dict]): The earlier per-step records.
        seed (int | None): Seed of the image the edit began from.
        truncation (float | None): psi that seed was rendered with.
    """
    session_file: str
    steps: int = 0
    seconds: float = 0.
    history: List[Dict[str, Any]] = field(default_factory=list)
    seed: Optional[int] = None
    truncation: Optional[float] = None


@dataclass
class SessionFile:
    """A validated session JSON (or points file).

    Attributes:
        path (str): The JSON file (absolute).
        record (SessionRecord): The record as stored (file names relative
            to the JSON's folder).
        options (dict): Drag options stored in ``hyper_parameters``
            (validated, see :class:`DragOptions`).
        truncation (float | None): psi of the seed.

    The record's fields read as attributes too (``handles``, ``targets``,
    ``final_handles``, ``seed``, ``config``, ``checkpoint``,
    ``inversion_file``, ``random_weights``, ``cfg_options``, ``steps``,
    ``seconds``, ``history``); ``config``, ``checkpoint`` and
    ``inversion_file`` are names, never opened here (see
    :mod:`mmagic_draggan.checkpoints.record_names`), while
    ``latent_file``, ``final_latent_file`` and ``mask_file`` are absolute
    paths in the JSON's folder (not checked for existence here).
    """
    path: str
    record: SessionRecord
    options: Dict[str, Any] = field(default_factory=dict)
    truncation: Optional[float] = None

    def _in_folder(self, name: Optional[str]) -> Optional[str]:
        return osp.join(osp.dirname(self.path), name) if name else None

    @property
    def latent_file(self) -> Optional[str]:
        return self._in_folder(self.record.latent_file)

    @property
    def final_latent_file(self) -> Optional[str]:
        return self._in_folder(self.record.final_latent_file)

    @property
    def mask_file(self) -> Optional[str]:
        return self._in_folder(self.record.mask_file)

    def resume_info(self) -> ResumeInfo:
        """What a drag that continues this session carries on."""
        return ResumeInfo(session_file=self.path, steps=self.steps,
                          seconds=self.seconds, history=self.history,
                          seed=self.seed, truncation=self.truncation)


def _record_attribute(key: str) -> property:
    return property(lambda self: getattr(self.record, key),
                    doc=f'The record\'s ``{key}``.')


# the record's fields, read through SessionFile as before
for _key in ('handles', 'targets', 'final_handles', 'seed', 'config',
             'checkpoint', 'inversion_file', 'random_weights', 'cfg_options',
             'steps', 'seconds', 'history'):
    setattr(SessionFile, _key, _record_attribute(_key))


def read_session(path: str) -> SessionFile:
    """Read and validate a session JSON (v1 or v2) or a plain points file.

    Raises:
        InvalidInputError: Missing or oversized file, bad JSON, an unknown
            format or version, missing / ill-formed fields, or a file name
            that leaves the JSON's folder, naming them.
    """
    path = str(path)
    check_file(path, 'points/session file', MAX_SESSION_BYTES,
               'a session file is far smaller')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInputError(f'{path!r} is not valid JSON: {e}') from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            f'{path!r} must hold a JSON object with "handles" '
            'and "targets"')
    if 'format' in data and data['format'] != FORMAT:
        raise InvalidInputError(
            f'{path!r} is a {data["format"]!r} file, not a '
            f'{FORMAT!r} session')
    if data.get('version', 1) not in READABLE_VERSIONS:
        raise InvalidInputError(
            f'{path!r} is session version {data.get("version")!r}; this '
            f'mmagic-draggan reads versions {list(READABLE_VERSIONS)} '
            '(update mmagic-draggan)')
    where = repr(path)
    for key in ('handles', 'targets'):
        if key not in data:
            raise InvalidInputError(
                f'{where} has no "{key}" list ([[x, y], ...])')
    try:
        handles, targets = check_point_pairs(data['handles'],
                                             data['targets'])
        final = None
        if data.get('final_handles') is not None:
            final = check_points(data['final_handles'], 'final_handles')
            if len(final) != len(targets):
                raise InvalidInputError(f'{len(final)} final_handles but '
                                        f'{len(targets)} targets')
    except ValueError as e:
        raise InvalidInputError(f'{where}: {e}') from None
    hp = data.get('hyper_parameters') or {}
    options = DragOptions.record_overrides(hp, where)
    for key in FILE_KEYS:
        if data.get(key):
            data[key] = _bundle_name(data[key], key, where)
    for key in ('config', 'checkpoint', 'inversion_file'):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InvalidInputError(f'{where}: "{key}" must be a string')
    try:
        seed = None if data.get('seed') is None else check_seed(
            data['seed'], '"seed"')
        truncation = None if hp.get('truncation') is None else \
            check_truncation(hp['truncation'], '"truncation"')
        steps = check_int(data.get('steps') or 0, '"steps"', 0)
    except ValueError as e:
        raise InvalidInputError(f'{where}: {e}') from None
    cfg_options = data.get('cfg_options')
    if cfg_options is not None and not isinstance(cfg_options, dict):
        raise InvalidInputError(f'{where}: "cfg_options" must be an object')
    data.setdefault('format', FORMAT)
    data.setdefault('version', 1)
    data.update(
        handles=handles, targets=targets, final_handles=final, seed=seed,
        random_weights=bool(data.get('random_weights', False)),
        cfg_options=dict(cfg_options) if cfg_options else None,
        steps=steps, seconds=float(data.get('seconds') or 0.),
        hyper_parameters=dict(hp),
        history=list(data.get('history') or []))
    return SessionFile(path=osp.abspath(path),
                       record=SessionRecord.from_dict(data),
                       options=options, truncation=truncation)


def _bundle_name(name: Any, key: str, where: str) -> str:
    """A file name of the bundle: a plain name in the JSON's folder."""
    name = str(name)
    if osp.isabs(name) or osp.basename(name) != name or \
            name in ('.', '..') or '\\' in name:
        raise InvalidInputError(
            f'{where}: "{key}" is {name!r}; a session names its files by '
            'plain file name in its own folder (e.g. "start_latent.pt"): '
            'put the file beside the JSON')
    return name


def write_session(record: SessionRecord, path: str) -> str:
    """Write a session record as indented JSON; returns ``path``."""
    data = record.to_dict() if isinstance(record, SessionRecord) else \
        dict(record)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
    return str(path)
