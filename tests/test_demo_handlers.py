"""The Gradio demo's handlers, called directly (no browser, no server).

Every test runs on the tiny 64x64 config with random weights; the demo shows
it enlarged 8x (512 px), so a click at display pixel (X, Y) is model pixel
(X // 8, Y // 8).
"""
import json
import os.path as osp
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from PIL import Image

from mmagic_draggan.demo import DemoHandlers, DemoState, ModelCache
from mmagic_draggan.demo.checkpoints import checkpoint_status
from mmagic_draggan.demo.display import click_to_pixel, mask_from_editor

S = 8  # display enlargement of the 64 px model
FAST = dict(latent_space='w+', lr=0.05, lambda_mask=20, r1=2, r2=4)


@pytest.fixture(scope='module')
def handlers(tiny_config, tiny_model):
    cache = ModelCache('cpu')
    cache.add(tiny_config, tiny_model, random_weights=True)
    return DemoHandlers(cache, tiny_config, random_weights=True)


@pytest.fixture
def state(handlers):
    st, refresh = handlers.init()
    assert st.session is not None, refresh.view.status
    yield st
    st.close()


def disp(x, y):
    """Display pixel of model pixel (x, y)."""
    return [x * S + 3, y * S + 4]


def add_pair(h, st, handle, target):
    h.click(st, disp(*handle))
    return h.click(st, disp(*target))


def run(h, st, max_steps, **kw):
    views = list(h.start(st, max_steps=max_steps, **{**FAST, **kw}))
    assert views, 'start yielded nothing'
    return views


def test_init_shows_enlarged_watermarked_image(handlers, state):
    st, r = handlers.init()
    try:
        assert r.view.image.shape == (512, 512, 3)
        assert r.view.steps == 0 and r.view.points == ''
        assert r.settings.max_steps == 60 and r.settings.r2 == 4
        assert r.settings.lr == pytest.approx(2e-3)
        assert r.editor['background'].shape == (512, 512, 3)
        assert 'random weights' in r.checkpoint and not r.can_download
        plain = handlers.set_display(st, False, False).image
        assert not np.array_equal(plain, r.view.image)  # the mark is drawn
        np.testing.assert_array_equal(plain[::S, ::S], st.image)
    finally:
        st.close()


def test_clicks_make_handle_target_pairs(handlers, state):
    v = handlers.click(state, disp(20, 30))
    assert 'now click its target' in v.status
    assert state.pending == (20, 30) and state.session.targets == []
    assert v.points == '1: (20, 30) -> (click a target)'
    v = handlers.click(state, disp(30, 30))
    assert state.pending is None
    assert state.session.handles == [[20., 30.]]
    assert state.session.targets == [[30., 30.]]
    assert v.points == '1: (20, 30) -> (30, 30)'
    add_pair(handlers, state, (5, 6), (7, 8))
    assert state.session.targets == [[30., 30.], [7., 8.]]
    # the arrow is drawn on the shown image, not on the state's image
    assert not np.array_equal(v.image[::S, ::S], state.image)


@pytest.mark.parametrize('index,match', [
    (None, r'\[x, y\]'), ([1], r'\[x, y\]'), (['a', 'b'], r'\[x, y\]'),
    ([512, 3], 'outside'), ([-1, 3], 'outside'), ([float('nan'), 2], 'finite'),
])
def test_bad_clicks_keep_state(handlers, state, index, match):
    add_pair(handlers, state, (20, 30), (30, 30))
    handlers.click(state, disp(1, 1))
    v = handlers.click(state, index)
    assert re.search(match, v.status), v.status
    assert state.pending == (1, 1)
    assert state.session.targets == [[30., 30.]]
    assert v.image is not None


def test_click_to_pixel_edges():
    assert click_to_pixel([0, 0], 8, 64) == (0, 0)
    assert click_to_pixel([511, 511], 8, 64) == (63, 63)
    assert click_to_pixel((15.9, 8), 8, 64) == (1, 1)
    assert click_to_pixel([300, 2], 1, 512) == (300, 2)
    with pytest.raises(ValueError, match='outside'):
        click_to_pixel([512, 0], 8, 64)


def test_undo_and_clear(handlers, state):
    assert 'No points' in handlers.undo(state).status
    add_pair(handlers, state, (20, 30), (30, 30))
    add_pair(handlers, state, (10, 10), (12, 14))
    handlers.click(state, disp(40, 40))  # a handle without target
    v = handlers.undo(state)
    assert 'without target' in v.status and state.pending is None
    assert len(state.session.targets) == 2
    handlers.undo(state)
    assert state.session.targets == [[30., 30.]]
    handlers.click(state, disp(40, 40))
    v = handlers.clear(state)
    assert state.session.targets == [] and state.pending is None
    assert v.points == ''


def test_start_streams_steps_and_stops_at_max_steps(handlers, state):
    before = state.image.copy()
    add_pair(handlers, state, (20, 30), (34, 30))
    views = run(handlers, state, max_steps=3)
    steps = [v.steps for v in views]
    assert steps[0] == 0 and steps[-1] == 3
    assert steps == sorted(steps) and len(views) >= 3
    assert 'step limit (3 steps)' in views[-1].status
    assert all(v.image.shape == (512, 512, 3) for v in views)
    assert not np.array_equal(state.image, before)  # the image changed
    assert state.last_result.stop_reason == 'max_steps'
    assert not state.running
    # the advanced settings reached the session
    assert state.session.options['lr'] == pytest.approx(0.05)
    assert state.session.options['max_steps'] == 3


def test_start_refuses_without_complete_points(handlers, state):
    (v, ) = list(handlers.start(state))
    assert 'Click a handle' in v.status
    handlers.click(state, disp(20, 30))
    (v, ) = list(handlers.start(state))
    assert 'no target yet' in v.status
    assert state.session.steps_taken == 0 and not state.running


@pytest.mark.parametrize('kw,match', [
    (dict(lr=-1), 'learning rate must be > 0'),
    (dict(lr='abc'), 'learning rate must be a number'),
    (dict(max_steps=0), 'max steps must be >= 1'),
    (dict(r2=1.5), 'r2 must be a whole number'),
    (dict(lambda_mask=-2), 'lambda must be >= 0'),
    (dict(latent_space='z'), "latent space must be 'w' or 'w\\+'"),
])
def test_bad_settings_are_reported(handlers, state, kw, match):
    add_pair(handlers, state, (20, 30), (34, 30))
    (v, ) = list(handlers.start(state, **{**FAST, 'max_steps': 3, **kw}))
    assert re.search(match, v.status), v.status
    assert state.session.steps_taken == 0 and not state.running


def test_stop_interrupts_and_start_resumes(handlers, state):
    add_pair(handlers, state, (20, 30), (40, 30))
    session, gen = state.session, handlers.start(state, max_steps=40, **FAST)
    views = []
    for v in gen:
        views.append(v)
        if v.steps >= 1 and state.running:
            # meanwhile: edits are refused, a second Start too
            assert 'Stop' in handlers.click(state, disp(1, 1)).status
            assert 'already running' in next(
                handlers.start(state, max_steps=40)).status
            threading.Thread(target=handlers.stop, args=(state, )).start()
    assert 'Stopped after' in views[-1].status
    stopped_at = session.steps_taken
    assert 1 <= stopped_at < 40
    assert state.last_result.stop_reason == 'stopped'
    assert state.session.targets == [[40., 30.]] and state.pending is None
    optim = session._optim
    views = run(handlers, state, max_steps=2)
    assert state.session is session and session._optim is optim  # resumed
    assert session.steps_taken == stopped_at + 2
    assert [v.steps for v in views][-1] == stopped_at + 2


def test_closing_the_stream_stops_the_drag(handlers, state):
    add_pair(handlers, state, (20, 30), (40, 30))
    gen = handlers.start(state, max_steps=40, **FAST)
    for v in gen:
        if v.steps >= 1:
            break
    gen.close()  # what Gradio does when the page goes away
    assert not state.running
    assert state.session.steps_taken < 40
    handlers.stop(state)  # stop when idle is harmless
    handlers.stop(None)


def painted(rect, size=512):
    x0, y0, x1, y1 = rect
    layer = np.zeros((size, size, 4), np.uint8)
    layer[y0:y1, x0:x1] = (255, 48, 48, 255)
    return dict(background=np.zeros((size, size, 3), np.uint8),
                layers=[layer], composite=None)


def test_mask_from_brush_show_hide_and_reset(handlers, state):
    v0 = handlers.view(state)
    v = handlers.apply_mask(state, painted((128, 64, 256, 192)))
    assert 'Mask set' in v.status
    mask = state.session.mask
    assert mask.shape == (64, 64) and mask.dtype == bool
    expect = np.zeros((64, 64), bool)
    expect[8:24, 16:32] = True
    np.testing.assert_array_equal(mask, expect)
    assert state.show_mask and not np.array_equal(v.image, v0.image)
    hidden = handlers.set_display(state, False, True)
    np.testing.assert_array_equal(hidden.image, v0.image)
    # a thin stroke still makes a mask
    assert handlers.apply_mask(state, painted((10, 10, 12, 12))).status
    assert state.session.mask.sum() == 1
    for bad, match in ((painted((0, 0, 0, 0)), 'Nothing is painted'),
                       (None, 'Nothing is painted'),
                       ('junk', 'brush editor')):
        v = handlers.apply_mask(state, bad)
        assert match in v.status and state.session.mask.sum() == 1
    v = handlers.reset_mask(state)
    assert state.session.mask is None and 'whole image' in v.status
    assert handlers.editor(state)['layers'] == []


def test_mask_from_editor_ignores_transparent_pixels():
    layer = np.zeros((256, 256, 4), np.uint8)
    layer[..., :3] = 200  # colour but fully transparent
    assert mask_from_editor(dict(layers=[layer]), 64) is None
    layer[:128, :, 3] = 255
    m = mask_from_editor(dict(layers=[layer]), 64)
    assert m[:32].all() and not m[32:].any()


def test_new_image_and_reset_image(handlers, state):
    start = state.image.copy()
    r = handlers.new_image(state, 3, 0.5)
    assert 'seed 3' in r.view.status
    assert r.settings.seed == 3 and r.settings.truncation == 0.5
    assert not np.array_equal(state.image, start)
    seed3 = state.image.copy()
    r = handlers.new_image(state, 'x', 0.5)
    assert 'seed must be a number' in r.view.status
    assert r.settings is None and r.editor is None
    np.testing.assert_array_equal(state.image, seed3)
    add_pair(handlers, state, (20, 30), (34, 30))
    run(handlers, state, max_steps=2)
    assert not np.array_equal(state.image, seed3)
    v = handlers.reset_image(state)
    np.testing.assert_array_equal(state.image, seed3)
    assert v.steps == 0 and state.recorder.frames == []
    assert state.session.targets == [[34., 30.]]


def test_save_and_load_round_trip(handlers, state, tmp_path):
    handlers.new_image(state, 5, 0.6)
    add_pair(handlers, state, (20, 30), (34, 30))
    handlers.apply_mask(state, painted((64, 64, 448, 448)))
    run(handlers, state, max_steps=2)
    v, paths = handlers.save(state)
    assert 'Saved' in v.status
    names = sorted(osp.basename(p) for p in paths)
    assert names == sorted([
        'draggan_result.png', 'draggan_session.json',
        'draggan_start_latent.pt', 'draggan_final_latent.pt',
        'draggan_mask.png', 'draggan_trajectory.gif',
        'draggan_trajectory.mp4'
    ])
    by = {osp.basename(p): p for p in paths}
    png = np.asarray(Image.open(by['draggan_result.png']))
    assert png.shape == (64, 64, 3)
    assert not np.array_equal(png, state.image)  # watermarked
    rec = json.load(open(by['draggan_session.json']))
    assert rec['format'] == 'mmagic-draggan/session'
    assert rec['seed'] == 5 and rec['random_weights'] is True
    assert rec['config'] == 'configs/draggan/draggan_stylegan2_tiny-64x64.py'
    assert rec['handles'] == [[20., 30.]] and rec['targets'] == [[34., 30.]]
    assert rec['steps'] == 2 and rec['stop_reason'] == 'max_steps'
    assert rec['hyper_parameters']['truncation'] == pytest.approx(0.6)
    assert rec['hyper_parameters']['lr'] == pytest.approx(0.05)
    with Image.open(by['draggan_trajectory.gif']) as gif:
        assert gif.n_frames >= 2 and gif.size == (512, 512)
    assert osp.getsize(by['draggan_trajectory.mp4']) > 0

    other, _ = handlers.init()
    try:
        r = handlers.load(other, paths)
        assert 'Loaded the session' in r.view.status, r.view.status
        s = other.session
        assert s is not state.session
        assert s.handles == [[20., 30.]] and s.targets == [[34., 30.]]
        np.testing.assert_array_equal(s.mask, state.session.mask)
        torch.testing.assert_close(s.initial_latent,
                                   state.session.initial_latent)
        assert r.settings.seed == 5 and r.settings.lr == pytest.approx(0.05)
        assert r.settings.truncation == pytest.approx(0.6)
        assert s.steps_taken == 0 and other.show_mask
        # only the JSON: the seed and psi rebuild the same start latent
        r = handlers.load(other, [by['draggan_session.json']])
        assert 'Loaded' in r.view.status and 'draggan_mask.png' in \
            r.view.status  # reported as not uploaded
        torch.testing.assert_close(other.session.initial_latent,
                                   state.session.initial_latent)
    finally:
        other.close()


def test_load_bad_uploads_keep_state(handlers, state, tmp_path):
    add_pair(handlers, state, (20, 30), (34, 30))
    session = state.session
    bad = tmp_path / 'bad.json'
    bad.write_text('{not json')
    nopoints = tmp_path / 'nopoints.json'
    nopoints.write_text(json.dumps({'handles': [[1, 2]]}))
    noseed = tmp_path / 'noseed.json'
    noseed.write_text(json.dumps({
        'handles': [[1, 2]], 'targets': [[3, 4]], 'seed': None,
        'latent_file': 'draggan_start_latent.pt'}))
    far = tmp_path / 'far.json'
    far.write_text(json.dumps({'handles': [[100, 2]], 'targets': [[3, 4]],
                               'seed': 1}))
    other = tmp_path / 'other.json'
    other.write_text(json.dumps({'handles': [], 'targets': [], 'seed': 1,
                                 'config': 'configs/draggan/nope.py'}))
    for files, match in (
            ([], 'Upload a session JSON'),
            (None, 'Upload a session JSON'),
            ([str(bad)], 'not valid JSON'),
            ([str(nopoints)], 'no "targets"'),
            ([str(noseed)], 'upload draggan_start_latent.pt'),
            ([str(far)], 'outside the 64x64 image'),
            ([str(other)], 'not here'),
            ([str(bad), str(far)], 'exactly one session JSON'),
    ):
        r = handlers.load(state, files)
        assert match in r.view.status, (files, r.view.status)
        assert r.settings is None
        assert state.session is session
        assert session.targets == [[34., 30.]]


def test_two_sessions_stay_apart(handlers):
    a, _ = handlers.init()
    b, _ = handlers.init()
    try:
        add_pair(handlers, a, (20, 30), (34, 30))
        handlers.click(b, disp(50, 10))
        assert b.session.targets == [] and b.pending == (50, 10)
        handlers.click(b, disp(50, 20))
        assert a.session.targets == [[34., 30.]]
        assert b.session.targets == [[50., 20.]]
        results = {}

        def drag(name, st):
            results[name] = list(handlers.start(st, max_steps=2, **FAST))

        threads = [threading.Thread(target=drag, args=kv)
                   for kv in (('a', a), ('b', b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results['a'][-1].points.startswith('1: (')
        assert '-> (34, 30)' in results['a'][-1].points
        assert '-> (50, 20)' in results['b'][-1].points
        assert a.session.steps_taken == b.session.steps_taken == 2
        assert not np.array_equal(a.image, b.image)
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------------------
# checkpoints: missing -> how to get it -> download -> loaded
def test_checkpoint_status_of_shipped_configs(tmp_path):
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    face = osp.join(root, 'configs/draggan/draggan_stylegan2_face-512x512.py')
    st = checkpoint_status(face, str(tmp_path))
    assert st.name == 'StyleGAN2-FFHQ' and not st.exists
    assert st.path == str(tmp_path / 'stylegan2_face_512_pytorch_mmagic.pth')
    assert st.needs_download
    assert st.command == ('python tools/download_checkpoint.py '
                          f'StyleGAN2-FFHQ --dir {tmp_path}')
    assert st.command in st.describe()
    st = checkpoint_status(face, None)
    if not st.exists:
        assert st.command == 'bash run.sh download_checkpoint StyleGAN2-FFHQ'
    tiny = osp.join(root, 'configs/draggan/draggan_stylegan2_tiny-64x64.py')
    st = checkpoint_status(tiny, str(tmp_path))
    assert st.name is None and not st.needs_download


@pytest.fixture
def ckpt_server():
    from ckpt_helpers import make_generator
    import io
    buf = io.BytesIO()
    torch.save(make_generator(seed=3).state_dict(), buf)
    payload = buf.getvalue()

    class Handler(BaseHTTPRequestHandler):

        def log_message(self, *args):
            pass

        def do_GET(self):
            ok = self.path == '/StyleGAN2-FFHQ'
            body = payload if ok else b'not found'
            self.send_response(200 if ok else 404)
            self.send_header('Content-Type', 'application/octet-stream')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def test_missing_checkpoint_download_and_load(tiny_config, tiny_model,
                                              tmp_path, monkeypatch,
                                              ckpt_server):
    cfg = tmp_path / 'draggan_tiny_released.py'
    cfg.write_text(f"_base_ = [{tiny_config!r}]\n"
                   "checkpoint = dict(name='StyleGAN2-FFHQ', "
                   "path='checkpoints/tiny_released.pth')\n")
    cache = ModelCache('cpu', str(tmp_path / 'ckpts'))
    cache.add(tiny_config, tiny_model, random_weights=True)
    h = DemoHandlers(cache, tiny_config, random_weights=True)
    st, _ = h.init()
    try:
        tiny_session = st.session
        r = h.select_model(st, str(cfg), False, 0)
        assert 'needs its checkpoint' in r.view.status
        assert 'Still showing' in r.view.status
        assert r.can_download
        assert 'python tools/download_checkpoint.py StyleGAN2-FFHQ --dir' \
            in r.checkpoint
        assert st.session is tiny_session and r.settings is None
        # a failing download says so and keeps everything
        monkeypatch.setenv('DRAGGAN_CHECKPOINT_BASE_URL',
                           ckpt_server + '/missing/')
        r = h.download(st, str(cfg), log=lambda *_: None)
        assert 'Download failed' in r.view.status and '404' in \
            r.view.status
        assert st.session is tiny_session and r.can_download
        # a working one downloads, then loads the model
        monkeypatch.setenv('DRAGGAN_CHECKPOINT_BASE_URL', ckpt_server + '/')
        r = h.download(st, str(cfg), log=lambda *_: None)
        assert 'Downloaded and loaded' in r.view.status, r.view.status
        assert (tmp_path / 'ckpts' / 'tiny_released.pth').is_file()
        assert not r.can_download and 'StyleGAN2-FFHQ' in r.checkpoint
        assert st.session is not tiny_session and not st.random_weights
        assert st.model is not tiny_model
        assert r.view.image.shape == (512, 512, 3)
        v, paths = h.save(st)
        rec = json.load(open([p for p in paths if p.endswith('.json')][0]))
        assert rec['random_weights'] is False
        assert rec['checkpoint'].endswith('tiny_released.pth')
    finally:
        st.close()


def test_bad_model_choice_keeps_state(handlers, state):
    session = state.session
    r = handlers.select_model(state, '/nonexistent/config.py', False, 0)
    assert 'Still showing' in r.view.status
    assert state.session is session
    r = handlers.select_model(state, '', False, 0)
    assert 'Pick a model' in r.view.status
    # the same model again (the tiny one has only random weights): the edit
    # stays
    add_pair(handlers, state, (20, 30), (34, 30))
    r = handlers.select_model(state, state.config, False, 0)
    assert 'already loaded' in r.view.status
    assert state.session is session and session.targets == [[34., 30.]]


def test_handlers_never_raise_on_a_missing_state(handlers):
    assert 'loading' in handlers.click(None, [1, 1]).status
    assert 'loading' in handlers.undo(None).status
    assert 'loading' in handlers.load(None, []).view.status
    assert list(handlers.start(None))[0].status
    v, paths = handlers.save(None)
    assert paths == [] and 'loading' in v.status


def test_state_is_one_live_object():
    import copy
    st = DemoState()
    try:
        assert copy.deepcopy(st) is st
    finally:
        st.close()
    assert not osp.exists(st.out_dir)


def test_page_opens_without_a_downloaded_checkpoint(tmp_path):
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    face = osp.join(root, 'configs/draggan/draggan_stylegan2_face-512x512.py')
    h = DemoHandlers(ModelCache('cpu', str(tmp_path)), face)
    st, r = h.init()
    try:
        assert st.session is None and r.view.image is None
        assert 'Could not load the model' in r.view.status
        assert r.can_download and 'StyleGAN2-FFHQ' in r.checkpoint
        assert r.settings is None and r.editor is None
        assert 'No model' in h.click(st, [1, 1]).status
        assert 'No model' in list(h.start(st))[0].status
        assert 'No model' in h.save(st)[0].status
    finally:
        st.close()


def test_demo_checkpoint_argument(tmp_path, tiny_config, tiny_model):
    """--checkpoint: a zoo name picks its config; a file is used for the
    given config and loads; anything else is refused with the zoo names."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'gradio_draggan_entry',
        osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'demo',
                 'gradio_draggan.py'))
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    cache = ModelCache('cpu', str(tmp_path))
    cfg = entry.apply_checkpoint_arg(cache, 'stylegan2-ffhq', None)
    assert cfg.endswith('draggan_stylegan2_face-512x512.py')
    assert cache.status(cfg).needs_download  # offered for download
    ckpt = tmp_path / 'mine.pth'
    torch.save({'state_dict': {f'generator_ema.{k}': v for k, v in
                               tiny_model.generator.state_dict().items()}},
               str(ckpt))
    cfg = entry.apply_checkpoint_arg(cache, str(ckpt), tiny_config)
    status = cache.status(cfg)
    assert status.exists and status.path == str(ckpt)
    model = cache.get(cfg)
    torch.testing.assert_close(model.generator.state_dict(),
                               tiny_model.generator.state_dict())
    with pytest.raises(ValueError, match='neither a file nor a zoo name'):
        entry.apply_checkpoint_arg(cache, 'no-such-model', None)
