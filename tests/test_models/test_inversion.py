"""Photo inversion (issue 11): projector, pivotal tuning, the inversion file.

CPU and offline: the tiny 64x64 config with seeded random weights; the
targets are images that generator made from known latents (plus one it
cannot make). LPIPS runs with a random trunk (``pnet_rand=True``, no
download); the missing-weights message is checked with an empty
``TORCH_HOME`` and a download that fails at once.
"""
import copy
import json
import os.path as osp
import urllib.error

import numpy as np
import pytest
import torch

from mmagic_draggan.fileio.inversion_file import (InversionFile,
                                                  read_inversion,
                                                  save_inversion)
from mmagic_draggan.models.inversion import (Inverter, LPIPSPerceptualLoss,
                                             PerceptualWeightsError,
                                             Projector, apply_synthesis_delta,
                                             image_to_tensor, latent_stats,
                                             lr_ramp, noise_regularizer)
from mmagic_draggan.models.stylegan2_synthesis import synthesize
from mmagic_draggan.utils.image import to_uint8_image
from mmagic_draggan.utils.fingerprint import (config_fingerprint,
                                              weights_fingerprint)

# measured on the tiny config (see the issue note): stage A steps, PTI steps
STEPS_A, STEPS_B = 10, 30


@pytest.fixture(scope='module')
def model(tiny_config):
    """A private tiny model whose to_rgb layers are scaled by 0.4, so its
    images stay inside [-1, 1] (random weights saturate ~40% of the
    pixels, and a clipped target has no exact latent)."""
    from mmagic_draggan.apis import init_model
    m = init_model(tiny_config, random_weights=True, device='cpu')
    with torch.no_grad():
        for name, p in m.generator.named_parameters():
            if name.startswith('to_rgb'):
                p.mul_(0.4)
    return m


@pytest.fixture(scope='module')
def truth(model):
    """A latent halfway between w_avg and a seed's w, and its image."""
    w_avg, _ = latent_stats(model.generator, 2000)
    w = model.latent_from_seed(3, truncation=1.)
    true = w_avg + 0.5 * (w - w_avg)
    return true, to_uint8_image(model.render(true)), w_avg


@pytest.fixture(scope='module')
def pti_run(model, truth, tmp_path_factory):
    """One inversion with the pti preset, pixel losses only."""
    from mmagic_draggan.apis.invert import invert
    before = copy.deepcopy(model.generator.state_dict())
    out_dir = str(tmp_path_factory.mktemp('inv'))
    out = invert(model, truth[1], out_dir=out_dir, preset='pti',
                 perceptual='none', steps=STEPS_A, pti_steps=STEPS_B,
                 progress=False, handle_sigint=False)
    return out, before, out_dir


# ----------------------------------------------------------------------
# pieces
def test_lr_ramp_and_noise_regularizer():
    assert lr_ramp(0.) == 0.
    assert lr_ramp(0.5) == pytest.approx(1.)
    assert lr_ramp(0.025) == pytest.approx(0.5)
    assert lr_ramp(0.875) == pytest.approx(0.5)  # half-way down the cosine
    assert lr_ramp(0.999) < 0.01
    g = torch.Generator().manual_seed(0)
    white = [torch.randn(1, 1, 32, 32, generator=g)]
    smooth = [torch.nn.functional.interpolate(
        torch.randn(1, 1, 8, 8, generator=g), size=32, mode='bilinear')]
    assert noise_regularizer(smooth) > 20 * noise_regularizer(white)


def test_fingerprints(model):
    a = weights_fingerprint(model.generator)
    assert len(a) == 16 and a == weights_fingerprint(
        model.generator.state_dict())
    sd = {k: v.clone() for k, v in model.generator.state_dict().items()}
    sd['conv1.activate.bias'][0] += 1e-6
    assert weights_fingerprint(sd) != a
    cfg = dict(model.cfg.model)
    assert config_fingerprint(cfg) == config_fingerprint(
        dict(cfg, lr=0.5))  # drag options do not count
    assert config_fingerprint(cfg) != config_fingerprint(
        dict(cfg, feat_idx=2))


def test_inversion_file_round_trip_and_refusals(tmp_path):
    inv = InversionFile(
        latent=torch.randn(1, 10, 64),
        synthesis_delta={'conv1.activate.bias': torch.randn(512)},
        base_fingerprint='ab' * 8, config_fingerprint='cd' * 8,
        config='configs/draggan/x.py', checkpoint=None, random_weights=True,
        image_size=64, recipe=dict(type='Inverter', steps=(1, 2)),
        metrics=dict(psnr=31.5), preprocess=dict(box=[0, 0, 64, 64]))
    path = save_inversion(str(tmp_path / 'inversion.pth'), inv)
    back = read_inversion(path)
    assert torch.equal(back.latent, inv.latent)
    assert torch.equal(back.synthesis_delta['conv1.activate.bias'],
                       inv.synthesis_delta['conv1.activate.bias'])
    assert back.recipe == dict(type='Inverter', steps=[1, 2])
    assert (back.base_fingerprint, back.image_size, back.random_weights,
            back.version, back.format) == ('ab' * 8, 64, True, 1,
                                           'mmagic-draggan/inversion')
    # corrupt, not an inversion, missing, bad latent, unsafe
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(open(path, 'rb').read()[:200])
    with pytest.raises(ValueError, match='corrupt'):
        read_inversion(str(bad))
    torch.save({'latent': torch.zeros(1, 10, 64)}, tmp_path / 'lat.pth')
    with pytest.raises(ValueError, match='not an mmagic-draggan inversion'):
        read_inversion(str(tmp_path / 'lat.pth'))
    with pytest.raises(ValueError, match='does not exist'):
        read_inversion(str(tmp_path / 'none.pth'))
    torch.save(dict(format='mmagic-draggan/inversion', version=1,
                    latent=torch.full((1, 10, 64), float('nan'))),
               tmp_path / 'nan.pth')
    with pytest.raises(ValueError, match='NaN'):
        read_inversion(str(tmp_path / 'nan.pth'))
    torch.save(dict(format='mmagic-draggan/inversion', version=1,
                    latent=torch.zeros(10, 64)), tmp_path / 'shape.pth')
    with pytest.raises(ValueError, match=r'\(1, L, C\)'):
        read_inversion(str(tmp_path / 'shape.pth'))
    torch.save(dict(format='mmagic-draggan/inversion', version=1,
                    latent=torch.zeros(1, 10, 64),
                    synthesis_delta={'a': [1, 2]}), tmp_path / 'delta.pth')
    with pytest.raises(ValueError, match='tensors'):
        read_inversion(str(tmp_path / 'delta.pth'))
    torch.save(dict(format='mmagic-draggan/inversion', version=1,
                    latent=torch.zeros(1, 10, 64), obj=InversionFile),
               tmp_path / 'unsafe.pth')
    with pytest.raises(ValueError, match='safely'):
        read_inversion(str(tmp_path / 'unsafe.pth'))


def test_missing_lpips_weights_message(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError('no network (test)')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)
    with pytest.raises(PerceptualWeightsError) as err:
        LPIPSPerceptualLoss(net='vgg')
    msg = str(err.value)
    folder = osp.join(str(tmp_path), 'hub', 'checkpoints')
    assert 'vgg16-397923af.pth' in msg and folder in msg
    assert "perceptual='none'" in msg
    # the Inverter builds it lazily, and a pixel-only recipe needs nothing
    inv = Inverter(perceptual=dict(type='LPIPSPerceptualLoss', net='alex'))
    with pytest.raises(PerceptualWeightsError, match='alexnet-owt'):
        inv.perceptual
    assert Inverter(perceptual=None).perceptual is None


def test_lpips_plumbing_random_trunk(model, truth):
    loss = LPIPSPerceptualLoss(net='alex', pnet_rand=True)
    import lpips
    x = image_to_tensor(truth[1])
    y = torch.rand_like(x) * 2 - 1
    ref = loss.lpips(x, y, normalize=False).reshape(-1)
    assert torch.allclose(loss(x, y), ref, rtol=1e-4, atol=1e-6)
    assert isinstance(loss.lpips, lpips.LPIPS)
    calls = []
    inv = Inverter(
        projector=dict(type='Projector', steps=2, lr=0.05, w_mse=0.1,
                       wplus_steps=1, num_std_samples=500),
        tuner=dict(type='PivotalTuner', steps=2, lpips_stop=None),
        perceptual=loss, preview_interval=1)
    res = inv.invert(model.generator, truth[1], model.feat_idx,
                     callback=lambda *a: calls.append(a))
    assert [(c[0], c[1]) for c in calls] == [
        ('projection', 1), ('projection', 2), ('wplus', 1), ('tuning', 1),
        ('tuning', 2)]
    assert all(c[5].shape == (64, 64, 3) for c in calls)
    assert all(r['lpips'] is not None for r in res.history)
    assert 'lpips' in res.metrics and res.synthesis_delta


# ----------------------------------------------------------------------
# the pti preset on a generator-made image
def test_pti_reconstructs_a_generator_image(pti_run, model, truth):
    out, before, out_dir = pti_run
    m = out.metrics
    assert m['psnr'] >= 30, m
    assert m['psnr'] > m['pivot_psnr']
    assert m['steps']['projection'] == STEPS_A
    assert 1 <= m['steps']['tuning'] <= STEPS_B
    assert (m['preset'], m['perceptual']) == ('pti', 'none')
    # the model's generator was not touched
    after = model.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the delta names synthesis weights only and reproduces the result
    delta = out.inversion.synthesis_delta
    assert delta and not any(k.startswith('style_mapping') for k in delta)
    tuned = apply_synthesis_delta(model.generator, delta)
    with torch.no_grad():
        img = synthesize(tuned, out.inversion.latent, model.feat_idx)[1]
    assert np.abs(to_uint8_image(img).astype(int) -
                  out.reconstruction.astype(int)).max() <= 1


def test_stage_a_lowers_the_error_and_nears_the_latent(pti_run, truth):
    out, _, _ = pti_run
    true, _, w_avg = truth
    # the image loss (MSE): the total also holds the noise regulariser
    losses = [r['mse'] for r in out.history if r['stage'] == 'projection']
    psnrs = [r['psnr'] for r in out.history if r['stage'] == 'projection']
    k = max(1, len(losses) // 10)
    assert np.mean(losses[-k:]) < np.mean(losses[:k])
    assert np.mean(psnrs[-k:]) > np.mean(psnrs[:k])
    start = float((w_avg - true[0, 0]).norm())
    end = float((out.inversion.latent[0, 0] - true[0, 0]).norm())
    assert end < start, (start, end)


def test_written_files(pti_run, model):
    out, _, out_dir = pti_run
    for kind in ('inversion', 'target', 'pivot', 'reconstruction',
                 'metrics', 'curves'):
        assert osp.isfile(out.paths[kind]), kind
    inv = read_inversion(out.paths['inversion'])
    assert torch.equal(inv.latent, out.inversion.latent)
    assert inv.base_fingerprint == weights_fingerprint(model.generator)
    assert inv.config_fingerprint == config_fingerprint(model.cfg.model)
    assert inv.random_weights and inv.checkpoint is None
    assert inv.config == 'configs/draggan/draggan_stylegan2_tiny-64x64.py'
    assert inv.image_size == 64 and inv.recipe['tuner']['steps'] == STEPS_B
    assert inv.recipe['perceptual'] is None
    metrics = json.load(open(out.paths['metrics']))
    assert metrics['psnr'] == pytest.approx(out.metrics['psnr'])
    from mmagic_draggan.apis.invert import invert
    with pytest.raises(ValueError, match='already holds an inversion.pth'):
        invert(model, out.target, out_dir=out_dir, perceptual='none')


# ----------------------------------------------------------------------
def test_an_image_the_generator_cannot_make_improves(model):
    from PIL import Image, ImageDraw
    im = Image.new('RGB', (64, 64), (30, 60, 200))
    d = ImageDraw.Draw(im)
    d.ellipse((10, 12, 40, 42), fill=(240, 200, 20))
    d.rectangle((36, 30, 60, 58), fill=(200, 20, 40))
    inv = Inverter(projector=dict(type='Projector', steps=8, lr=0.1,
                                  num_std_samples=1000),
                   tuner=dict(type='PivotalTuner', steps=2), perceptual=None)
    res = inv.invert(model.generator, np.asarray(im), model.feat_idx)
    a = [r['psnr'] for r in res.history if r['stage'] == 'projection']
    assert max(a[-3:]) > a[0] + 1
    assert res.metrics['psnr'] > res.metrics['pivot_psnr']


def test_stop_requests(model, truth):
    inv = Inverter(projector=dict(type='Projector', steps=50,
                                  num_std_samples=500),
                   tuner=dict(type='PivotalTuner', steps=50),
                   perceptual=None, preview_interval=0)
    seen = []

    def cb(stage, step, total, loss, psnr, preview):
        seen.append((stage, step))
        assert preview is None
        return False if step == 2 else None

    res = inv.invert(model.generator, truth[1], model.feat_idx, callback=cb)
    assert seen == [('projection', 1), ('projection', 2)]
    assert res.stopped and res.metrics['stopped']
    assert not res.synthesis_delta and 'tuning' not in res.metrics['steps']
    # request_stop during tuning
    inv2 = Inverter(projector=dict(type='Projector', steps=1,
                                   num_std_samples=500),
                    tuner=dict(type='PivotalTuner', steps=50),
                    perceptual=None)

    def cb2(stage, step, *rest):
        if stage == 'tuning':
            inv2.request_stop()

    res = inv2.invert(model.generator, truth[1], model.feat_idx, callback=cb2)
    assert res.stopped and res.metrics['steps']['tuning'] == 1


def test_invert_checks_arguments_before_running(tmp_path, model,
                                                monkeypatch):
    from mmagic_draggan.apis import init_model
    from mmagic_draggan.apis.invert import invert
    from mmagic_draggan.errors import ConfigNotFoundError
    from mmagic_draggan.models.inversion import Inverter

    def no_run(*args, **kwargs):
        raise AssertionError('inverted before checking the arguments')

    monkeypatch.setattr(Inverter, 'invert', no_run)
    img = np.zeros((64, 64, 3), np.uint8)
    for kw, match in ((dict(perceptual='vgg'), 'perceptual'),
                      (dict(resize='fit'), 'resize'),
                      (dict(steps=-1), 'steps must be an integer >= 0'),
                      (dict(pti_steps=1.5), 'pti_steps must be an integer'),
                      (dict(preset='nope'), 'unknown inversion preset'),
                      (dict(preset='projector', pti_steps=3),
                       'no pivotal tuning')):
        with pytest.raises(ValueError, match=match):
            invert(model, img, progress=False, **kw)
    with pytest.raises(ValueError, match='does not exist'):
        invert(model, str(tmp_path / 'missing.png'))
    # building is init_model's: a config is refused with the fix, and a
    # missing config is found there
    with pytest.raises(ValueError, match=r'init_model\(CONFIG'):
        invert('configs/draggan/draggan_stylegan2_tiny-64x64.py', img)
    with pytest.raises(ConfigNotFoundError, match='not found'):
        init_model('configs/nope.py', random_weights=True)
