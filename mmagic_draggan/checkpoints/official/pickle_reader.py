"""Read official NVIDIA / DragGAN network pickles without running their code.

The official ``.pkl`` files (stylegan2-ada-pytorch / stylegan3 format, as
released with DragGAN) are plain pickles of a dict such as
``{'G': ..., 'D': ..., 'G_ema': ..., 'augment_pipe': ...,
'training_set_kwargs': ...}``. Every network in them is a
``torch_utils.persistence`` object: it is pickled as a call
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, where ``meta``
is a dict holding the Python source of the module that defines the class
(``module_src``), the class name (``class_name``) and the instance
``__dict__`` (``state``: ``_parameters``, ``_buffers``, ``_modules``,
``_init_kwargs`` ...). A normal ``pickle.load`` *executes* ``module_src``.

:class:`SafeUnpickler` never does. Its ``find_class`` is a whitelist:

* ``torch_utils.persistence._reconstruct_persistent_obj`` -> a function that
  wraps ``meta`` in an inert :class:`PersistentStub` (the source is dropped);
* ``dnnlib.EasyDict`` / ``dnnlib.util.EasyDict`` -> :class:`EasyDictStub`,
  a plain ``dict`` subclass;
* tensor rebuilding: ``torch._utils._rebuild_tensor``/``_v2``,
  ``_rebuild_parameter``/``_with_state``, ``torch.Size``, ``torch.device``,
  torch dtypes; ``torch.storage._load_from_bytes`` is replaced by a function
  that reads the storage with ``torch.load(weights_only=True)``;
* ``collections.OrderedDict``, ``builtins.set``/``frozenset``,
  ``_codecs.encode`` (bytes in protocol-2 pickles), and numpy arrays, dtypes
  and scalars (``np.sqrt`` gains are numpy floats).

Everything else (``os.system``, ``builtins.eval``, any other module) raises
:class:`OfficialPickleError` before anything is called. The old TensorFlow
pickles (``dnnlib.tflib.network.Network``, e.g. the car and cat config-f
networks) are refused with a message pointing at the MMagic-format download.
"""
import _compat_pickle
import codecs
import collections
import io
import pickle
from typing import Any, BinaryIO, Callable, Dict, Optional, Union

import numpy as np
import torch
from torch import Tensor

from ..reader import CheckpointError

PathOrFile = Union[str, BinaryIO]


class OfficialPickleError(CheckpointError):
    """An official pickle is unsafe, unsupported or not a StyleGAN2 pickle."""


class EasyDictStub(dict):
    """Inert stand-in for ``dnnlib.EasyDict``: a dict with attribute reads."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class PersistentStub:
    """Inert stand-in for a ``torch_utils.persistence`` object.

    Args:
        meta (dict): The pickled ``meta`` dict. Only ``class_name``,
            ``version`` and ``state`` are kept; ``module_src`` is discarded
            unread.
    """

    def __init__(self, meta: dict) -> None:
        if not isinstance(meta, dict):
            raise OfficialPickleError(
                'malformed persistent object: its meta is a '
                f'{type(meta).__name__}, not a dict')
        self.class_name = str(meta.get('class_name'))
        self.version = meta.get('version')
        state = meta.get('state')
        self.state = state if isinstance(state, dict) else {}

    @property
    def init_kwargs(self) -> dict:
        """The keyword arguments the object was built with (may be empty)."""
        kwargs = self.state.get('_init_kwargs')
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    def child(self, name: str) -> Optional['PersistentStub']:
        """The sub-module ``name`` (from ``_modules``), or None."""
        mod = (self.state.get('_modules') or {}).get(name)
        return mod if isinstance(mod, PersistentStub) else None

    def state_dict(self, prefix: str = '') -> Dict[str, Tensor]:
        """Rebuild the ``nn.Module.state_dict()`` of the object.

        Args:
            prefix (str): Prepended to every key. Defaults to ``''``.

        Returns:
            dict[str, Tensor]: Parameters and persistent buffers, by dotted
            name, recursively through ``_modules``.

        Raises:
            OfficialPickleError: A sub-module is not a persistent object.
        """
        out: Dict[str, Tensor] = {}
        skip = self.state.get('_non_persistent_buffers_set') or set()
        for group in ('_parameters', '_buffers'):
            for name, value in (self.state.get(group) or {}).items():
                if isinstance(value, Tensor) and name not in skip:
                    out[prefix + name] = value.detach()
        for name, mod in (self.state.get('_modules') or {}).items():
            if mod is None:
                continue
            if not isinstance(mod, PersistentStub):
                raise OfficialPickleError(
                    f'sub-module {prefix}{name} is a {type(mod).__name__}, '
                    'not a persistent network object')
            out.update(mod.state_dict(f'{prefix}{name}.'))
        return out

    def __repr__(self) -> str:
        return f'PersistentStub({self.class_name})'


def _reconstruct_stub(meta: dict) -> PersistentStub:
    return PersistentStub(meta)


def _storage_from_bytes(data: bytes) -> Any:
    if not isinstance(data, (bytes, bytearray)):
        raise OfficialPickleError('malformed tensor storage in the pickle')
    return torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)


TF_MESSAGE = (
    'this is an old TensorFlow StyleGAN2 pickle (dnnlib.tflib.network.Network,'
    ' e.g. the car/cat "config-f" networks); it is not supported (other '
    'weight names and flipped up-sampling kernels). Use the MMagic-format '
    'download instead: bash run.sh download_checkpoint StyleGAN2-car-official'
    ' (or StyleGAN2-cat-official).')

_NUMPY_NAMES = {
    ('multiarray', 'scalar'): np.core.multiarray.scalar,
    ('multiarray', '_reconstruct'): np.core.multiarray._reconstruct,
}


def _allowed(module: str, name: str) -> Optional[Callable]:
    """The whitelisted object for a pickle global, or None."""
    if module == 'torch_utils.persistence' and \
            name == '_reconstruct_persistent_obj':
        return _reconstruct_stub
    if module in ('dnnlib', 'dnnlib.util') and name == 'EasyDict':
        return EasyDictStub
    if module == 'torch._utils' and name in ('_rebuild_tensor',
                                             '_rebuild_tensor_v2',
                                             '_rebuild_parameter',
                                             '_rebuild_parameter_with_state'):
        return getattr(torch._utils, name)
    if module == 'torch.storage' and name == '_load_from_bytes':
        return _storage_from_bytes
    if module == 'torch' and name in ('Size', 'device'):
        return getattr(torch, name)
    if module == 'torch' and isinstance(
            getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)
    if module == 'collections' and name == 'OrderedDict':
        return collections.OrderedDict
    if module == 'builtins' and name in ('set', 'frozenset'):
        return {'set': set, 'frozenset': frozenset}[name]
    if module == '_codecs' and name == 'encode':
        return codecs.encode  # how protocol-2 pickles store bytes
    if module in ('numpy', 'numpy.core.multiarray', 'numpy._core.multiarray'):
        if name in ('ndarray', 'dtype'):
            return getattr(np, name)
        return _NUMPY_NAMES.get(('multiarray', name))
    return None


class SafeUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only whitelisted globals.

    See the module docstring for the whitelist. Persistent ids (used by
    ``torch.save``'s own format, not by official pickles) are refused too.
    """

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a global, or refuse it.

        Args:
            module (str): Module path named in the pickle.
            name (str): Attribute name named in the pickle.

        Returns:
            Any: The whitelisted stand-in or torch/numpy function.

        Raises:
            OfficialPickleError: The global is not whitelisted (nothing is
                imported or called), or it is a TensorFlow network.
        """
        # Python-2 names (protocol < 3), as the default find_class maps them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module.startswith('dnnlib.tflib'):
            raise OfficialPickleError(TF_MESSAGE)
        obj = _allowed(module, name)
        if obj is None:
            raise OfficialPickleError(
                f'the pickle references {module}.{name}, which is not on the '
                'whitelist of an official StyleGAN2/DragGAN network pickle; '
                'refusing it (nothing from the pickle was run).')
        return obj

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids (official pickles do not use them)."""
        raise OfficialPickleError(
            'the file uses pickle persistent ids (a torch.save checkpoint?); '
            'load .pth files with load_generator_checkpoint instead.')


def load_official_pickle(source: PathOrFile) -> Dict[str, Any]:
    """Unpickle an official network pickle into inert stand-ins.

    Args:
        source (str | BinaryIO): Path or binary file object of the ``.pkl``.

    Returns:
        dict: The top-level dict (e.g. ``G``, ``D``, ``G_ema`` as
        :class:`PersistentStub`; ``training_set_kwargs`` as
        :class:`EasyDictStub`).

    Raises:
        OfficialPickleError: Forbidden globals, a TensorFlow pickle, a
            ``torch.save`` zip file, a corrupt file, or a top level that is
            not a dict.
    """
    if isinstance(source, str):
        try:
            with open(source, 'rb') as f:
                return load_official_pickle(f)
        except FileNotFoundError as err:
            raise OfficialPickleError(f'{source} does not exist') from err
    head = source.read(2)
    source.seek(0)
    if head == b'PK':
        raise OfficialPickleError(
            'this is a torch.save zip checkpoint, not an official pickle; '
            'load it directly (load_generator_checkpoint).')
    try:
        data = SafeUnpickler(source).load()
    except OfficialPickleError:
        raise
    except Exception as err:  # any parse error of untrusted bytes
        raise OfficialPickleError(
            f'not a readable pickle ({type(err).__name__}: {err}); corrupt '
            'or truncated?') from err
    if not isinstance(data, dict):
        raise OfficialPickleError(
            f'the pickle holds a {type(data).__name__}, not the dict of '
            'networks (G, D, G_ema, ...) of an official StyleGAN2 pickle.')
    return data
