"""Names that a session or inversion file holds: the one rule that turns
them into files.

A session JSON, or an inversion file, names the config, the checkpoint and
the inversion it was made with. Such a file may come from anyone (a browser
upload, a shared bundle), and a Python config is *executed* when it is read
(``Config.fromfile``), so a name inside a file is never opened as a path:

* a **config** name is used only when it names a shipped config
  (``configs/draggan/NAME.py``, ``NAME.py`` or ``NAME``) or one of the
  configs the caller allows (the demo's model list, the running model);
* a **checkpoint** name is used only when it is a released checkpoint (its
  zoo name, or the zoo's own file name under ``checkpoints/``); the file is
  then looked up in the caller's checkpoint folder;
* an **inversion** name is used only when it is a plain file name, read
  from the bundle's own folder (beside the JSON).

Anything else is refused with :class:`UntrustedNameError`, whose message
says how to pass the file explicitly (a CONFIG argument, ``--checkpoint``,
``--inversion``), which always wins over the name in the file.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.utils.paths import config_dir
from .zoo import find_zoo_entry, list_configs, list_zoo

__all__ = ['UntrustedNameError', 'NamedInFile', 'shipped_config',
           'config_from_record', 'checkpoint_from_record',
           'inversion_from_record', 'resolve_named']


class UntrustedNameError(InvalidInputError):
    """A file named inside a session or inversion file is not followed."""


def _norm(name: str) -> str:
    return osp.normpath(str(name).strip().replace('\\', '/'))


def shipped_config(name: Optional[str]) -> Optional[str]:
    """The shipped config a name means, without touching the disk for it.

    Args:
        name (str): ``configs/draggan/NAME.py`` (as session records store
            it), ``NAME.py`` or ``NAME``.

    Returns:
        str | None: The config's absolute path, or None when ``name`` is not
        a shipped config's name.
    """
    if not name:
        return None
    norm = _norm(name)
    folder, base = osp.split(norm)
    if folder not in ('', 'configs/draggan', osp.normpath(str(config_dir()))):
        return None
    if not base.endswith('.py'):
        base += '.py'
    for entry in list_configs():
        if osp.basename(entry['config']) == base:
            return osp.join(str(config_dir()), base)
    return None


def config_from_record(name: str,
                       source: str,
                       allowed: Iterable[str] = ()) -> str:
    """The config file a session or inversion file names.

    Args:
        name (str): The name stored in the file.
        source (str): The file that holds it, for messages (a base name in
            the demo, so no server path is shown).
        allowed (iterable[str]): Further config files the caller trusts
            (e.g. the demo's own list); one matches when ``name`` equals its
            path or the path relative to the working directory.

    Returns:
        str: The config file to build from.

    Raises:
        UntrustedNameError: Neither shipped nor allowed.
    """
    found = shipped_config(name)
    if found is not None:
        return found
    norm = _norm(name)
    for path in allowed:
        if path and norm in (_norm(path), _norm(osp.relpath(path))):
            return str(path)
    raise UntrustedNameError(
        f'{source} names the config {name!r}, which is not a shipped config '
        '(configs/draggan/); a config named inside a file is never read, '
        'since reading a Python config runs it. Pass the config yourself '
        '(tools/drag.py CONFIG ..., or pick the model in the demo)')


def checkpoint_from_record(name: str, source: str) -> str:
    """The released checkpoint a session or inversion file names.

    Args:
        name (str): The name stored in the file: a zoo name, or a released
            checkpoint's file (``checkpoints/stylegan2_..._mmagic.pth``).
        source (str): The file that holds it, for messages.

    Returns:
        str: The zoo name (resolve it with
        :func:`~mmagic_draggan.checkpoints.resolver.resolve_weights`, which looks
        in the caller's checkpoint folder).

    Raises:
        UntrustedNameError: Not a released checkpoint.
    """
    entry = find_zoo_entry(name)
    if entry is None:
        base = osp.basename(_norm(name))
        entry = next((e for e in list_zoo() if e['filename'] == base), None)
    if entry is not None:
        return entry['name']
    raise UntrustedNameError(
        f'{source} names the checkpoint {name!r}, which is not a released '
        'checkpoint; a path named inside a file is not followed. Pass it '
        'yourself: --checkpoint FILE (or --random-weights)')


def inversion_from_record(name: str, source: str) -> str:
    """The inversion file a session names: a plain file name beside it.

    Args:
        name (str): The name stored in the session.
        source (str): The session JSON's path (its folder is the bundle).

    Returns:
        str: The file in the bundle's folder (not checked for existence).

    Raises:
        UntrustedNameError: A path rather than a plain name.
    """
    norm = _norm(name)
    if osp.basename(norm) == norm and norm not in ('.', '..'):
        return osp.join(osp.dirname(osp.abspath(source)), norm)
    raise UntrustedNameError(
        f'{source!r} names the inversion {name!r}, a path outside its '
        'bundle; a path named inside a file is not followed. Pass it '
        'yourself: --inversion FILE')


@dataclass(frozen=True)
class NamedInFile:
    """A config, checkpoint or inversion as a session file names it: kept
    as a name until it is used, so that a value the caller gives explicitly
    replaces it without the name ever being opened.

    Attributes:
        kind (str): ``'config'``, ``'checkpoint'`` or ``'inversion'``.
        name (str): As stored.
        source (str): The file that holds it.
    """
    kind: str
    name: str
    source: str

    def resolve(self, allowed: Iterable[str] = ()) -> str:
        """The file or zoo name it may stand for (see the module doc).

        Raises:
            UntrustedNameError: It is not one.
        """
        if self.kind == 'config':
            return config_from_record(self.name, repr(self.source), allowed)
        if self.kind == 'checkpoint':
            return checkpoint_from_record(self.name, repr(self.source))
        if self.kind == 'inversion':
            return inversion_from_record(self.name, self.source)
        raise InvalidInputError(f'unknown kind {self.kind!r}')


def resolve_named(value: Any) -> Any:
    """``value.resolve()`` for a :class:`NamedInFile`, else ``value``."""
    return value.resolve() if isinstance(value, NamedInFile) else value
