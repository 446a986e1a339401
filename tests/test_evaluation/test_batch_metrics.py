"""Drag metrics arithmetic, the visualization hook and run_tasks in-process."""
import json
import math
import types

import numpy as np
import pytest
import torch
from mmengine.dist import collect_results

from mmagic_draggan.registry import METRICS


def sample(final=3., initial=9., steps=4, converged=False, seconds=1.5,
           start=None, end=None, mask=None):
    start = np.zeros((4, 4, 3), np.uint8) if start is None else start
    return dict(final_distance=final, initial_distance=initial, steps=steps,
                converged=converged, seconds=seconds, start_image=start,
                final_image=start if end is None else end, mask=mask)


def evaluate(metric_type, samples, size=None):
    metric = METRICS.build(dict(type=metric_type))
    metric.process({}, samples)
    return metric.evaluate(len(samples) if size is None else size)


def test_scalar_metrics_average_over_tasks():
    samples = [sample(1., 5., 3, True, 1.), sample(4., 8., 10, False, 3.),
               sample(7., 11., 2, True, 2.)]
    assert evaluate('DragDistance', samples) == {
        'drag/final_distance': pytest.approx(4.),
        'drag/initial_distance': pytest.approx(8.)}
    assert evaluate('ConvergenceRate', samples) == {
        'drag/convergence_rate': pytest.approx(2 / 3)}
    assert evaluate('DragSteps', samples) == {'drag/steps': pytest.approx(5)}
    assert evaluate('DragTime', samples) == {'drag/seconds': pytest.approx(2)}


def test_padding_repeats_are_not_counted():
    """The sampler's repeats sit at the end and evaluate(size) drops them."""
    samples = [sample(final=2.), sample(final=4.), sample(final=100.)]
    assert evaluate('DragDistance', samples, size=2)[
        'drag/final_distance'] == pytest.approx(3.)
    assert collect_results([1, 2, 3], 2, device='cpu') == [1, 2]


def test_masked_change_outside_mask_only():
    start = np.zeros((4, 4, 3), np.uint8)
    end = start.copy()
    end[:2] = 51  # top half changed by 51 = 0.2 on the 0-1 scale
    mask = np.zeros((4, 4), bool)
    mask[:2] = True  # ... and the top half may change
    res = evaluate('MaskedChange', [sample(start=start, end=end, mask=mask)])
    assert res == {'drag/masked_l1': 0., 'drag/masked_psnr': math.inf}
    res = evaluate('MaskedChange', [sample(start=start, end=end)])  # no mask
    assert res['drag/masked_l1'] == pytest.approx(0.1)
    mse = 51.**2 / 2
    assert res['drag/masked_psnr'] == pytest.approx(
        10 * math.log10(255**2 / mse))
    # PSNR of the mean MSE: an unchanged task halves the MSE (+3 dB), it
    # does not make the mean infinite; a full mask is left out
    full = np.ones((4, 4), bool)
    res2 = evaluate('MaskedChange', [
        sample(start=start, end=end), sample(), sample(end=end, mask=full)])
    assert res2['drag/masked_l1'] == pytest.approx(0.05)
    assert res2['drag/masked_psnr'] == pytest.approx(
        10 * math.log10(255**2 / (mse / 2)))
    only_full = evaluate('MaskedChange', [sample(end=end, mask=full)])
    assert all(math.isnan(v) for v in only_full.values())
    with pytest.raises(ValueError, match=r'mask must be \(4, 4\)'):
        evaluate('MaskedChange', [sample(mask=np.ones((2, 2), bool))])


TASKS = [
    dict(id='t1', seed=3, handles=[[20, 30]], targets=[[28, 30]]),
    dict(id='t2', seed=4, handles=[[40, 40]], targets=[[41, 40]]),  # done
]


def test_run_tasks_and_hook_skip_padding(tiny_model, tmp_path, monkeypatch):
    """predict() runs each task through a DragSession; the hook writes each
    task once, also when it is the second process and sees a repeat."""
    from mmagic_draggan.engine.hooks import drag_visualization_hook as dvh
    mask = np.zeros((64, 64), bool)
    mask[:, 16:48] = True
    from mmagic_draggan.datasets import task_from_dict
    task1 = task_from_dict(dict(TASKS[0], max_steps=2), image_size=64)
    task1.mask = mask
    task2 = task_from_dict(TASKS[1], image_size=64, index=1)
    with pytest.raises(TypeError, match='DragTask'):  # raw dicts: apis
        tiny_model.predict([TASKS[1]])
    with torch.no_grad():  # as in the Runner's test loop
        outs = tiny_model.predict([task1, task2])
    a, b = outs
    assert a['task_id'] == 't1' and a['steps'] == 2 and not a['converged']
    assert a['initial_distance'] == 8. and a['record']['steps'] == 2
    assert a['final_image'].shape == (64, 64, 3)
    assert not np.array_equal(a['final_image'], a['start_image'])
    assert a['mask'] is not None and a['final_latent'].shape[0] == 1
    assert b['converged'] and b['steps'] == 1 and b['final_distance'] == 1.
    np.testing.assert_array_equal(b['final_image'], b['start_image'])
    # the same session by hand gives the same result
    s = tiny_model.new_session(seed=3, max_steps=2)
    s.set_points([[20, 30]], [[28, 30]])
    s.set_mask(mask)
    torch.testing.assert_close(s.run().latent, a['final_latent'])

    # hook as rank 1 of 2 over a dataset of 3: its 2nd sample is a repeat
    monkeypatch.setattr(dvh, 'get_dist_info', lambda: (1, 2))
    hook = dvh.DragVisualizationHook(save_gif=True, gif_interval=1)
    model = types.SimpleNamespace(drag_hooks=[])
    runner = types.SimpleNamespace(
        work_dir=str(tmp_path), model=model,
        test_dataloader=types.SimpleNamespace(dataset=[0, 1, 2]))
    hook.before_test_epoch(runner)
    assert model.drag_hooks == [dict(type='TrajectoryRecorderHook',
                                     interval=1, max_frames=200)]
    hook.after_test_iter(runner, 0, None, [a])  # position 1: task t1
    hook.after_test_iter(runner, 1, None, [b])  # position 3 >= 3: repeat
    assert sorted(p.name for p in (tmp_path / 'drags').iterdir()) == ['t1']
    bundle = tmp_path / 'drags' / 't1'  # the CLI's and demo's bundle
    files = sorted(p.name for p in bundle.iterdir())
    assert files == ['curves.png', 'latent.pt', 'mask.png', 'result.png',
                     'session.json', 'start.png']  # no GIF: no trajectory
    record = json.loads((bundle / 'session.json').read_text())
    assert record['format'] == 'mmagic-draggan/session'
    assert record['version'] == 2 and record['id'] == 't1'
    assert record['mask_file'] == 'mask.png' and record['steps'] == 2
    from mmagic_draggan.fileio import read_session
    loaded = read_session(str(bundle / 'session.json'))
    assert loaded.final_latent_file == str(bundle / 'latent.pt')
    hook._size = 2  # single process keeps all: records of both come back
    hook.after_test_epoch(runner, {'drag/steps': 2.0})
    assert model.drag_hooks == []
    summary = json.loads((tmp_path / 'results.json').read_text())
    assert summary['metrics'] == {'drag/steps': 2.0}
    assert summary['tasks'][0]['id'] == 't1'
    assert summary['tasks'][1] == {'padding': True}


def test_gif_frames_come_from_the_recorder(tiny_model, tmp_path):
    from mmagic_draggan.engine.hooks import DragVisualizationHook
    tiny_model.drag_hooks.append(dict(type='TrajectoryRecorderHook',
                                      interval=1))
    try:
        from mmagic_draggan.apis import run_tasks
        out, = run_tasks(tiny_model, [dict(TASKS[0], max_steps=2)])
    finally:
        tiny_model.drag_hooks.pop()
    # the image each step tracked on, then the final image
    assert [f.step for f in out['trajectory']] == [1, 2, 2]
    hook = DragVisualizationHook(save_gif=True)
    runner = types.SimpleNamespace(
        work_dir=str(tmp_path), model=types.SimpleNamespace(drag_hooks=[]),
        test_dataloader=types.SimpleNamespace(dataset=[0]))
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0, None, [out])
    from PIL import Image
    with Image.open(tmp_path / 'drags' / 't1' / 'trajectory.gif') as gif:
        # the 3 frames (the bundle writer holds the last one half a second)
        assert gif.n_frames in (3, 3 + 10 // 2) and gif.size == (64, 64)
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info['duration'])
    assert sum(durations) == pytest.approx((3 + 10 // 2) * 100, abs=20)
