"""The Gradio demo's handlers, called directly (no browser, no server).

Every test runs on the tiny 64x64 config with random weights; the demo shows
it enlarged 8x (512 px), so a click at display pixel (X, Y) is model pixel
(X // 8, Y // 8).
"""
import json
import os.path as osp
import re
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from mmagic_draggan.checkpoints.resolver import resolve_weights
from mmagic_draggan.demo import DemoHandlers, DemoState, ModelCache
from mmagic_draggan.demo.display import click_to_pixel, mask_from_editor
from mmagic_draggan.demo.drag_runner import FramePacer
from mmagic_draggan.demo.guards import BUSY, LOADING, NO_MODEL, handler
from mmagic_draggan.demo.messages import plain
from mmagic_draggan.demo.state import QUEUED_STOP
from mmagic_draggan.engine.hooks.drag_hook import DragHook
from mmagic_draggan.fileio import (FILE_NAMES, read_latent, read_mask,
                                   read_session, save_latent, save_mask)
from mmagic_draggan.structures.drag_options import DragOptions
from mmagic_draggan.checkpoints.loader import CheckpointError

S = 8  # display enlargement of the 64 px model
FAST = dict(latent_space='w+', lr=0.05, lambda_mask=20, r1=2, r2=4)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def handlers(tiny_config, tiny_model):
    cache = ModelCache('cpu')
    cache.add(tiny_config, tiny_model, random_weights=True)
    h = DemoHandlers(cache, tiny_config, random_weights=True)
    yield h
    h.tabs.shutdown()
    assert not osp.exists(h.tabs.root)


@pytest.fixture
def state(handlers):
    st, refresh = handlers.init()
    assert st.session is not None, refresh.view.status
    yield st
    st.close()


def shown(status: str) -> str:
    """A status line as the page shows it (Markdown escapes undone)."""
    return re.sub(r'\\(.)', r'\1', status)


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
    assert re.search(match, shown(v.status)), v.status
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
    assert state.session.options.lr == pytest.approx(0.05)
    assert state.session.options.max_steps == 3
    assert state.session.options.r1 == 2 and state.session.options.r2 == 4


def test_start_refuses_without_complete_points(handlers, state):
    (v, ) = list(handlers.start(state))
    assert 'Click a handle' in v.status
    handlers.click(state, disp(20, 30))
    (v, ) = list(handlers.start(state))
    assert 'no target yet' in v.status
    assert state.session.steps_taken == 0 and not state.running


@pytest.mark.parametrize('kw,match', [
    (dict(lr=-1), 'lr must be > 0'),
    (dict(lr='abc'), 'lr must be a number'),
    (dict(max_steps=-1), 'max_steps must be >= 0'),
    (dict(max_steps=2.5), 'max_steps must be a whole number'),
    (dict(r1=0), 'r1 must be > 0'),
    (dict(r2=1.5), 'r2 must be a whole number'),
    (dict(lambda_mask=-2), 'lambda_mask must be >= 0'),
    (dict(lambda_mask=float('inf')), 'lambda_mask must be a finite number'),
    (dict(latent_space='z'), r"latent_space must be one of \['w\+', 'w'\]"),
])
def test_bad_settings_are_reported(handlers, state, kw, match):
    """The page's settings go through DragOptions: its messages, and
    nothing changes or runs."""
    from mmagic_draggan.structures.drag_options import check_option
    add_pair(handlers, state, (20, 30), (34, 30))
    before = state.session.options
    (v, ) = list(handlers.start(state, **{**FAST, 'max_steps': 3, **kw}))
    assert re.search(match, shown(v.status)), v.status
    ((name, value), ) = kw.items()
    with pytest.raises(ValueError) as err:  # the one home of the message
        check_option(name, value)
    assert v.status == plain(str(err.value))  # shown as words
    assert state.session.options is before
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


class RenderCounter(DragHook):
    """Notes, per step, whether it rendered an image."""

    def __init__(self):
        self.rendered = []

    def after_step(self, session, result):
        self.rendered.append(result.image is not None)


def test_watching_renders_only_due_frames(handlers, state, monkeypatch):
    """Steps render only when a frame is due: with no frame ever due, no step
    renders (the demo's recorder is passive); every step still gets a view,
    the last view shows the final image and the recorder keeps it."""
    add_pair(handlers, state, (20, 30), (60, 30))
    assert state.recorder.passive
    monkeypatch.setattr(handlers, 'frame_interval', 1e9)
    counter = RenderCounter()
    state.session.hooks.append(counter)
    try:
        views = run(handlers, state, max_steps=8)
    finally:
        state.session.hooks.remove(counter)
    steps = state.last_result.steps
    assert steps >= 4 and len(counter.rendered) == steps
    assert counter.rendered == [False] * steps
    assert views[-1].steps == steps and 'Dragging' not in views[-1].status
    assert [f.step for f in state.recorder.frames] == [steps]
    # the last view shows the final image (overlays aside)
    np.testing.assert_array_equal(state.image, state.last_result.image)
    np.testing.assert_array_equal(state.image, state.session.image())
    np.testing.assert_array_equal(views[-1].image,
                                  handlers.view(state).image)
    assert not np.array_equal(views[-1].image, views[-2].image)
    assert not any(isinstance(h, FramePacer) for h in state.session.hooks)


def test_a_watched_drag_renders_one_image_per_pacer_interval(
        handlers, state, monkeypatch):
    """The demo's drag loop (pacer, passive recorder) renders at most
    ceil(steps / k) + 1 images when a frame is due every k steps (the +1 is
    the final image): the recorder asks for none of its own, it keeps the
    frames shown plus the final image, and the saved GIF is made of them
    (opening on the start image). A recorder that asks for an image every
    step would render steps + 1."""
    import functools
    import math

    from mmagic_draggan.demo import drag_runner
    s, k = state.session, 4
    add_pair(handlers, state, (20, 30), (60, 30))
    s.configure(stop_distance=0.)  # all 13 steps run
    # a clock that ticks one second per step: a frame is due every k steps
    monkeypatch.setattr(
        drag_runner, 'FramePacer',
        functools.partial(FramePacer, clock=lambda: float(s.steps_taken)))
    monkeypatch.setattr(handlers, 'frame_interval', float(k))
    renders = []  # every full-image synthesis during the drag
    model = s.model
    features, render = model.features, model.render

    def counted_features(*args, return_image=False, **kwargs):
        if return_image:
            renders.append('step')
        return features(*args, return_image=return_image, **kwargs)

    def counted_render(*args, **kwargs):
        renders.append('render')
        return render(*args, **kwargs)

    monkeypatch.setattr(model, 'features', counted_features)
    monkeypatch.setattr(model, 'render', counted_render)
    counter = RenderCounter()
    s.hooks.append(counter)
    try:
        run(handlers, state, max_steps=13)
    finally:
        s.hooks.remove(counter)
        monkeypatch.undo()
    steps = state.last_result.steps
    assert steps == 13
    assert len(renders) <= math.ceil(steps / k) + 1, renders
    shown = [i + 1 for i, r in enumerate(counter.rendered) if r]
    # the shown steps' images (fast mode renders them after the step's
    # features) and the final image
    assert len(renders) == len(shown) + 1, (renders, shown)
    assert all(b - a >= k for a, b in zip([0] + shown, shown)), shown
    assert [f.step for f in state.recorder.frames] == shown + [steps]
    np.testing.assert_array_equal(state.recorder.frames[-1].image,
                                  state.last_result.image)
    v, paths = handlers.save(state)
    gif, = [p for p in paths if p.endswith('.gif')]
    with Image.open(gif) as g:  # the start image opens it
        assert g.n_frames >= len(state.recorder.frames) + 1


def test_saved_gif_opens_on_the_start_image_after_one_step(handlers,
                                                          state):
    """A one-step drag leaves the passive recorder only the final image
    (recorded as step 1); the saved trajectory still starts on the start
    image."""
    add_pair(handlers, state, (20, 30), (60, 30))
    run(handlers, state, max_steps=1)
    assert [f.step for f in state.recorder.frames] == [1]
    v, paths = handlers.save(state)
    gif, = [p for p in paths if p.endswith('.gif')]
    with Image.open(gif) as g:
        assert g.n_frames >= 2


def test_frame_pacer_rate_and_consumption():
    """A frame is due after ``min_interval`` and once the page took the last
    one; a dear render spaces frames so rendering stays <= render_share."""
    now = [0.]
    pacer = FramePacer(min_interval=0.5, render_share=0.25,
                       clock=lambda: now[0])
    pacer.before_run(None)
    plain, framed = SimpleNamespace(image=None), SimpleNamespace(image=1)

    def at(t, result=None):
        now[0] = t
        if result is not None:
            pacer.after_step(None, result)
        return pacer.wants_image(None)

    assert not at(0.1)
    assert not at(0.2, plain)  # a step without image takes 0.2 s
    assert at(0.5)
    assert not at(1.0, framed)  # 0.8 s with the image: it costs 0.6 s
    assert not at(5.0)  # the page has not taken the frame
    pacer.consumed()
    assert not at(2.7)  # 1.7 s < 3 x 0.6 s since the frame
    assert at(2.9) and pacer.frames == 1
    with pytest.raises(ValueError, match='render_share'):
        FramePacer(render_share=0)


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
    assert 'seed must be an integer in [0, 2**63)' in shown(r.view.status)
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
    assert 'Saved 9 files' in v.status, v.status
    # the one bundle layout of the CLI (fileio.bundle.FILE_NAMES), in the
    # private folder of this browser session
    assert [osp.basename(p) for p in paths] == [
        FILE_NAMES[k] for k in ('result', 'session', 'start', 'start_latent',
                                'latent', 'mask', 'curves', 'gif', 'mp4')]
    assert {osp.dirname(p) for p in paths} == {osp.join(state.out_dir,
                                                        'saved')}
    by = {osp.basename(p): p for p in paths}
    png = np.asarray(Image.open(by['result.png']))
    assert png.shape == (64, 64, 3)
    assert not np.array_equal(png, state.image)  # watermarked
    start = np.asarray(Image.open(by['start.png']))
    np.testing.assert_array_equal(start, state.session.initial_image())
    rec = json.load(open(by['session.json']))
    assert rec['format'] == 'mmagic-draggan/session' and rec['version'] == 2
    assert rec['seed'] == 5 and rec['random_weights'] is True
    assert rec['config'] == 'configs/draggan/draggan_stylegan2_tiny-64x64.py'
    assert rec['handles'] == [[20., 30.]] and rec['targets'] == [[34., 30.]]
    assert rec['steps'] == 2 and rec['stop_reason'] == 'max_steps'
    assert rec['latent_file'] == 'start_latent.pt'
    assert rec['final_latent_file'] == 'latent.pt'
    assert rec['mask_file'] == 'mask.png'
    assert rec['hyper_parameters']['truncation'] == pytest.approx(0.6)
    assert rec['hyper_parameters']['lr'] == pytest.approx(0.05)
    torch.testing.assert_close(read_latent(by['latent.pt']),
                               state.session.latent.cpu())
    np.testing.assert_array_equal(read_mask(by['mask.png']),
                                  state.session.mask)
    with Image.open(by['trajectory.gif']) as gif:
        assert gif.n_frames >= 2 and gif.size == (512, 512)
    assert osp.getsize(by['trajectory.mp4']) > 0
    # Save again: the folder is emptied first (no stale files)
    handlers.reset_mask(state)
    v, again = handlers.save(state)
    assert 'mask.png' not in {osp.basename(p) for p in again}
    assert not osp.exists(osp.join(state.out_dir, 'saved', 'mask.png'))
    handlers.apply_mask(state, painted((64, 64, 448, 448)))
    v, paths = handlers.save(state)
    by = {osp.basename(p): p for p in paths}

    other, _ = handlers.init()
    try:
        r = handlers.load(other, paths)
        assert 'Loaded the session' in r.view.status, r.view.status
        assert 'Not uploaded' not in r.view.status
        s = other.session
        assert s is not state.session
        assert s.handles == [[20., 30.]] and s.targets == [[34., 30.]]
        np.testing.assert_array_equal(s.mask, state.session.mask)
        torch.testing.assert_close(s.initial_latent,
                                   state.session.initial_latent)
        assert s.seed == 5 and s.truncation == pytest.approx(0.6)
        assert r.settings.seed == 5 and r.settings.lr == pytest.approx(0.05)
        assert r.settings.truncation == pytest.approx(0.6)
        assert r.settings.r1 == 2 and r.settings.r2 == 4
        # the options come back as the record stored them (auto resolved)
        assert s.options == DragOptions.create(
            read_session(by['session.json']).options)
        assert s.steps_taken == 0 and other.show_mask
        # only the JSON: the seed and psi rebuild the same start latent
        r = handlers.load(other, [by['session.json']])
        assert 'Loaded' in r.view.status
        assert 'Not uploaded (skipped): mask.png.' in r.view.status
        assert other.session.mask is None
        torch.testing.assert_close(other.session.initial_latent,
                                   state.session.initial_latent)
    finally:
        other.close()


def test_save_reports_a_video_that_cannot_be_written(handlers, state,
                                                    monkeypatch):
    import mmagic_draggan.fileio.bundle as bundle
    real = bundle.write_video

    def no_ffmpeg(frames, path, fps=10):
        if path.endswith('.mp4'):
            raise RuntimeError('no ffmpeg here')
        return real(frames, path, fps=fps)

    monkeypatch.setattr(bundle, 'write_video', no_ffmpeg)
    add_pair(handlers, state, (20, 30), (34, 30))
    run(handlers, state, max_steps=1)
    v, paths = handlers.save(state)
    assert 'The MP4 could not be written: RuntimeError: no ffmpeg here.' \
        in v.status, v.status
    names = {osp.basename(p) for p in paths}
    assert 'trajectory.gif' in names and 'trajectory.mp4' not in names
    assert f'Saved {len(paths)} files' in v.status
    rec = json.load(open([p for p in paths if p.endswith('.json')][0]))
    assert 'mp4' not in rec['files'] and rec['files']['gif'] == \
        'trajectory.gif'


def test_load_a_v1_demo_bundle(handlers, state, tmp_path):
    """A bundle the demo wrote before the shared bundle writer (version 1,
    draggan_* names, options in hyper_parameters) still loads; its files are
    found by the names the JSON gives."""
    latent = state.model.latent_from_seed(11, 0.5).cpu()
    folder = tmp_path / 'upload'
    folder.mkdir()
    save_latent(latent, folder / 'draggan_start_latent.pt')
    mask = np.zeros((64, 64), bool)
    mask[10:40, 5:50] = True
    save_mask(mask, folder / 'draggan_mask.png')
    record = {
        'format': 'mmagic-draggan/session', 'version': 1,
        'config': 'configs/draggan/draggan_stylegan2_tiny-64x64.py',
        'checkpoint': None, 'random_weights': True,
        'seed': None, 'latent_file': 'draggan_start_latent.pt',
        'final_latent_file': 'draggan_final_latent.pt',
        'mask_file': 'draggan_mask.png',
        'handles': [[12.0, 20.0], [40.0, 41.0]],
        'targets': [[18.0, 22.0], [33.0, 41.0]],
        'final_handles': [[12.0, 20.0], [40.0, 41.0]],
        'steps': 0, 'converged': False, 'stop_reason': None,
        'mean_distance': 6.6, 'initial_mean_distance': 6.6, 'seconds': None,
        'hyper_parameters': {
            'latent_space': 'w', 'num_opt_latents': 4, 'lr': 0.01,
            'max_steps': 25, 'mode': 'fast', 'stop_distance': 2.0, 'r1': 3.0,
            'lambda_mask': 7.5, 'r2': 5, 'metric': 'l1', 'truncation': 0.5,
            'feat_idx': 5, 'image_size': 64},
        'history': []}
    js = folder / 'draggan_session.json'
    js.write_text(json.dumps(record))
    # a stray file of the same kind that the JSON does not name is ignored
    stray = tmp_path / 'other.pt'
    save_latent(torch.zeros_like(latent), stray)
    r = handlers.load(state, [str(js), str(folder / 'draggan_mask.png'),
                              str(folder / 'draggan_start_latent.pt'),
                              str(stray)])
    assert 'Loaded the session: 2 point(s)' in r.view.status, r.view.status
    assert 'Not uploaded' not in r.view.status  # the final latent is not
    s = state.session                              # needed
    torch.testing.assert_close(s.initial_latent, latent)
    np.testing.assert_array_equal(s.mask, mask)
    assert s.handles == record['handles'] and s.targets == record['targets']
    assert s.options == DragOptions(
        latent_space='w', num_opt_latents=4, lr=0.01, max_steps=25,
        mode='fast', stop_distance=2.0, r1=3.0, lambda_mask=7.5, r2=5,
        metric='l1')
    assert s.seed is None and s.truncation == pytest.approx(0.5)
    assert r.settings.latent_space == 'w' and r.settings.max_steps == 25
    assert r.settings.lambda_mask == 7.5 and r.settings.r2 == 5
    assert state.show_mask
    # without its latent (and no seed) it says which file to upload
    r = handlers.load(state, [str(js)])
    assert 'upload draggan_start_latent.pt, draggan_mask.png' in \
        shown(r.view.status), r.view.status
    assert state.session is s
    # the JSON names a file that is on disk next to it, but only uploads
    # are read
    r = handlers.load(state, [str(js), str(folder / 'draggan_mask.png')])
    assert 'upload draggan_start_latent.pt' in shown(r.view.status)
    assert state.session is s


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
    masked = tmp_path / 'masked.json'
    masked.write_text(json.dumps({'handles': [], 'targets': [], 'seed': 1,
                                  'mask_file': 'black.png'}))
    bad_mask = tmp_path / 'black.png'
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(bad_mask)
    other = tmp_path / 'other.json'
    other.write_text(json.dumps({'handles': [], 'targets': [], 'seed': 1,
                                 'config': 'configs/draggan/nope.py'}))
    for files, match in (
            ([], 'Upload a session JSON'),
            (None, 'Upload a session JSON'),
            ([str(bad)], 'not valid JSON'),
            ([str(nopoints)], 'no "targets"'),
            ([str(noseed)], 'upload draggan_start_latent.pt'),
            ([str(bad_mask), str(masked)], 'all zero'),
            ([str(far)], 'outside the 64x64 image'),
            ([str(other)], 'not a shipped config'),
            ([str(bad), str(far)], 'exactly one session JSON'),
    ):
        r = handlers.load(state, files)
        assert match in shown(r.view.status), (files, r.view.status)
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
    root = ROOT
    face = osp.join(root, 'configs/draggan/draggan_stylegan2_face-512x512.py')
    st = resolve_weights(None, face, checkpoint_dir=str(tmp_path))
    assert st.name == 'StyleGAN2-FFHQ' and not st.exists
    assert st.path == str(tmp_path / 'stylegan2_face_512_pytorch_mmagic.pth')
    assert st.needs_download
    assert st.command == ('python tools/download_checkpoint.py '
                          f'StyleGAN2-FFHQ --dir {tmp_path}')
    assert st.command in st.describe()
    st = resolve_weights(None, face, checkpoint_dir=None)
    if not st.exists:
        assert st.command == 'bash run.sh download_checkpoint StyleGAN2-FFHQ'
    tiny = osp.join(root, 'configs/draggan/draggan_stylegan2_tiny-64x64.py')
    st = resolve_weights(None, tiny, checkpoint_dir=str(tmp_path))
    assert st.name is None and not st.needs_download
    assert st.path is None and 'random weights' in st.describe()
    # a file that is there
    (tmp_path / 'stylegan2_face_512_pytorch_mmagic.pth').write_bytes(b'x')
    st = resolve_weights(None, face, checkpoint_dir=str(tmp_path))
    assert st.exists and not st.needs_download
    assert st.describe() == ('Checkpoint **StyleGAN2-FFHQ**: '
                             f'`{tmp_path}/stylegan2_face_512_pytorch_mmagic'
                             '.pth`')


@pytest.fixture
def ckpt_server(serve_bytes):
    from ckpt_helpers import make_generator
    import io
    buf = io.BytesIO()
    torch.save(make_generator(seed=3).state_dict(), buf)
    return serve_bytes(buf.getvalue(), names=['StyleGAN2-FFHQ']).rstrip('/')


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
    root = ROOT
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
        osp.join(ROOT, 'demo', 'gradio_draggan.py'))
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
    # the one resolver decides: its messages, and its checks
    with pytest.raises(CheckpointError,
                       match='neither an existing file nor a zoo checkpoint'):
        entry.apply_checkpoint_arg(cache, 'no-such-model', None)
    with pytest.raises(CheckpointError, match='512x512 checkpoint'):
        entry.apply_checkpoint_arg(cache, 'StyleGAN2-FFHQ', tiny_config)
    with pytest.raises(CheckpointError, match='does not exist'):
        entry.apply_checkpoint_arg(cache, str(tmp_path / 'gone.pth'),
                                   tiny_config)
    # 'none': random weights for the config, also in the page's line
    face = osp.join(osp.dirname(tiny_config),
                    'draggan_stylegan2_face-512x512.py')
    cfg = entry.apply_checkpoint_arg(cache, 'none', face)
    status = cache.status(cfg)
    assert status.random and not status.needs_download
    assert cache.key(cfg) == (cfg, None, 'cpu')
    assert 'random weights' in status.describe()


# ---------------------------------------------------------------------------
# the one guard of every handler (mmagic_draggan/demo/guards.py)
def snapshot(st):
    s = st.session
    return (s, st.pending, st.image.copy(), s and s.targets,
            s and (None if s.mask is None else s.mask.copy()),
            s and s.steps_taken, st.config)


def assert_same(before, st):
    s, pending, image, targets, mask, steps, config = before
    assert st.session is s and st.pending == pending
    np.testing.assert_array_equal(st.image, image)
    assert s.targets == targets and s.steps_taken == steps
    if mask is None:
        assert s.mask is None
    else:
        np.testing.assert_array_equal(s.mask, mask)
    assert st.config == config


def test_guard_refuses_every_edit_while_a_drag_runs(handlers, state,
                                                    tmp_path):
    add_pair(handlers, state, (20, 30), (34, 30))
    handlers.click(state, disp(5, 5))  # a waiting handle
    handlers.apply_mask(state, painted((64, 64, 448, 448)))
    v, saved = handlers.save(state)
    before = snapshot(state)
    face = osp.join(osp.dirname(state.config),
                    'draggan_stylegan2_face-512x512.py')
    state.running = True  # what a running Start holds
    try:
        for name, call in (
                ('click', lambda: handlers.click(state, disp(9, 9))),
                ('undo', lambda: handlers.undo(state)),
                ('clear', lambda: handlers.clear(state)),
                ('reset_image', lambda: handlers.reset_image(state)),
                ('apply_mask', lambda: handlers.apply_mask(
                    state, painted((0, 0, 64, 64)))),
                ('reset_mask', lambda: handlers.reset_mask(state)),
                ('new_image', lambda: handlers.new_image(state, 7, 0.5)),
                ('select_model', lambda: handlers.select_model(
                    state, face, True, 0)),
                ('load', lambda: handlers.load(state, saved)),
                ('save', lambda: handlers.save(state)),
        ):
            out = call()
            if name == 'save':
                out, paths = out
                assert paths == []
            if not hasattr(out, 'status'):  # a Refresh
                assert out.settings is None and out.editor is None
                out = out.view
            assert out.status == BUSY, (name, out.status)
            assert out.image is not None  # the edit is still shown
            assert_same(before, state)
        # Start says so too, and does not step
        (v, ) = list(handlers.start(state, max_steps=2, **FAST))
        assert 'already running' in v.status
        assert_same(before, state)
        # the display toggles still work during a drag
        assert handlers.set_display(state, True, False).status == ''
    finally:
        state.running = False
    # nothing was removed from the saved folder by the refused Save
    assert all(osp.exists(p) for p in saved)


def test_guard_without_an_edit_or_state(handlers):
    empty = DemoState()  # a page whose model failed to load
    try:
        calls = dict(
            click=lambda st: handlers.click(st, [1, 1]),
            undo=handlers.undo, clear=handlers.clear,
            reset_image=handlers.reset_image,
            apply_mask=lambda st: handlers.apply_mask(
                st, painted((0, 0, 64, 64))),
            reset_mask=handlers.reset_mask,
            new_image=lambda st: handlers.new_image(st, 1, 0.7),
            save=lambda st: handlers.save(st)[0],
            start=lambda st: list(handlers.start(st, max_steps=2))[-1],
        )
        for name, call in calls.items():
            out = call(empty)
            status = getattr(out, 'view', out).status
            assert status == NO_MODEL, (name, status)
            assert empty.session is None and empty.image is None
            assert call(None) is not None
            status = getattr(call(None), 'view', call(None)).status
            assert status == LOADING, (name, status)
        # these need no edit, only a state
        for out in (handlers.load(None, []), handlers.select_model(
                None, 'x.py'), handlers.download(None, 'x.py')):
            assert out.view.status == LOADING and out.settings is None
        assert handlers.set_display(None, True, True).status == LOADING
        assert handlers.save(None) == (handlers.view(None, LOADING), [])
        assert handlers.editor(None) is None and handlers.stop(None) is None
    finally:
        empty.close()


def test_guard_turns_errors_into_a_status_line(handlers, state, caplog,
                                               monkeypatch):
    add_pair(handlers, state, (20, 30), (34, 30))
    before = snapshot(state)

    def broken(*args, **kwargs):
        raise RuntimeError('disk on fire')

    monkeypatch.setattr(state.session, 'undo_point', broken)
    with caplog.at_level('ERROR', logger='mmagic_draggan.demo.guards'):
        v = handlers.undo(state)
    assert v.status == 'Internal error in undo: RuntimeError: disk on fire'
    assert v.image is not None
    assert 'demo handler undo failed' in caplog.text
    assert 'Traceback' in caplog.text  # logged in full, not in the page
    assert_same(before, state)
    monkeypatch.undo()
    # Save and Load fail the same way, with their own return shapes
    monkeypatch.setattr('mmagic_draggan.demo.files_panel.save_edit', broken)
    v, paths = handlers.save(state)
    assert paths == [] and v.status.startswith('Internal error in save:')
    monkeypatch.setattr('mmagic_draggan.demo.files_panel.upload_paths',
                        broken)
    r = handlers.load(state, ['x.json'])
    assert r.view.status.startswith('Internal error in load:')
    assert r.settings is None and r.editor is None
    assert_same(before, state)
    assert not state.running


def test_guard_decorator_alone():
    """The decorator on a stand-in: refusals, errors, generators, lock."""
    class Page:
        def view(self, state, status=''):
            return status

        @handler(locked=True)
        def edit(self, state, fail=False):
            got = []  # another thread cannot take the lock meanwhile
            t = threading.Thread(target=lambda: got.append(
                state.lock.acquire(blocking=False)))
            t.start()
            t.join()
            if fail:
                raise KeyError('k')
            return f'locked elsewhere: {not got[0]}'

        @handler(needs_session=False)
        def stream(self, state, n):
            yield 'first'
            if n:
                raise ValueError('bad n')
            yield 'last'

    page, st = Page(), DemoState()
    try:
        assert page.edit(None) == LOADING
        assert page.edit(st) == NO_MODEL
        st.session = object()
        assert page.edit(st) == 'locked elsewhere: True'
        assert page.edit(st, fail=True) == "Internal error in edit: " \
            "KeyError: 'k'"
        st.running = True
        assert page.edit(st) == BUSY
        assert list(page.stream(st, 0)) == [BUSY]
        st.running = False
        assert list(page.stream(None, 0)) == [LOADING]
        assert list(page.stream(st, 0)) == ['first', 'last']
        assert list(page.stream(st, 1)) == [
            'first', 'Internal error in stream: ValueError: bad n']
        assert Page.edit.__name__ == 'edit' and 'lock' in \
            handler.__doc__
        with pytest.raises(ValueError, match='cannot hold the state lock'):
            handler(locked=True)(Page.stream.__wrapped__)
    finally:
        st.session = None
        st.close()


# ---------------------------------------------------------------------------
# status lines: words only (mmagic_draggan/demo/messages.py)
def test_foreign_text_is_plain_words():
    from mmagic_draggan.demo.messages import code, error_text
    assert plain("\x1b[31mimage '/tmp/gradio/0a1b/photo.png' is bad\x1b[0m"
                 ) == "image 'photo.png' is bad"
    assert plain('in /tmp/draggan_demo_x/tab_y/inversion/inversion.pth.') \
        == 'in inversion.pth.'
    # no URL, ratio or relative path is touched
    assert plain('see https://host/a/b, 1/2, configs/draggan/x.py') == \
        'see https://host/a/b, 1/2, configs/draggan/x.py'
    # Markdown and HTML show as typed
    assert plain('__init__ *x* `y` [a](b) <b> $$z$$') == (
        r'\_\_init\_\_ \*x\* \`y\` \[a\](b) \<b> \$\$z\$\$')
    assert plain('# title\n> quote\n- item') == \
        '\\# title\n\\> quote\n\\- item'
    assert shown(plain('a_b [c] <d>')) == 'a_b [c] <d>'
    assert code('/srv/x/my`config.py') == "`my'config.py`"
    assert error_text(KeyError()) == 'KeyError'


def test_handlers_show_expected_errors_and_log_bugs(handlers, state,
                                                   monkeypatch, caplog):
    """Bad input is a status line in words; anything else is an internal
    error, logged in full, and the edit stays."""
    session = state.session

    def bad_config(config):
        raise FileNotFoundError(f'/srv/secret/{osp.basename(config)} '
                                'is gone')

    monkeypatch.setattr(handlers.cache, 'status', bad_config)
    r = handlers.select_model(state, '/srv/secret/x.py', False, 0)
    assert r.view.status.startswith('Could not load `x.py`: x.py is gone')
    assert '/srv' not in r.view.status + r.checkpoint
    assert state.session is session

    def bug(*args, **kwargs):
        raise KeyError('oops')

    monkeypatch.undo()
    monkeypatch.setattr(handlers, '_open', bug)
    face = osp.join(osp.dirname(state.config),
                    'draggan_stylegan2_face-512x512.py')
    with caplog.at_level('ERROR', logger='mmagic_draggan.demo.guards'):
        r = handlers.select_model(state, face, True, 0)
    assert r.view.status == "Internal error in select_model: KeyError: 'oops'"
    assert 'demo handler select_model failed' in caplog.text
    assert state.session is session


# ---------------------------------------------------------------------------
# Stop while a run waits in the queue (tickets)
def test_stop_while_queued_cancels_the_run(handlers, state):
    add_pair(handlers, state, (20, 30), (40, 30))
    ticket = handlers.request_run(state)  # Start pressed; the run waits
    assert handlers.stop(state) == QUEUED_STOP  # Stop meanwhile
    (v, ) = list(handlers.start(state, max_steps=3, ticket=ticket, **FAST))
    assert v.status == QUEUED_STOP and v.steps == 0
    assert state.session.steps_taken == 0 and not state.running
    # the inversion shares the queue and the tickets
    ticket = handlers.request_run(state)
    handlers.stop(state)
    (pv, ) = list(handlers.invert_photo(state, None, ticket=ticket))
    assert pv.view.status == QUEUED_STOP and not state.running
    # a later Start runs, and a Stop while it runs is not "queued"
    ticket = handlers.request_run(state)
    gen = handlers.start(state, max_steps=40, ticket=ticket, **FAST)
    views = []
    for v in gen:
        views.append(v)
        if v.steps >= 1 and state.running:
            assert handlers.stop(state) is None
    assert 'Stopped after' in views[-1].status, views[-1].status
    assert 1 <= state.session.steps_taken < 40
    # a Stop when nothing waits or runs says nothing; Start runs again
    assert handlers.stop(state) is None
    views = list(handlers.start(state, max_steps=1,
                                ticket=handlers.request_run(state), **FAST))
    assert 'step limit' in views[-1].status


def test_click_while_a_new_image_is_made_is_refused(handlers, state):
    from mmagic_draggan.demo.points_panel import REPLACING
    add_pair(handlers, state, (20, 30), (34, 30))
    handlers.announce_new_image(state)  # New image pressed, still queued
    v = handlers.click(state, disp(5, 5))
    assert v.status == REPLACING and state.pending is None
    r = handlers.new_image(state, 3, 0.5, announced=True)
    assert r.replaced and 'seed 3' in r.view.status
    assert 'now click its target' in handlers.click(state, disp(5, 5)).status
    # a refused New image takes its announcement back too
    handlers.announce_new_image(state)
    state.running = True
    try:
        r = handlers.new_image(state, 4, 0.5, announced=True)
    finally:
        state.running = False
    assert r.view.status == BUSY and not r.replaced
    assert state.replacing == 0
    assert 'Point 1' in handlers.click(state, disp(9, 9)).status


# ---------------------------------------------------------------------------
# the photo upload: our reader first
def test_photo_preview_reads_the_raw_upload(handlers, state, tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 128), (96, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / 'deep.png')
    shown_img, status = handlers.preview_photo(state,
                                               str(tmp_path / 'deep.png'))
    assert shown_img.shape == (512, 512, 3)
    assert 110 < shown_img.mean() < 145  # 16-bit read as such: mid-grey
    assert status.startswith('Photo `deep.png`: 128x96 px')
    (tmp_path / 'empty.png').write_bytes(b'')
    (tmp_path / 'notes.txt').write_text('hello')
    Image.new('1', (9000, 20)).save(tmp_path / 'wide.png')  # over the limit
    for name, words in (('empty.png', 'is empty (0 bytes)'),
                        ('notes.txt', 'not an image Pillow can read'),
                        ('wide.png', 'over the limit of 8192 px')):
        img, status = handlers.preview_photo(state, str(tmp_path / name))
        assert img is None and status.startswith('Cannot use this photo')
        assert words in shown(status), status
        assert str(tmp_path) not in status and f"'{name}'" in status
    assert handlers.preview_photo(state, None) == (None, '')
    assert handlers.preview_photo(None, 'x.png') == (None, LOADING)


def test_tuned_copies_are_capped(tiny_config, tiny_model, tmp_path):
    from mmagic_draggan.demo import TabRegistry
    cache = ModelCache('cpu')
    cache.add(tiny_config, tiny_model, random_weights=True)
    tabs = TabRegistry(max_tuned=1)
    h = DemoHandlers(cache, tiny_config, random_weights=True, tabs=tabs)
    a, _ = h.init('tab-a')
    b, _ = h.init('tab-b')
    try:
        assert tabs.reserve_tuned(a) is None and a.tuning  # a inverts
        photo = tmp_path / 'p.png'
        Image.new('RGB', (80, 80), (200, 30, 30)).save(photo)
        (pv, ) = list(h.invert_photo(b, str(photo), 'pti', 'none', 1, 1))
        assert '--max-tuned 1' in pv.view.status, pv.view.status
        assert not b.running and not b.tuning
        a.tuning = False  # a is done (without keeping a copy)
        assert tabs.reserve_tuned(b) is None
    finally:
        tabs.shutdown()


# ---------------------------------------------------------------------------
# tabs: freed when closed or idle, all folders under one root
def test_tab_registry_frees_tabs(tiny_config, tiny_model):
    import gc
    import weakref

    from mmagic_draggan.demo import TabRegistry
    cache = ModelCache('cpu')
    cache.add(tiny_config, tiny_model, random_weights=True)
    tabs = TabRegistry()
    h = DemoHandlers(cache, tiny_config, random_weights=True, tabs=tabs)
    a, _ = h.init('session-a')
    b, _ = h.init('session-b')
    assert tabs.get('session-a') is a and len(tabs) == 2
    assert osp.dirname(a.out_dir) == tabs.root == osp.dirname(b.out_dir)
    add_pair(h, a, (20, 30), (34, 30))
    edit = weakref.ref(a.session)
    # the tab closes (Gradio's unload): its edit and folder go at once
    assert tabs.close_tab('session-a') and not tabs.close_tab('session-a')
    gc.collect()
    assert edit() is None and not osp.exists(a.out_dir)
    assert tabs.get('session-a') is None and a.closed
    with pytest.raises(RuntimeError, match='tab was closed'):
        h._open(a, tiny_config, True, seed=1)
    # the state's time to live passed: freed, unless a run is under way
    b.running = True
    tabs.expire(b)
    assert not b.closed and tabs.get('session-b') is b
    b.running = False
    tabs.expire(b)
    assert b.closed and len(tabs) == 0
    tabs.expire(None)
    # the same session opening again replaces (and frees) its old state
    c, _ = h.init('session-c')
    c2, _ = h.init('session-c')
    assert c.closed and tabs.get('session-c') is c2
    root = tabs.root
    tabs.shutdown()
    assert c2.closed and not osp.exists(root)
    tabs.shutdown()  # twice is fine


def test_port_in_use_is_one_line(capsys):
    import importlib.util
    import socket
    spec = importlib.util.spec_from_file_location(
        'gradio_draggan_port',
        osp.join(ROOT, 'demo', 'gradio_draggan.py'))
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    with socket.socket() as held:
        held.bind(('127.0.0.1', 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(SystemExit) as out:
            entry.main(['--port', str(port), '--host', '127.0.0.1'])
    assert out.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and f'port {port}' in err
    assert '--port N' in err and 'Traceback' not in err
    for bad in (['--max-tuned', '0'], ['--max-file-size', 'big'],
                ['--max-file-size', '0mb'], ['--tab-ttl', '-1'],
                ['--concurrency', '0']):
        with pytest.raises(SystemExit) as out:
            entry.parse_args(bad)
        assert out.value.code == 2
    args = entry.parse_args(['--max-file-size', '2 GB'])
    assert args.max_file_size == '2gb' and args.tab_ttl == 3600
    assert entry.parse_args(['--max-file-size', '5000']).max_file_size == \
        '5000b'
    assert entry.parse_args([]).max_file_size == '200mb'



def test_watermark_scales_with_the_image():
    from mmagic_draggan.utils.visualization import add_watermark
    for side, most in ((64, 0.05), (128, 0.05), (512, 0.02), (1024, 0.02)):
        image = np.full((side, side, 3), 128, np.uint8)
        ys, xs = np.nonzero((add_watermark(image) != image).any(-1))
        box = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
        assert 0 < box <= most * side * side, (side, box)
        assert xs.min() > side / 2 and ys.min() > side / 2  # the corner
