"""resolve_weights: the one decision of which weights a checkpoint argument
means (path | zoo name | none/random | the config's own)."""
import os
from pathlib import Path

import pytest

from mmagic_draggan.checkpoints import resolver as weights_mod
from mmagic_draggan.checkpoints.loader import CheckpointError
from mmagic_draggan.checkpoints.resolver import resolve_weights

TINY_PATH = str(Path(__file__).resolve().parents[2] /
                'configs/draggan/draggan_stylegan2_tiny-64x64.py')
FACE_FILE = 'stylegan2_face_512_pytorch_mmagic.pth'


def _cfg(path, name='StyleGAN2-FFHQ', out_size=512):
    return dict(
        checkpoint=dict(name=name, path=path),
        model=dict(generator=dict(out_size=out_size)))


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """Resolve relative checkpoint paths against an empty fake repo root."""
    monkeypatch.setattr(weights_mod, 'checkout_root', lambda: tmp_path)
    monkeypatch.setattr(
        weights_mod, 'find_repo_path', lambda p: p if os.path.isabs(p) or
        os.path.exists(p) else str(tmp_path / p))
    return tmp_path


def test_tiny_config_names_none_and_require_says_what_to_do():
    spec = resolve_weights(None, TINY_PATH)
    assert spec.source == 'none' and spec.path is None and not spec.random
    with pytest.raises(CheckpointError, match='--random-weights'):
        spec.require()


def test_default_missing_names_command(fake_root):
    cfg = _cfg('checkpoints/' + FACE_FILE)
    spec = resolve_weights(None, cfg)
    assert spec.source == 'config' and not spec.exists
    assert spec.needs_download
    with pytest.raises(CheckpointError) as err:
        spec.require()
    assert 'bash run.sh download_checkpoint StyleGAN2-FFHQ' in str(err.value)
    target = fake_root / 'checkpoints' / FACE_FILE
    target.parent.mkdir()
    target.write_bytes(b'x')
    assert resolve_weights(None, cfg).require() == str(target)


def test_zoo_name_case_insensitive(fake_root):
    cfg = _cfg(None, None)
    with pytest.raises(CheckpointError,
                       match='download_checkpoint StyleGAN2-FFHQ'):
        resolve_weights('stylegan2-ffhq', cfg).require()
    target = fake_root / 'checkpoints' / FACE_FILE
    target.parent.mkdir()
    target.write_bytes(b'x')
    spec = resolve_weights('STYLEGAN2-ffhq', cfg)
    assert spec.source == 'zoo' and spec.name == 'StyleGAN2-FFHQ'
    assert spec.require() == str(target)


def test_zoo_name_of_other_resolution(fake_root):
    with pytest.raises(CheckpointError) as err:
        resolve_weights('StyleGAN2-lsun-horses', _cfg(None, None))
    assert '256x256' in str(err.value)
    assert 'draggan_stylegan2_horse-256x256.py' in str(err.value)


def test_path_unknown_name_and_missing_path(tmp_path):
    f = tmp_path / 'mine.pth'
    f.write_bytes(b'x')
    spec = resolve_weights(str(f), TINY_PATH)
    assert spec.source == 'path' and spec.require() == str(f)
    with pytest.raises(CheckpointError, match='StyleGAN2-Lions-internet'):
        resolve_weights('no-such-model', TINY_PATH)
    with pytest.raises(CheckpointError, match='does not exist'):
        resolve_weights(str(tmp_path / 'gone.pth'), TINY_PATH)


@pytest.mark.parametrize('word', ['none', 'random', 'NONE'])
def test_random_words(word):
    spec = resolve_weights(word, TINY_PATH)
    assert spec.random and spec.require() is None
    assert 'random weights' in spec.describe()


def test_random_and_checkpoint_conflict(tmp_path):
    f = tmp_path / 'mine.pth'
    f.write_bytes(b'x')
    with pytest.raises(CheckpointError, match='give one of them'):
        resolve_weights(str(f), TINY_PATH, random_weights=True)
    assert resolve_weights(None, TINY_PATH, random_weights=True).random


def test_checkpoint_dir_lookup_and_command(tmp_path):
    face = str(Path(TINY_PATH).with_name(
        'draggan_stylegan2_face-512x512.py'))
    spec = resolve_weights(None, face, checkpoint_dir=str(tmp_path))
    assert spec.path == str(tmp_path / FACE_FILE) and not spec.exists
    assert spec.command == ('python tools/download_checkpoint.py '
                            f'StyleGAN2-FFHQ --dir {tmp_path}')
    assert spec.command in spec.describe()
    (tmp_path / FACE_FILE).write_bytes(b'x')
    spec = resolve_weights('StyleGAN2-FFHQ', face,
                           checkpoint_dir=str(tmp_path))
    assert spec.exists and spec.require() == str(tmp_path / FACE_FILE)
