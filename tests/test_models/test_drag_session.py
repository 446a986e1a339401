"""The DragSession API: rows, convergence, resume, modes, validation."""
import numpy as np
import pytest
import torch

HANDLE, TARGET = [24., 32.], [32., 32.]  # (x, y): 8 px to the right


def new_session(model, **kw):
    s = model.new_session(seed=7, **kw)
    s.set_points([HANDLE], [TARGET])
    return s


def test_only_chosen_rows_change_wplus(tiny_model):
    s = new_session(tiny_model, num_opt_latents=4)
    start = s.latent.clone()
    for _ in range(3):
        s.step()
    end = s.latent
    assert not torch.equal(end[:, :4], start[:, :4])
    torch.testing.assert_close(end[:, 4:], start[:, 4:], rtol=0, atol=0)


def test_w_space_moves_rows_together(tiny_model):
    s = new_session(tiny_model, latent_space='w', num_opt_latents=6)
    start = s.latent.clone()
    for _ in range(3):
        s.step()
    delta = s.latent - start
    assert delta[:, 0].abs().sum() > 0
    for i in range(1, 6):
        torch.testing.assert_close(delta[:, i], delta[:, 0])
    assert delta[:, 6:].abs().sum() == 0


def test_drag_reduces_distance_and_stops_by_rule(tiny_model):
    s = new_session(tiny_model, lr=0.02)
    seen = []
    res = s.run(max_steps=40, callback=seen.append)
    first = res.history[0].mean_distance
    assert first == pytest.approx(8.0)
    assert res.mean_distance < first - 3, [h.mean_distance for h in seen]
    assert len(seen) == res.steps
    if res.converged:
        assert res.stop_reason == 'converged'
        assert res.mean_distance <= s.stop_distance
        assert res.history[-1].loss is None  # no update on the final step
        assert all(h.loss is not None for h in res.history[:-1])


def test_converged_points_are_not_optimised(tiny_model):
    s = tiny_model.new_session(seed=1)
    s.set_points([[10, 10]], [[11, 10]])  # within the 2 px stop distance
    start = s.latent.clone()
    res = s.run(max_steps=5)
    assert res.converged and res.steps == 1
    torch.testing.assert_close(s.latent, start, rtol=0, atol=0)


def test_resume_continues_same_trajectory(tiny_model):
    a = new_session(tiny_model)
    ra = a.run(max_steps=6)
    b = new_session(tiny_model)
    b.run(max_steps=3, callback=lambda r: r.step < 2 or False)  # stop at 2
    assert b.steps_taken == 2
    rb = b.run(max_steps=4)
    assert b.steps_taken == 6
    torch.testing.assert_close(a.latent, b.latent, rtol=0, atol=0)
    assert ra.handles == rb.handles
    assert [h.handles for h in a.history] == [h.handles for h in b.history]


def test_new_points_continue_from_current_latent(tiny_model):
    s = new_session(tiny_model)
    s.run(max_steps=3)
    after = s.latent.clone()
    s.add_point([40, 40], [40, 45])
    s.step()
    # the new drag starts from the edited latent, not the original one
    assert not torch.equal(s.initial_latent, after)
    assert len(s.handles) == 2
    s.reset()
    torch.testing.assert_close(s.latent, s.initial_latent, rtol=0, atol=0)
    assert s.handles == [HANDLE, [40., 40.]]


def test_fast_and_exact_modes_agree(tiny_model):
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    runs = {}
    for mode in ('fast', 'exact'):
        s = new_session(tiny_model, mode=mode)
        s.set_mask(mask)
        res = s.run(max_steps=5)
        runs[mode] = (s.latent, [h.handles for h in res.history],
                      [h.loss for h in res.history])
    torch.testing.assert_close(runs['fast'][0], runs['exact'][0],
                               atol=1e-4, rtol=1e-4)
    assert runs['fast'][1] == runs['exact'][1]
    np.testing.assert_allclose(runs['fast'][2], runs['exact'][2], rtol=1e-4)


def test_step_image_matches_render(tiny_model):
    s = new_session(tiny_model)
    r = s.step(return_image=True)
    assert r.image.shape == (64, 64, 3) and r.image.dtype == np.uint8
    s2 = new_session(tiny_model)
    np.testing.assert_array_equal(r.image, s2.image())


def test_precision_option(tiny_model):
    """precision='bf16' runs the fast synthesis in bf16 where the CPU has
    native bf16 (else fp32); its step images equal its renders, the record
    names what ran, 'exact' mode stays fp32, a bad value is refused."""
    from mmagic_draggan.models.modulated_conv import resolve_precision
    have_bf16 = resolve_precision('bf16', 'cpu') == 'bf16'
    s = new_session(tiny_model, precision='bf16')
    assert s.precision == ('bf16' if have_bf16 else 'fp32')
    r = s.step(return_image=True)
    np.testing.assert_array_equal(
        r.image, new_session(tiny_model, precision='bf16').image())
    assert s.hyper_parameters()['precision'] == s.precision
    ref = new_session(tiny_model)
    assert ref.precision == 'fp32'  # the default
    ref.step()
    assert torch.equal(s.latent, ref.latent) != have_bf16
    assert new_session(tiny_model, precision='bf16',
                       mode='exact').precision == 'fp32'
    with pytest.raises(ValueError, match=r"precision must be one of \["
                       r"'fp32', 'bf16', 'tf32'\]; got 'fp16'"):
        tiny_model.new_session(seed=0, precision='fp16')


@pytest.mark.parametrize('handles,targets,match', [
    ([[70, 3]], [[3, 3]], 'outside the 64x64 image'),
    ([[3, -1]], [[3, 3]], 'outside'),
    ([[float('nan'), 3]], [[3, 3]], 'NaN'),
    ([[3, 3], [4, 4]], [[5, 5]], '2 handles but 1 targets'),
    ([[3, 3, 3]], [[5, 5, 5]], r'\[x, y\] pixel pairs'),
    ('abc', [[5, 5]], r'\[x, y\] pixel pairs'),
])
def test_bad_points_raise_and_keep_state(tiny_model, handles, targets, match):
    s = new_session(tiny_model)
    with pytest.raises(ValueError, match=match):
        s.set_points(handles, targets)
    assert s.handles == [HANDLE] and s.targets == [TARGET]


def test_bad_mask_and_options(tiny_model):
    s = new_session(tiny_model)
    with pytest.raises(ValueError,
                       match=r'mask is 32x32 \(HxW\) but the image is 64x64'):
        s.set_mask(np.ones((32, 32)))
    with pytest.raises(ValueError, match='all zero'):  # the CLI's rule too
        s.set_mask(np.zeros((64, 64)))
    assert s.mask is None  # kept as it was
    with pytest.raises(ValueError, match='NaN'):
        s.set_mask(np.full((64, 64), np.nan))
    with pytest.raises(ValueError, match='unknown DragGAN option'):
        tiny_model.new_session(seed=0, learning_rate=1)
    with pytest.raises(ValueError, match='latent_space'):
        tiny_model.new_session(seed=0, latent_space='z')
    with pytest.raises(ValueError, match='exactly one'):
        tiny_model.new_session()
    with pytest.raises(ValueError, match='shape'):
        tiny_model.new_session(latent=torch.zeros(1, 3, 64))
    with pytest.raises(ValueError, match='NaN'):
        tiny_model.new_session(
            latent=torch.full((1, tiny_model.num_latents, 64), float('nan')))


def test_early_stop_and_trajectory_hooks(tiny_model):
    from mmagic_draggan.engine.hooks import (EarlyStopHook,
                                             TrajectoryRecorderHook)
    rec = TrajectoryRecorderHook(interval=2)
    stop = EarlyStopHook(patience=2)
    s = tiny_model.new_session(seed=7, lr=1e-9, hooks=[rec, stop])
    s.set_points([HANDLE], [TARGET])
    res = s.run(max_steps=20)
    assert stop.triggered and res.stop_reason == 'stopped'
    assert res.steps == 3  # no movement after steps 2 and 3
    steps = [f.step for f in rec.frames]
    assert steps == [1, 3] and rec.frames[-1].handles == res.handles
    # drag hooks are components of their own registry, not the Runner's
    from mmagic.registry import HOOKS

    from mmagic_draggan.registry import DRAG_HOOKS
    built = DRAG_HOOKS.build(dict(type='EarlyStopHook', patience=3))
    assert built.patience == 3
    assert HOOKS.get('EarlyStopHook') is None


def test_trajectory_recorder_thins_out_long_drags(tiny_model):
    from mmagic_draggan.engine.hooks import TrajectoryRecorderHook
    rec = TrajectoryRecorderHook(max_frames=4)
    s = tiny_model.new_session(seed=7, hooks=[rec], stop_distance=0.)
    s.set_points([HANDLE], [TARGET])
    s.run(max_steps=13)
    steps = [f.step for f in rec.frames]
    # thinned to every 4th step over the whole run, plus the final image
    assert steps == [1, 5, 9, 13, 13], steps
    assert len(rec.frames) <= rec.max_frames + 1
    assert rec.interval == 4


@pytest.mark.parametrize('passive', [True, False])
def test_a_passive_recorder_renders_nothing_itself(tiny_model, passive):
    """What the demo runs: its FramePacer decides which steps render; a
    passive recorder keeps those frames and the final image and never asks
    for one (the plain recorder renders every step, defeating the pacer)."""
    from mmagic_draggan.demo.drag_runner import FramePacer
    from mmagic_draggan.engine.hooks import TrajectoryRecorderHook
    clock = [0.]
    pacer = FramePacer(min_interval=10., clock=lambda: clock[0])
    rec = TrajectoryRecorderHook(passive=passive,
                                 max_frames=4 if passive else 1000)
    s = tiny_model.new_session(seed=7, hooks=[rec, pacer], stop_distance=0.)
    s.set_points([HANDLE], [TARGET])
    rendered = []

    def tick(r):
        if r.image is not None:
            rendered.append(r.step)
            pacer.consumed()  # the page took it
        clock[0] += 3.  # each step "takes" 3 s: a frame is due every 4th

    s.run(max_steps=10, callback=tick)
    if not passive:
        assert rendered == list(range(1, 11))
        return
    assert rendered == [5, 9]  # the pacer's frames only
    assert [f.step for f in rec.frames] == [5, 9, 10]  # and the final image
    # over max_frames it keeps every other frame, the first one included
    for _ in range(3):
        s.step(return_image=True)
    assert [f.step for f in rec.frames] == [5, 10, 12, 13]


def test_a_resumed_session_records_what_it_continues(tiny_model):
    """The session's record is complete when it is made: a resume's counts,
    history, time and original seed come in through new_session."""
    from mmagic_draggan.fileio import ResumeInfo
    from mmagic_draggan.structures import StartImage
    prior = ResumeInfo(session_file='/elsewhere/a/session.json', steps=3,
                       seconds=1.5, seed=7, truncation=0.5,
                       history=[dict(step=i, mean_distance=9., loss=.1)
                                for i in (1, 2, 3)])
    s = tiny_model.new_session(
        start=StartImage.create(latent=tiny_model.latent_from_seed(7, .5)),
        resume=prior)
    s.set_points([[24, 32]], [[36, 32]])
    res = s.run(max_steps=2)
    rec = s.record(res)
    assert (rec.seed, rec.start_step, rec.steps, rec.run_steps) == (7, 3, 5, 2)
    assert [h['step'] for h in rec.history] == [1, 2, 3, 4, 5]
    assert rec.seconds == pytest.approx(1.5 + res.seconds)
    assert rec.hyper_parameters['truncation'] == 0.5
    assert rec.resumed_from == '/elsewhere/a/session.json'
    s.reset()  # back to the start of this session, its count included
    assert s.steps_taken == 3 and s.history == []
    with pytest.raises(ValueError, match='give start= or'):
        tiny_model.new_session(start=StartImage(seed=1), seed=2)
