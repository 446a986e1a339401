"""Read a checkpoint file safely and find the generator's state dict in it.

Files are always read with ``torch.load(..., weights_only=True)``: a pickle
that names any global outside PyTorch's tensor allowlist (plus numpy arrays and
scalars, which some MMEngine metadata holds) is refused, never executed.

Layouts understood (tried in this order, so the EMA generator wins):

===========================  =============================================
container                    generator key prefix
===========================  =============================================
``ckpt['state_dict']``       ``generator_ema.module.`` (MMagic BaseGAN EMA)
``ckpt['state_dict']``       ``generator_ema.``
``ckpt['ema_state_dict']``   ``module.generator.`` / ``module.`` (EMAHook)
``ckpt['state_dict']``       ``generator.`` (raw generator, DragGAN model)
``ckpt['state_dict']``       bare generator keys
the top-level dict           the same prefixes, in the same order
===========================  =============================================
"""
import pickle
import re
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from torch import Tensor

from mmagic_draggan.errors import DragGANError
from mmagic_draggan.utils.torch_file import TensorFileError, load_tensor_file
from .download import looks_like_html
from .zoo import missing_checkpoint_message


class CheckpointError(DragGANError, RuntimeError):
    """A checkpoint is missing, unreadable, unsafe or does not fit a model."""


#: Keys every MMagic StyleGAN2 generator has; used to recognise a layout.
SIGNATURE_KEYS = ('constant_input.input', 'conv1.conv.weight_orig')

#: (container, prefix, is_ema) in order of preference.
CANDIDATES: Tuple[Tuple[Optional[str], str, bool], ...] = (
    ('state_dict', 'generator_ema.module.', True),
    ('state_dict', 'generator_ema.', True),
    ('ema_state_dict', 'module.generator.', True),
    ('ema_state_dict', 'module.', True),
    ('state_dict', 'generator.', False),
    ('state_dict', '', False),
    (None, 'generator_ema.module.', True),
    (None, 'generator_ema.', True),
    (None, 'generator.', False),
    (None, '', False),
)

#: Prefixes of whole-model keys that are not a bare generator key.
_MODEL_PREFIXES = ('generator.', 'generator_ema.', 'discriminator.',
                   'data_preprocessor.', 'module.')

#: numpy arrays and scalars in metadata (never object arrays: no 'O' dtype).
_NUMPY_GLOBALS = [
    np.core.multiarray._reconstruct, np.core.multiarray.scalar, np.ndarray,
    np.dtype
] + sorted({type(np.dtype(code))
            for code in '?bhilqpBHILQPefdgFDGSU'},
           key=str)


def _sniff(path: Path) -> bytes:
    with open(path, 'rb') as f:
        return f.read(4096)


def _check_header(path: Path, head: bytes) -> None:
    if not head:
        raise CheckpointError(f'{path} is empty (an interrupted download?); '
                              'delete it and download it again.')
    if looks_like_html(head):
        raise CheckpointError(
            f'{path} is an HTML page, not a checkpoint (a download that '
            'saved an error or login page); delete it and download it again '
            'with tools/download_checkpoint.py, or try --base-url with a '
            'mirror.')
    if head[:1] == b'\x80' and (b'torch_utils' in head or b'dnnlib' in head):
        raise CheckpointError(
            f'{path} is an official NVIDIA/DragGAN pickle (.pkl), not a '
            'MMagic checkpoint. Convert it first (no code in it is run):\n'
            f'    python tools/convert_official_pkl.py {path} OUT.pth')


_BOILERPLATE = ('Weights only load failed', 'Check the documentation',
                'Please file an issue', '(1)', '(2)', 'WeightsUnpickler error')


def _corrupt(file: Path, err: Exception) -> CheckpointError:
    lines = [
        ln.strip() for ln in str(err).splitlines()
        if ln.strip() and not ln.strip().startswith(_BOILERPLATE)
    ]
    detail = lines[-1] if lines else ''
    return CheckpointError(
        f'{file} is corrupt, truncated or not a torch.save file '
        f'({type(err).__name__}: {detail}); if it is a download, delete it '
        'and download it again.')


def _unsafe_global(err: Exception) -> Optional[str]:
    text = str(err)
    found = (
        re.search(r'GLOBAL ([\w.]+)', text)
        or re.search(r"but got <class '([\w.]+)'>", text))
    return found.group(1) if found else None


def read_checkpoint(path: str) -> dict:
    """Load a checkpoint with ``weights_only=True``; check it is a dict.

    Args:
        path (str): Path of a ``.pth`` file written by ``torch.save``.

    Returns:
        dict: The loaded object (tensors on the CPU).

    Raises:
        CheckpointError: The file is missing, empty, an HTML page, an official
            pickle, corrupt or truncated, needs unsafe unpickling, or is not
            a dict.
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(missing_checkpoint_message(str(file)))
    head = _sniff(file)
    _check_header(file, head)
    try:
        # memory-mapped where the file allows it (torch.save's zip format):
        # only the tensors used (the generator's, not the discriminator's
        # or the optimiser's) are ever read; compressed zip entries are
        # refused before anything is unpacked
        ckpt = load_tensor_file(file, None, what=str(file), mmap=True,
                                safe_globals=_NUMPY_GLOBALS)
    except TensorFileError as err:
        if err.reason == 'damaged':
            raise _corrupt(file, err) from err
        raise CheckpointError(f'{err}; if it is a download, delete it and '
                              'download it again.') from err
    except pickle.UnpicklingError as err:
        name = _unsafe_global(err)
        if name is None:
            raise _corrupt(file, err) from err
        raise CheckpointError(
            f'{file} needs unsafe unpickling (it references {name}): it '
            'holds Python objects, not only tensors, and loading it could '
            'run code, so it is refused. Re-save only its weights from a '
            'trusted environment: '
            "torch.save({'state_dict': ckpt['state_dict']}, 'clean.pth')."
        ) from err
    except (RuntimeError, EOFError, ValueError, OSError,
            zipfile.BadZipFile) as err:
        raise _corrupt(file, err) from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f'{file} holds a {type(ckpt).__name__}, not a dict of tensors '
            '(a state dict or a checkpoint with a "state_dict" entry).')
    return ckpt


def _tensors_with_prefix(container: Mapping, prefix: str) -> Dict[str, Tensor]:
    out = {}
    for key, value in container.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            continue
        if prefix:
            if key.startswith(prefix):
                out[key[len(prefix):]] = value
        elif not key.startswith(_MODEL_PREFIXES):
            out[key] = value
    return out


def find_generator_state(ckpt: Mapping) -> Tuple[Dict[str, Tensor], dict]:
    """Pick the generator's state dict out of a checkpoint, EMA first.

    Args:
        ckpt (Mapping): A loaded checkpoint (see the module docstring).

    Returns:
        tuple: ``(state_dict, layout)``: the bare generator keys and a dict
        with ``container`` (None for the top level), ``prefix``, ``ema``
        (bool) and ``other_keys`` (tensors in the container outside the
        prefix, e.g. the discriminator's).

    Raises:
        CheckpointError: No known layout holds generator keys.
    """
    for container_name, prefix, is_ema in CANDIDATES:
        container = ckpt if container_name is None else ckpt.get(
            container_name)
        if not isinstance(container, Mapping):
            continue
        sub = _tensors_with_prefix(container, prefix)
        if any(k in sub for k in SIGNATURE_KEYS):
            total = sum(isinstance(v, Tensor) for v in container.values())
            return sub, dict(
                container=container_name,
                prefix=prefix,
                ema=is_ema,
                other_keys=total - len(sub))
    sample = _key_sample(ckpt)
    raise CheckpointError(
        'found no StyleGAN2 generator in the checkpoint (looked for keys '
        "like 'constant_input.input' under 'generator_ema.module.', "
        "'generator_ema.', 'generator.' or bare, at the top level or in "
        f"'state_dict'); its keys start with: {sample}")


def _key_sample(ckpt: Mapping, limit: int = 8) -> List[str]:
    keys = list(ckpt)
    inner = ckpt.get('state_dict')
    if isinstance(inner, Mapping):
        keys = [f'state_dict.{k}' for k in inner]
    return [str(k) for k in keys[:limit]]
