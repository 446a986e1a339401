"""load_generator_checkpoint on tiny checkpoints written here in every
MMagic layout, plus the files that must be refused (the resolver of names
and paths is tested in test_weights.py)."""
import os
import pickle
from pathlib import Path

import pytest
import torch
from ckpt_helpers import assert_same_state, make_generator, state

from mmagic_draggan.checkpoints.loader import (W_AVG_SAMPLES, W_AVG_SEED,
                                               CheckpointError, compute_mean_w,
                                               load_generator_checkpoint)
from mmagic_draggan.checkpoints.arch import (infer_arch, suggest_configs)

PREFIXES = ['', 'generator.', 'generator_ema.', 'generator_ema.module.']
#: Most tests use an 8x8 variant of the tiny generator (a third of its
#: tensors; same keys apart from the number of blocks) to stay fast.
SMALL = dict(out_size=8)


def small(seed, **overrides):
    return make_generator(seed, **SMALL, **overrides)


TINY_CFG = 'configs/draggan/draggan_stylegan2_tiny-64x64.py'
TINY_PATH = str(Path(__file__).resolve().parents[2] / TINY_CFG)


@pytest.fixture(scope='module')
def source():
    """The generator whose weights the checkpoints hold (seed 1)."""
    return state(small(1))


@pytest.fixture(scope='module')
def other():
    """A different generator (seed 2): the non-EMA one in whole-GAN files."""
    return state(small(2))


def _save(path, sd, prefix='', wrap=False, extra=None):
    flat = {prefix + k: v for k, v in sd.items()}
    flat.update(extra or {})
    torch.save(
        dict(state_dict=flat, meta=dict(epoch=3)) if wrap else flat, str(path))
    return str(path)


@pytest.mark.parametrize('wrap', [False, True], ids=['flat', 'state_dict'])
@pytest.mark.parametrize('prefix', PREFIXES, ids=lambda p: p or 'bare')
def test_every_layout_loads_exactly(tmp_path, source, prefix, wrap):
    path = _save(tmp_path / 'g.pth', source, prefix, wrap)
    target = small(0)
    info = load_generator_checkpoint(target, path)
    assert_same_state(state(target), source)
    assert info['prefix'] == prefix
    assert info['container'] == ('state_dict' if wrap else None)
    assert info['ema'] == prefix.startswith('generator_ema')
    assert info['noise'] == 'checkpoint' and info['w_avg'] == 'checkpoint'


def test_legacy_format_and_mapped_files(tmp_path, source, other):
    """Zip-format files are memory-mapped (only the tensors used are read);
    the model owns copies, so rewriting the file afterwards changes nothing.
    Files in torch's legacy (non-zip) format load too."""
    path = _save(tmp_path / 'g.pth', source, 'generator_ema.', wrap=True)
    target = small(0)
    load_generator_checkpoint(target, path)
    _save(tmp_path / 'g.pth', other, 'generator_ema.', wrap=True)  # in place
    assert_same_state(state(target), source)
    legacy = str(tmp_path / 'legacy.pth')
    torch.save({'generator.' + k: v for k, v in source.items()}, legacy,
               _use_new_zipfile_serialization=False)
    target = small(0)
    load_generator_checkpoint(target, legacy)
    assert_same_state(state(target), source)


@pytest.mark.parametrize('ema_prefix',
                         ['generator_ema.module.', 'generator_ema.'])
@pytest.mark.parametrize('wrap', [False, True])
def test_whole_gan_prefers_ema(tmp_path, source, other, ema_prefix, wrap):
    extra = {'generator.' + k: v for k, v in other.items()}
    extra['discriminator.convs.0.weight'] = torch.randn(8, 3, 3, 3)
    extra['discriminator.fc.bias'] = torch.randn(1)
    if ema_prefix.endswith('module.'):
        extra['generator_ema.steps'] = torch.tensor([7])
    path = _save(tmp_path / 'gan.pth', source, ema_prefix, wrap, extra)
    target = small(0)
    info = load_generator_checkpoint(target, path)
    assert_same_state(state(target), source)  # EMA, not `other`
    assert info['ema'] and info['prefix'] == ema_prefix
    assert info['other_keys'] >= len(other) + 2


def test_mmengine_ema_state_dict(tmp_path, source, other):
    ckpt = dict(
        state_dict={
            'generator.' + k: v
            for k, v in other.items()
        },
        ema_state_dict={
            'module.generator.' + k: v
            for k, v in source.items()
        })
    torch.save(ckpt, str(tmp_path / 'ema.pth'))
    target = small(0)
    info = load_generator_checkpoint(target, str(tmp_path / 'ema.pth'))
    assert_same_state(state(target), source)
    assert info['container'] == 'ema_state_dict' and info['ema']


def test_missing_noise_keeps_generator_buffers(tmp_path, source):
    sd = {
        k: v
        for k, v in source.items() if not k.startswith('injected_noise_')
    }
    path = _save(tmp_path / 'nonoise.pth', sd, 'generator_ema.', True)
    target = small(0)
    before = state(target)
    with pytest.warns(UserWarning, match='noise'):
        info = load_generator_checkpoint(target, path)
    after = state(target)
    noise = [k for k in before if k.startswith('injected_noise_')]
    assert info['noise'] == 'generator'
    assert info['noise_missing'] == sorted(noise)
    for k in noise:
        assert torch.equal(after[k], before[k])
    assert_same_state(after, source, skip=noise)


def test_missing_w_avg_is_computed_reproducibly(tmp_path, source):
    sd = {k: v for k, v in source.items() if k != 'w_avg'}
    path = _save(tmp_path / 'nowavg.pth', sd, 'generator_ema.module.', True)
    a, b = small(0), small(5)
    rng_before = torch.get_rng_state()
    with pytest.warns(UserWarning, match='w_avg'):
        info = load_generator_checkpoint(a, path)
    with pytest.warns(UserWarning, match='w_avg'):
        load_generator_checkpoint(b, path)
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG
    assert info['w_avg'] == 'computed'
    assert info['w_avg_samples'] == W_AVG_SAMPLES == 10000
    assert info['w_avg_seed'] == W_AVG_SEED
    assert torch.equal(a.w_avg, b.w_avg)
    # the documented recipe, by hand
    rng = torch.Generator().manual_seed(W_AVG_SEED)
    z = torch.randn(W_AVG_SAMPLES, 64, generator=rng)
    with torch.no_grad():
        manual = a.style_mapping(z).double().mean(0).float()
    assert torch.allclose(a.w_avg, manual, atol=1e-5)
    assert_same_state(state(a), source, skip=['w_avg'])


def test_compute_mean_w_batches_agree():
    gen = small(3)
    full = compute_mean_w(gen, num_samples=3000, batch_size=3000)
    parts = compute_mean_w(gen, num_samples=3000, batch_size=700)
    assert torch.allclose(full, parts, atol=1e-6)


def test_wrong_resolution_says_what_it_is(tmp_path, source):
    path = _save(tmp_path / 'g8.pth', source, 'generator_ema.', True)
    with pytest.raises(CheckpointError) as err:
        load_generator_checkpoint(make_generator(0), path, TINY_CFG)
    text = str(err.value)
    assert 'this checkpoint is a 8x8 generator' in text
    assert 'the model is a 64x64 generator' in text
    assert TINY_CFG in text  # names the model's config
    assert 'none of configs/draggan/*.py fits' in text


def test_other_channels_points_at_fitting_config(tmp_path):
    tiny = state(make_generator(1))
    path = _save(tmp_path / 'g.pth', tiny, 'generator_ema.', True)
    with pytest.raises(CheckpointError) as err:
        load_generator_checkpoint(
            make_generator(0, channel_multiplier=2), path)
    text = str(err.value)
    assert 'channel_multiplier 1' in text and 'channel_multiplier 2' in text
    assert 'use ' + TINY_CFG in text
    assert 'shape mismatch' in text


def test_suggests_the_256_configs():
    arch = dict(
        out_size=256, style_channels=512, num_mlps=8, channel_multiplier=2)
    text = suggest_configs(arch)
    assert 'configs/draggan/draggan_stylegan2_horse-256x256.py' in text
    assert 'configs/draggan/draggan_stylegan2_cat-256x256.py' in text


def test_infer_arch(source):
    assert infer_arch(source) == dict(
        out_size=8,
        style_channels=64,
        noise_size=64,
        num_mlps=2,
        channel_multiplier=None)
    tiny = make_generator(0).state_dict()
    assert infer_arch(tiny) == dict(
        out_size=64,
        style_channels=64,
        noise_size=64,
        num_mlps=2,
        channel_multiplier=1)


def test_missing_and_unexpected_keys_refused(tmp_path, source):
    sd = dict(source)
    del sd['to_rgb1.bias']
    sd['convs.99.extra'] = torch.zeros(1)
    path = _save(tmp_path / 'bad.pth', sd, 'generator.', True)
    with pytest.raises(CheckpointError) as err:
        load_generator_checkpoint(small(0), path)
    assert 'to_rgb1.bias' in str(err.value)
    assert 'convs.99.extra' in str(err.value)


def test_w_avg_without_buffer_hint(tmp_path, source):
    path = _save(tmp_path / 'g.pth', source)
    gen = small(0, update_mean_latent_with_ema=False)
    with pytest.raises(CheckpointError, match='update_mean_latent_with_ema'):
        load_generator_checkpoint(gen, path)


def test_missing_blur_kernels_are_filled(tmp_path, source):
    sd = {k: v for k, v in source.items() if not k.endswith('.kernel')}
    path = _save(tmp_path / 'nokernel.pth', sd, 'generator_ema.', True)
    target = small(0)
    info = load_generator_checkpoint(target, path)
    assert info['kernels_filled']
    assert_same_state(state(target), source)


def test_no_generator_in_file(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {
        'backbone.conv.weight': torch.zeros(1)
    }}, str(path))
    with pytest.raises(CheckpointError, match='no StyleGAN2 generator'):
        load_generator_checkpoint(small(0), str(path))


def test_truncated_file(tmp_path, source):
    good = _save(tmp_path / 'g.pth', source, 'generator_ema.', True)
    data = open(good, 'rb').read()
    bad = tmp_path / 'trunc.pth'
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='corrupt, truncated'):
        load_generator_checkpoint(small(0), str(bad))


def test_garbage_and_empty_files(tmp_path):
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(
        bytes((i * 37 + 11) % 251 for i in range(4096)).replace(b'<', b'x'))
    with pytest.raises(CheckpointError, match='corrupt, truncated'):
        load_generator_checkpoint(small(0), str(junk))
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match='empty'):
        load_generator_checkpoint(small(0), str(empty))


def test_html_file(tmp_path):
    page = tmp_path / 'page.pth'
    page.write_text('<!DOCTYPE html><html><body>404 Not Found</body></html>')
    with pytest.raises(CheckpointError, match='HTML page'):
        load_generator_checkpoint(small(0), str(page))


def test_not_a_dict(tmp_path):
    torch.save([torch.zeros(1)], str(tmp_path / 'list.pth'))
    with pytest.raises(CheckpointError, match='holds a list'):
        load_generator_checkpoint(small(0), str(tmp_path / 'list.pth'))


def test_official_pickle_gets_convert_hint(tmp_path):
    pkl = tmp_path / 'lions.pkl'
    pkl.write_bytes(b'\x80\x04\x95' + b'ctorch_utils.persistence\n' * 4)
    with pytest.raises(CheckpointError, match='convert_official_pkl'):
        load_generator_checkpoint(small(0), str(pkl))


class _Evil:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.mark.filterwarnings('ignore:Detected pickle protocol')
def test_malicious_global_refused(tmp_path, source):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': dict(source), 'meta': _Evil(marker)}, str(path))
    with pytest.raises(CheckpointError) as err:
        load_generator_checkpoint(small(0), str(path))
    assert 'unsafe' in str(err.value) and 'system' in str(err.value)
    assert not marker.exists()
    # a plain pickle (not torch.save) with the same payload
    raw = tmp_path / 'evil.pkl'
    raw.write_bytes(pickle.dumps({'x': _Evil(marker)}))
    with pytest.raises(CheckpointError):
        load_generator_checkpoint(small(0), str(raw))
    assert not marker.exists()


def test_numpy_metadata_is_fine(tmp_path, source):
    import numpy as np
    path = tmp_path / 'np.pth'
    torch.save(
        {
            'state_dict': {
                'generator_ema.' + k: v
                for k, v in source.items()
            },
            'meta': {
                'seed': np.int64(3),
                'hist': np.arange(4.)
            }
        }, str(path))
    target = small(0)
    load_generator_checkpoint(target, str(path))
    assert_same_state(state(target), source)


def test_missing_file_names_download_command(tmp_path):
    path = tmp_path / 'stylegan2_face_512_pytorch_mmagic.pth'
    with pytest.raises(CheckpointError) as err:
        load_generator_checkpoint(small(0), str(path))
    assert 'bash run.sh download_checkpoint StyleGAN2-FFHQ' in str(err.value)
    assert 'tools/download_checkpoint.py StyleGAN2-FFHQ' in str(err.value)


# ------------------------------------------------------------ resolve ----
