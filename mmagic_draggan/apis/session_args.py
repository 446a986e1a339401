"""What a session or points JSON asks for, split the way the APIs are: what
to build (:func:`~.inference.init_model` arguments) and what to run
(:func:`~.drag.drag` arguments).

``tools/drag.py --points-file`` re-runs a session and ``--resume``
continues one; both read the JSON once (:func:`read_session`), build the
model from :func:`model_kwargs_from_file` merged with the command line, and
drag with :func:`drag_kwargs_from_file` merged with it.

Names inside the file (config, checkpoint, inversion) stay
:class:`~mmagic_draggan.checkpoints.record_names.NamedInFile` values until
they are used: an explicit value replaces them unopened, and only shipped
configs, released checkpoints and files of the bundle are ever followed.
"""
import os
from typing import Any, Dict, Mapping, Union

from mmagic_draggan.checkpoints.record_names import NamedInFile
from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.fileio.session_file import SessionFile, read_session

__all__ = ['START_KEYS', 'model_kwargs_from_file', 'merge_model_kwargs',
           'drag_kwargs_from_file', 'merge_drag_kwargs', 'resume_kwargs']

SessionSource = Union[str, os.PathLike, SessionFile]
#: :func:`~.drag.drag` keywords that make the start image.
START_KEYS = ('start', 'seed', 'latent', 'inversion', 'truncation')


def _session(source: SessionSource) -> SessionFile:
    return source if isinstance(source, SessionFile) else \
        read_session(str(source))


def model_kwargs_from_file(source: SessionSource) -> Dict[str, Any]:
    """The :func:`~.inference.init_model` arguments a session names.

    Args:
        source (str | SessionFile): The JSON file, or it read.

    Returns:
        dict: ``config`` and ``checkpoint`` (as
        :class:`~mmagic_draggan.checkpoints.record_names.NamedInFile`) or
        ``random_weights=True``, and ``cfg_options``, where the file has
        them (a points file: none).
    """
    sf = _session(source)
    kw: Dict[str, Any] = {}
    if sf.config:
        kw['config'] = NamedInFile('config', sf.config, sf.path)
    if sf.random_weights:
        kw['random_weights'] = True
    elif sf.checkpoint:
        kw['checkpoint'] = NamedInFile('checkpoint', sf.checkpoint, sf.path)
    if sf.cfg_options:
        kw['cfg_options'] = dict(sf.cfg_options)
    return kw


def merge_model_kwargs(base: Mapping[str, Any],
                       overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """Overlay explicit :func:`~.inference.init_model` arguments on a
    file's: an explicit ``config`` replaces the file's; an explicit
    ``checkpoint`` or ``random_weights`` replaces both of the file's;
    ``cfg_options`` are merged key by key."""
    out = dict(base)
    if 'checkpoint' in overrides or 'random_weights' in overrides:
        out.pop('checkpoint', None)
        out.pop('random_weights', None)
    out.update(overrides)
    if base.get('cfg_options') and overrides.get('cfg_options'):
        out['cfg_options'] = {**base['cfg_options'],
                              **overrides['cfg_options']}
    return out


def drag_kwargs_from_file(source: SessionSource,
                          resume: bool = False) -> Dict[str, Any]:
    """The :func:`~.drag.drag` arguments a session or points JSON holds.

    A plain points file (``{"handles": ..., "targets": ...}``) gives only
    the points. A ``session.json`` also gives its mask, hyper-parameters
    and start: the ``latent_file`` when set, else the ``seed`` (and
    truncation), and its ``inversion_file`` (a name).

    Args:
        source (str | SessionFile): The JSON file, or it read.
        resume (bool): Continue instead of re-run: start from its
            ``final_latent_file`` and ``final_handles`` toward the same
            targets, counting steps on (``resume_info``).

    Returns:
        dict: Keyword arguments of :func:`~.drag.drag`.

    Raises:
        InvalidInputError: Unreadable or ill-formed file, or nothing to
            resume from.
    """
    sf = _session(source)
    kw: Dict[str, Any] = dict(sf.options)
    if sf.mask_file:
        kw['mask'] = sf.mask_file
    if sf.inversion_file:
        kw['inversion'] = NamedInFile('inversion', sf.inversion_file,
                                      sf.path)
    if resume:
        if not sf.final_latent_file:
            raise InvalidInputError(
                f'{sf.path!r} has no final_latent_file: only a session.json '
                'written with an output folder (tools/drag.py) can be resumed')
        if sf.final_handles is None:
            raise InvalidInputError(
                f'{sf.path!r} has no final_handles to resume from')
        kw.update(latent=sf.final_latent_file, handles=sf.final_handles,
                  targets=sf.targets, resume_info=sf.resume_info())
    else:
        kw.update(handles=sf.handles, targets=sf.targets)
        if sf.latent_file:
            kw['latent'] = sf.latent_file
        elif sf.seed is not None:
            kw['seed'] = sf.seed
            if sf.truncation is not None:
                kw['truncation'] = sf.truncation
    return kw


def merge_drag_kwargs(base: Mapping[str, Any],
                      overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """Overlay explicit :func:`~.drag.drag` arguments on a file's: an
    explicit start (``start``, ``seed``, ``latent`` or ``inversion``)
    replaces the file's whole start (truncation included); anything else
    replaces the file's value."""
    out = dict(base)
    if any(k in overrides for k in START_KEYS if k != 'truncation'):
        for k in START_KEYS:
            out.pop(k, None)
    out.update(overrides)
    return out


def resume_kwargs(source: SessionSource,
                  overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """The :func:`~.drag.drag` arguments that continue a session.

    Args:
        source (str | SessionFile): The session JSON (written with an output
            folder), or it read.
        overrides (Mapping): Explicit :func:`~.drag.drag` arguments
            (``max_steps``, ``out_dir``, options...). The start and the
            points are refused: to drag new points from the final latent,
            start a new drag from ``DIR/latent.pt``. ``inversion`` gives the
            photo's inversion of a session that names it by a path outside
            its bundle (such a path is never followed).

    Returns:
        dict: Keyword arguments of :func:`~.drag.drag`.

    Raises:
        InvalidInputError: A refused override, or nothing to resume from.
    """
    fixed = {'handles', 'targets', *START_KEYS} - {'inversion'}
    bad = sorted(fixed & set(overrides))
    if bad:
        raise InvalidInputError(
            f'resume continues from the session\'s final latent and points; '
            f'{bad} cannot be changed. To drag other points from its final '
            'latent, start a new drag with --latent DIR/latent.pt')
    overrides = dict(overrides)
    inversion = overrides.pop('inversion', None)
    sf = _session(source)
    kw = merge_drag_kwargs(drag_kwargs_from_file(sf, resume=True), overrides)
    if inversion is not None:
        if kw.get('inversion') is None:
            raise InvalidInputError(f'{sf.path!r} edits no photo: drop '
                                    '--inversion')
        # the photo's inversion given explicitly, for a session that names
        # it by a path (never followed); checked against the weights
        kw['inversion'] = inversion
    return kw
