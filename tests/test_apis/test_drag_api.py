"""The headless drag API (mmagic_draggan.apis.drag): outputs, re-run,
resume, stopping and argument checks. In-process, tiny config, few steps."""
import json
import os.path as osp
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from mmagic_draggan.apis import init_model
from mmagic_draggan.apis.drag import (DragOutput, drag, drag_kwargs_from_file,
                                      merge_drag_kwargs, resume_drag)
from mmagic_draggan.apis.session_args import (merge_model_kwargs,
                                              model_kwargs_from_file)
from mmagic_draggan.fileio import read_latent, read_mask
from mmagic_draggan.apis.stop_signal import StopOnSigint

HANDLES, TARGETS = [[24., 32.]], [[36., 32.]]  # (x, y): 12 px to the right
FAST = dict(progress=False, lr=0.02)


def test_drag_writes_every_output(tmp_path, tiny_model):
    mask = np.zeros((64, 64), bool)
    mask[8:56, 8:56] = True
    out = drag(tiny_model, HANDLES, TARGETS, seed=3, mask=mask, max_steps=2,
               out_dir=str(tmp_path / 'run'), **FAST)
    assert isinstance(out, DragOutput)
    assert out.image.shape == (64, 64, 3) and out.image.dtype == np.uint8
    assert out.latent.shape == (1, tiny_model.num_latents, 64)
    assert not np.array_equal(out.image, out.start_image)
    assert out.stop_reason == 'max_steps' and not out.converged
    assert set(out.paths) == {'start', 'result', 'gif', 'video', 'latent',
                              'mask', 'curves', 'session'}
    assert out.paths['video'] == out.paths['gif']
    for p in out.paths.values():
        assert osp.isfile(p), p
    rec = json.load(open(out.paths['session']))
    assert rec == json.loads(json.dumps(out.record.to_dict()))
    assert rec == out.record  # the record reads as the JSON object
    assert rec['seed'] == 3 and rec['latent_file'] is None
    assert rec['random_weights'] is True and rec['steps'] == 2
    assert rec['mask_file'] == 'mask.png'
    assert [h['step'] for h in rec['history']] == [1, 2]
    # files agree with the returned values
    np.testing.assert_array_equal(
        np.asarray(Image.open(out.paths['result'])), out.image)
    np.testing.assert_array_equal(read_mask(out.paths['mask']), mask)
    torch.testing.assert_close(read_latent(out.paths['latent']),
                               out.latent, rtol=0, atol=0)
    # one frame per step plus the final image, points drawn on them
    assert len(out.frames) == 3
    assert not np.array_equal(out.frames[0], out.start_image)


def test_drag_without_out_dir_writes_nothing(tmp_path, tiny_model,
                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = drag(tiny_model, HANDLES, TARGETS, seed=3, max_steps=1,
               video='none', **FAST)
    assert out.paths == {} and out.frames == [] and out.out_dir is None
    assert out.record['final_latent_file'] is None
    assert list(tmp_path.iterdir()) == []


def test_rerun_and_resume_from_session_file(tmp_path, tiny_config,
                                            tiny_model):
    model = init_model(tiny_config, random_weights=True, device='cpu',
                       cfg_options={'model.lr': 0.02})
    first = drag(model, HANDLES, TARGETS, seed=5, truncation=0.5,
                 max_steps=2, video='none', out_dir=str(tmp_path / 'a'),
                 progress=False)
    assert first.record['hyper_parameters']['lr'] == 0.02
    assert first.record['hyper_parameters']['truncation'] == 0.5
    session = first.paths['session']

    # re-run: the session file alone (config, weights, seed, options)
    # reproduces the drag exactly: what to build, then what to run
    build = model_kwargs_from_file(session)
    kw = drag_kwargs_from_file(session)
    assert kw['seed'] == 5 and build['random_weights']
    assert kw['max_steps'] == 2
    # the config stays a name until init_model uses it (only shipped ones)
    assert osp.samefile(build['config'].resolve(), tiny_config)
    assert build['cfg_options'] == {'model.lr': 0.02}
    assert kw['truncation'] == .5
    again = drag(init_model(**merge_model_kwargs(build, dict(device='cpu'))),
                 **merge_drag_kwargs(kw, dict(progress=False)))
    torch.testing.assert_close(again.latent, first.latent, rtol=0, atol=0)

    # resume: a new drag from the final latent and handles, steps count on
    more = resume_drag(tiny_model, session, max_steps=1, progress=False,
                       out_dir=str(tmp_path / 'b'))
    rec = more.record
    assert rec['steps'] == 3 and rec['start_step'] == 2
    assert rec['run_steps'] == 1
    assert [h['step'] for h in rec['history']] == [1, 2, 3]
    assert rec['handles'] == first.record['final_handles']
    assert rec['targets'] == first.record['targets']
    assert rec['latent_file'] == 'start_latent.pt' and rec['seed'] == 5
    assert rec['resumed_from'].endswith('a/session.json')
    torch.testing.assert_close(
        read_latent(more.paths['start_latent']), first.latent)
    np.testing.assert_array_equal(more.start_image, first.image)
    # the same as continuing by hand with the session API
    s = tiny_model.new_session(latent=first.latent, lr=0.02)
    s.set_points(first.record['final_handles'], TARGETS)
    s.run(max_steps=1)
    torch.testing.assert_close(more.latent, s.latent.cpu(), rtol=0, atol=0)


def test_callback_stop_still_writes_outputs(tmp_path, tiny_model):
    out = drag(tiny_model, HANDLES, TARGETS, seed=3, max_steps=50,
               callback=lambda r: r.step < 2 and None, overlay=False,
               out_dir=str(tmp_path / 'c'), **FAST)
    assert out.stop_reason == 'stopped' and out.record['steps'] == 2
    assert json.load(open(out.paths['session']))['stop_reason'] == 'stopped'
    assert osp.isfile(out.paths['video'])
    # overlay=False: the frames are the plain images
    np.testing.assert_array_equal(out.frames[0], out.start_image)
    np.testing.assert_array_equal(out.frames[-1], out.image)


def test_first_ctrl_c_stops_second_aborts(tiny_model):
    presses = []

    def press_ctrl_c(res):
        presses.append(res.step)
        signal.raise_signal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    out = drag(tiny_model, HANDLES, TARGETS, seed=3, max_steps=50,
               callback=lambda r: press_ctrl_c(r) if r.step == 1 else None,
               video='none', **FAST)
    assert out.stop_reason == 'stopped' and out.record['steps'] == 1
    assert signal.getsignal(signal.SIGINT) is before  # restored

    stopper = StopOnSigint(enabled=True)
    with pytest.raises(KeyboardInterrupt):
        with stopper:
            signal.raise_signal(signal.SIGINT)
            assert stopper.stopped
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize('kwargs,match', [
    (dict(seed=1, latent=torch.zeros(1, 10, 64)), 'seed or a latent'),
    (dict(latent=torch.zeros(1, 10, 64), truncation=0.5), 'truncation'),
    (dict(latent=torch.zeros(1, 3, 64)), r'needs \(1, 10, 64\)'),
    (dict(handles=[]), 'no points'),
    (dict(handles=[[70, 3]]), 'outside the 64x64 image'),
    (dict(handles=[[1, 1], [2, 2]]), '2 handles but 1 targets'),
    (dict(mask=np.ones((32, 48))), 'mask is 32x48 .* 64x64'),
    (dict(mask=np.zeros((64, 64))), 'all zero'),
    (dict(video='avi'), 'video must be one of'),
    (dict(checkpoint='x.pth'), r"\['checkpoint'\] are init_model\(\)"),
    (dict(random_weights=True, device='cpu'), 'build it first'),
    (dict(start=object(), seed=1), 'give start= or'),
    (dict(learning_rate=1), 'unknown DragGAN option'),
    (dict(max_steps=-1), 'max_steps'),
    (dict(seed=-2), 'seed must be an integer'),
])
def test_bad_arguments_raise_before_anything_runs(tmp_path, tiny_model,
                                                  kwargs, match):
    kw = dict(handles=HANDLES, targets=TARGETS, progress=False,
              out_dir=str(tmp_path / 'out'))
    kw.update(kwargs)
    handles, targets = kw.pop('handles'), kw.pop('targets')
    with pytest.raises(ValueError, match=match):
        drag(tiny_model, handles, targets, **kw)
    assert not (tmp_path / 'out').exists()


def test_existing_session_is_not_overwritten(tmp_path, tiny_model):
    out_dir = tmp_path / 'keep'
    out_dir.mkdir()
    (out_dir / 'session.json').write_text('{"precious": true}')
    with pytest.raises(ValueError, match='already holds a session.json'):
        drag(tiny_model, HANDLES, TARGETS, out_dir=str(out_dir), **FAST)
    assert json.loads((out_dir / 'session.json').read_text()) == {
        'precious': True}


def test_latent_and_mask_files_are_validated(tmp_path, tiny_model):
    text = tmp_path / 'notes.pt'
    text.write_text('not a tensor')
    with pytest.raises(ValueError, match='cannot read latent file'):
        drag(tiny_model, HANDLES, TARGETS, latent=str(text), **FAST)
    as_dict = tmp_path / 'dict.pt'  # the one reader: batch tasks' rule too
    torch.save({'other': torch.zeros(1, 10, 64)}, as_dict)
    with pytest.raises(ValueError, match='dict without a latent / w / ws'):
        drag(tiny_model, HANDLES, TARGETS, latent=str(as_dict), **FAST)
    torch.save({'w': torch.zeros(1, 10, 64)}, as_dict)
    torch.testing.assert_close(read_latent(as_dict, (1, 10, 64)),
                               torch.zeros(1, 10, 64))
    as_list = tmp_path / 'list.pt'
    torch.save([1, 2], as_list)
    with pytest.raises(ValueError, match='holds a list, not a tensor'):
        drag(tiny_model, HANDLES, TARGETS, latent=str(as_list), **FAST)
    wrong = tmp_path / 'wrong.pt'
    torch.save(torch.zeros(1, 18, 512), wrong)
    with pytest.raises(ValueError, match=r'\(1, 18, 512\) .* needs '
                       r'\(1, 10, 64\)'):
        drag(tiny_model, HANDLES, TARGETS, latent=str(wrong), **FAST)
    with pytest.raises(ValueError, match='does not exist'):
        drag(tiny_model, HANDLES, TARGETS, latent=str(tmp_path / 'no.pt'),
             **FAST)
    garbage = tmp_path / 'mask.png'
    garbage.write_bytes(b'\x89PNG broken')
    with pytest.raises(ValueError, match='cannot read mask'):
        drag(tiny_model, HANDLES, TARGETS, mask=str(garbage), **FAST)
    small = tmp_path / 'small.png'
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(small)
    with pytest.raises(ValueError, match='32x32 .*64x64'):
        drag(tiny_model, HANDLES, TARGETS, mask=str(small), **FAST)


def test_mask_file_white_is_editable(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[10:20, 30:40] = (255, 255, 255, 255)
    rgba[0, 0] = (0, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / 'm.png')
    mask = read_mask(tmp_path / 'm.png', size=64)
    assert mask.dtype == bool and mask.shape == (64, 64)
    assert mask.sum() == 100 and mask[10:20, 30:40].all()


def test_frame_interval_auto_and_explicit(tiny_model, monkeypatch):
    """The trajectory records every auto_frame_interval(H)-th step by
    default and exactly every N-th with frame_interval=N; the drag itself
    (handles, latent, image) does not depend on it."""
    from mmagic_draggan.engine import hooks
    from mmagic_draggan.engine.hooks import (TrajectoryRecorderHook,
                                             auto_frame_interval)
    assert [auto_frame_interval(h) for h in (64, 128, 256, 512, 1024)] == \
        [1, 1, 2, 4, 8]

    def recorded(out):
        rec, = [h for h in out.session.hooks
                if isinstance(h, TrajectoryRecorderHook)]
        return [f.step for f in rec.frames]

    runs = {}
    for interval in (3, None):
        if interval is None:  # the tiny model is 64 px: pretend a bigger H
            monkeypatch.setattr(hooks, 'auto_frame_interval', lambda h: 2)
        runs[interval] = drag(tiny_model, HANDLES, TARGETS, seed=3,
                              max_steps=7, stop_distance=0.,
                              frame_interval=interval, **FAST)
    # the last frame is the final latent's image (after the 7th update)
    assert recorded(runs[3]) == [1, 4, 7, 7]
    assert recorded(runs[None]) == [1, 3, 5, 7, 7]
    assert runs[3].record['final_handles'] == \
        runs[None].record['final_handles']
    torch.testing.assert_close(runs[3].latent, runs[None].latent,
                               rtol=0, atol=0)
    np.testing.assert_array_equal(runs[3].image, runs[None].image)
    with pytest.raises(ValueError, match='frame_interval must be an integer'):
        drag(tiny_model, HANDLES, TARGETS, seed=3, frame_interval=0, **FAST)


def test_drag_runs_a_built_model(tiny_config, tiny_model):
    """Building is init_model's (or the inferencer's) job: drag() takes
    the built model and names the fix for a config."""
    with pytest.raises(ValueError, match=r'init_model\(CONFIG'):
        drag(tiny_config, HANDLES, TARGETS, **FAST)


def test_inputs_are_read_and_frames_drawn_once(tmp_path, tiny_model,
                                               monkeypatch):
    """A latent and a mask file are each read once (with the model's shape
    and size), and the trajectory is drawn once for the video and the
    returned frames."""
    import importlib

    import mmagic_draggan.fileio.bundle as bundle
    import mmagic_draggan.models.draggan as draggan
    from mmagic_draggan.fileio import save_latent
    # the module (the package's `drag` is the function)
    drag_api = importlib.import_module('mmagic_draggan.apis.drag')
    latent = save_latent(tiny_model.latent_from_seed(3).cpu(),
                         tmp_path / 'w.pt')
    mask = np.zeros((64, 64), np.uint8)
    mask[8:56, 8:56] = 255
    Image.fromarray(mask).save(tmp_path / 'm.png')
    calls = []

    def counted(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    counted(draggan, 'read_latent')
    counted(drag_api, 'read_mask')
    counted(drag_api, 'trajectory_frames')
    counted(bundle, 'trajectory_frames')
    out = drag(tiny_model, HANDLES, TARGETS, latent=str(latent),
               mask=str(tmp_path / 'm.png'), max_steps=2,
               out_dir=str(tmp_path / 'run'), **FAST)
    assert sorted(calls) == ['read_latent', 'read_mask', 'trajectory_frames']
    assert len(out.frames) == 3 and osp.isfile(out.paths['gif'])
