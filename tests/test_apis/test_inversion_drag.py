"""Dragging a photo's inversion: the session starts at the pivot on the
tuned weights (a private copy), refuses inversions of other weights, and
the CLI, batch tasks and resume carry the inversion along."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmagic_draggan.apis.drag import drag, resume_drag
from mmagic_draggan.fileio.inversion_file import InversionFile, save_inversion
from mmagic_draggan.utils.image import to_uint8_image
from mmagic_draggan.utils.fingerprint import (config_fingerprint,
                                              weights_fingerprint)
from mmagic_draggan.utils.paths import portable_path

FAST = dict(progress=False, lr=0.02)
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'drag.py')


def make_inversion(model, seed=5, scale=0.05, **overrides) -> InversionFile:
    """An inversion of the tiny model made by hand: a pivot and a delta on
    two synthesis weights (what PTI would leave)."""
    g = torch.Generator().manual_seed(seed)
    sd = model.generator.state_dict()
    keys = [k for k in sd if k.startswith('convs.') and
            k.endswith('weight_orig')][:2]
    delta = {k: torch.randn(sd[k].shape, generator=g) * scale for k in keys}
    kw = dict(
        latent=model.latent_from_seed(seed).cpu(), synthesis_delta=delta,
        base_fingerprint=weights_fingerprint(model.generator),
        config_fingerprint=config_fingerprint(model.cfg.model),
        config=portable_path(model.cfg.filename), checkpoint=None,
        random_weights=True, image_size=model.image_size,
        recipe=dict(preset='test'), metrics=dict(psnr=30.0))
    kw.update(overrides)
    return InversionFile(**kw)


@pytest.fixture(scope='module')
def inversion_path(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp('inv') / 'inversion.pth'
    return save_inversion(path, make_inversion(tiny_model))


def test_session_starts_at_the_pivot_on_tuned_weights(tiny_model,
                                                      inversion_path):
    before = {k: v.clone() for k, v in tiny_model.generator.state_dict()
              .items()}
    inv = make_inversion(tiny_model)
    s = tiny_model.new_session(inversion=inversion_path)
    assert s.model is not tiny_model and s.model.generator is not \
        tiny_model.generator
    assert s.inversion_file == inversion_path
    torch.testing.assert_close(s.initial_latent, inv.latent)
    # the start image is the pivot rendered with base + delta ...
    tuned = tiny_model.tuned(inv)
    expect = to_uint8_image(tuned.render(inv.latent))
    np.testing.assert_array_equal(s.image(), expect)
    # ... which differs from the base weights' render
    assert not np.array_equal(expect,
                              to_uint8_image(tiny_model.render(inv.latent)))
    s.set_points([[24, 32]], [[36, 32]])
    s.run(max_steps=2)
    for k, v in tiny_model.generator.state_dict().items():  # never modified
        assert torch.equal(v, before[k]), k
    rec = s.record()
    assert rec['inversion_file'] == portable_path(inversion_path)
    assert rec['seed'] is None


def test_inversion_of_other_weights_is_refused(tiny_model, tmp_path):
    other = make_inversion(tiny_model, base_fingerprint='0123456789abcdef')
    with pytest.raises(ValueError, match='other base weights') as err:
        tiny_model.new_session(inversion=other)
    msg = str(err.value)
    assert 'configs/draggan/draggan_stylegan2_tiny-64x64.py' in msg
    assert 'random weights' in msg and 'tools/invert.py' in msg
    cfg = make_inversion(tiny_model, config_fingerprint='fedcba9876543210')
    with pytest.raises(ValueError, match='another generator config'):
        tiny_model.new_session(inversion=cfg)
    wrong = make_inversion(tiny_model, latent=torch.zeros(1, 14, 512))
    with pytest.raises(ValueError, match=r'shape \(1, 14, 512\)'):
        tiny_model.new_session(inversion=wrong)
    with pytest.raises(ValueError, match='not both'):
        tiny_model.new_session(seed=1, inversion=make_inversion(tiny_model))
    bad = tmp_path / 'inversion.pth'
    bad.write_bytes(b'garbage')
    with pytest.raises(ValueError, match='inversion'):
        tiny_model.new_session(inversion=str(bad))


def test_drag_api_and_resume_keep_the_inversion(tiny_model, inversion_path,
                                                tmp_path):
    out = drag(tiny_model, [[24, 32]], [[36, 32]], inversion=inversion_path,
               max_steps=2, out_dir=str(tmp_path / 'a'), **FAST)
    inv = make_inversion(tiny_model)
    np.testing.assert_array_equal(
        out.start_image,
        to_uint8_image(tiny_model.tuned(inv).render(inv.latent)))
    rec = json.load(open(out.paths['session']))
    # the bundle is complete alone: it holds the inversion it drags
    assert rec['inversion_file'] == 'inversion.pth'
    assert (tmp_path / 'a' / 'inversion.pth').read_bytes() == \
        open(inversion_path, 'rb').read()
    assert rec['latent_file'] == 'start_latent.pt' and rec['seed'] is None
    more = resume_drag(tiny_model, out.paths['session'], max_steps=1,
                       out_dir=str(tmp_path / 'b'), progress=False)
    # resumed on the tuned weights: its start is the first run's result
    np.testing.assert_array_equal(more.start_image, out.image)
    assert more.record['inversion_file'] == 'inversion.pth'
    assert (tmp_path / 'b' / 'inversion.pth').is_file()
    # a session that names its inversion by a path: never followed, unless
    # the caller gives the file
    named = dict(rec, inversion_file=str(inversion_path))
    (tmp_path / 'a' / 'named.json').write_text(json.dumps(named))
    with pytest.raises(ValueError, match='--inversion FILE'):
        resume_drag(tiny_model, str(tmp_path / 'a' / 'named.json'),
                    max_steps=1, progress=False)
    again = resume_drag(tiny_model, str(tmp_path / 'a' / 'named.json'),
                        max_steps=1, progress=False,
                        inversion=inversion_path)
    np.testing.assert_array_equal(again.start_image, out.image)
    with pytest.raises(ValueError, match='not both'):
        drag(tiny_model, [[24, 32]], [[36, 32]], inversion=inversion_path,
             seed=3, **FAST)


def test_batch_task_with_inversion_file(tiny_model, inversion_path, tmp_path):
    from mmagic_draggan.apis import run_tasks
    from mmagic_draggan.datasets import TaskError, task_from_dict
    task = dict(id='photo', inversion_file=inversion_path,
                handles=[[24, 32]], targets=[[36, 32]], max_steps=1)
    out, = run_tasks(tiny_model, [task])
    inv = make_inversion(tiny_model)
    np.testing.assert_array_equal(
        out['start_image'],
        to_uint8_image(tiny_model.tuned(inv).render(inv.latent)))
    assert out['record']['inversion_file'] == portable_path(inversion_path)
    with pytest.raises(TaskError, match='"seed" or an "inversion_file", '
                       'not both'):
        task_from_dict(dict(task, seed=1), image_size=64)


@pytest.mark.e2e
def test_cli_inversion_flag(tiny_config, inversion_path, tmp_path):
    out = subprocess.run(
        [sys.executable, TOOL, tiny_config, '--random-weights',
         '--inversion', inversion_path, '--drag', '24,32,36,32',
         '--max-steps', '1', '--out-dir', str(tmp_path / 'cli'),
         '--no-progress', '--video', 'none'],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rec = json.loads((tmp_path / 'cli' / 'session.json').read_text())
    assert rec['inversion_file'] == 'inversion.pth'
    bad = subprocess.run(
        [sys.executable, TOOL, tiny_config, '--random-weights',
         '--inversion', inversion_path, '--seed', '2', '--drag',
         '24,32,36,32'], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and '--inversion' in bad.stderr


def test_demo_load_drags_the_photo_on_its_tuned_weights(
        tiny_config, tiny_model, inversion_path, tmp_path):
    """A session made from an inversion loads in the demo only with its
    inversion.pth uploaded beside the JSON (the server reads no path a JSON
    names), and then shows the reconstruction on a private tuned copy."""
    import os.path as osp

    from mmagic_draggan.demo import DemoHandlers, ModelCache
    cache = ModelCache('cpu')
    cache.add(tiny_config, tiny_model, random_weights=True)
    handlers = DemoHandlers(cache, tiny_config, random_weights=True)
    state, _ = handlers.init()
    try:
        out = drag(tiny_model, [[24, 32]], [[36, 32]],
                   inversion=inversion_path, max_steps=1,
                   out_dir=str(tmp_path / 'a'), **FAST)
        files = [out.paths['session'], out.paths['start_latent']]
        r = handlers.load(state, files)
        assert 'upload its inversion.pth' in r.view.status
        assert state.session.inversion_file is None  # the old edit stays
        r = handlers.load(state, files + [inversion_path])
        assert 'Loaded the session' in r.view.status, r.view.status
        assert state.session.model.generator is not tiny_model.generator
        np.testing.assert_array_equal(state.session.initial_image(),
                                      out.start_image)
        assert osp.basename(state.session.inversion_file) == 'inversion.pth'
    finally:
        state.close()


def test_demo_photo_upload_inverts_then_drags(tiny_config, tiny_model,
                                              tmp_path):
    """Upload -> inversion with streamed progress -> the tab drags its own
    tuned copy; bad uploads and values are status lines, state kept."""
    from PIL import Image, ImageDraw

    from mmagic_draggan.demo import DemoHandlers, ModelCache
    cache = ModelCache('cpu')
    cache.add(tiny_config, tiny_model, random_weights=True)
    handlers = DemoHandlers(cache, tiny_config, random_weights=True)
    state, _ = handlers.init()
    other, _ = handlers.init()
    try:
        photo = tmp_path / 'photo.png'
        im = Image.new('RGB', (120, 90), (30, 80, 160))
        ImageDraw.Draw(im).ellipse((30, 10, 90, 80), fill=(230, 200, 60))
        im.save(photo)
        (tmp_path / 'bad.png').write_bytes(b'not an image')
        before = state.session
        for args, match in (((None, ), 'Upload a photo'),
                            ((str(tmp_path / 'bad.png'), ), 'Cannot use'),
                            ((str(photo), 'fancy'), 'preset must be'),
                            ((str(photo), 'pti', 'none', -3),
                             'projection steps must be >= 0')):
            out = list(handlers.invert_photo(state, *args))
            assert match in out[-1].view.status, out[-1].view.status
            assert state.session is before and not state.running
        views = list(handlers.invert_photo(state, str(photo), 'pti', 'none',
                                           20, 10))
        assert len(views) >= 3  # a start, progress, the result
        assert any('Inverting: projection step' in v.view.status
                   for v in views)
        last = views[-1]
        assert 'Photo inverted' in last.view.status, last.view.status
        assert 'PSNR' in last.summary and last.comparison is not None
        s = state.session
        assert s is not before and s.inversion_file.endswith('inversion.pth')
        assert s.model.generator is not tiny_model.generator
        recon = np.asarray(Image.open(
            osp.join(state.out_dir, 'inversion', 'reconstruction.png')))
        np.testing.assert_array_equal(state.image, recon)
        assert other.session.model is tiny_model  # other tabs unaffected
        # drag it, then Save includes the inversion for a later Load
        handlers.click(state, [20 * 8, 30 * 8])
        handlers.click(state, [30 * 8, 30 * 8])
        assert list(handlers.start(state, max_steps=2))[-1].steps == 2
        view, paths = handlers.save(state)
        assert any(p.endswith('inversion.pth') for p in paths), paths
        # closing the tab frees its tuned copy (only its session held it)
        import gc
        import weakref
        tuned = weakref.ref(s.model.generator)
        del s
        state.close()
        gc.collect()
        assert tuned() is None and state.session is None
        assert not osp.exists(state.out_dir)
    finally:
        state.close()
        other.close()
