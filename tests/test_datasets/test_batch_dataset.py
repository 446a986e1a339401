"""DragTaskDataset: task files, validation messages, loading; make_tasks."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmagic_draggan.datasets import DragTask, DragTaskDataset, TaskError
from mmagic_draggan.registry import DATASETS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GOOD = dict(id='a', seed=1, handles=[[10, 20]], targets=[[18, 20]])


def write_jsonl(path, tasks):
    path.write_text('\n'.join(json.dumps(t) for t in tasks) + '\n')
    return str(path)


def build(path, image_size=64):
    return DATASETS.build(
        dict(type='DragTaskDataset', ann_file=str(path),
             image_size=image_size))


def test_jsonl_and_json_files_load(tmp_path):
    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 10:40] = 255
    Image.fromarray(mask).save(tmp_path / 'm.png')
    torch.save(torch.zeros(1, 10, 64), tmp_path / 'w.pt')
    np.save(tmp_path / 'w.npy', np.ones((10, 64), np.float32))
    tasks = [
        dict(GOOD, truncation=0.5),
        dict(id='b', latent_file='w.pt', handles=[[1, 2], [3, 4]],
             targets=[[5, 6], [7, 8]], mask_file='m.png', lr=0.01,
             max_steps=7, latent_space='w', stop_distance=None),
        dict(latent_file='w.npy', handles=[[1, 2]], targets=[[5, 6]]),
    ]
    ds = build(write_jsonl(tmp_path / 't.jsonl', tasks))
    assert len(ds) == 3
    a, b, c = (ds[i]['inputs'] for i in range(3))
    assert isinstance(a, DragTask) and a.task_id == 'a' and a.seed == 1
    assert a.truncation == 0.5 and a.start.kind == 'seed'
    assert a.handles == [[10., 20.]] and a.mask is None and a.latent is None
    assert b.options == dict(lr=0.01, max_steps=7, latent_space='w',
                             stop_distance=None)
    assert b.mask.dtype == bool and b.mask.shape == (64, 64)
    assert b.mask.sum() == 20 * 30 and b.mask[15, 20] and not b.mask[5, 5]
    assert b.latent.shape == (1, 10, 64)
    assert b.mask_file == str(tmp_path / 'm.png')
    assert c.task_id == 'task-00002' and c.truncation is None
    assert c.start.kind == 'latent' and c.seed is None
    assert c.latent.shape == (1, 10, 64) and c.sample_idx == 2  # (L, C) read as W+
    # a JSON list and {"tasks": [...]} give the same tasks
    (tmp_path / 'l.json').write_text(json.dumps(tasks))
    (tmp_path / 'o.json').write_text(json.dumps(dict(tasks=tasks)))
    for name in ('l.json', 'o.json'):
        other = build(tmp_path / name)
        assert [other[i]['inputs'].task_id for i in range(3)] == \
            ['a', 'b', 'task-00002']


@pytest.mark.parametrize('task,match', [
    (dict(GOOD, handle=[[1, 1]]), r"unknown field\(s\) \['handle'\]"),
    (dict(GOOD, seed=None), 'exactly one of "seed"'),
    (dict(GOOD, latent_file='w.pt'),
     'give a "seed" or a "latent_file", not both'),
    (dict(GOOD, seed=None, latent_file='w.pt', truncation=0.5),
     '"truncation" applies to a "seed" only'),
    (dict(GOOD, seed=-3), '"seed" must be an integer'),
    (dict(GOOD, seed=1.5), '"seed" must be an integer'),
    (dict(GOOD, handles=[[70, 3]]), r'handles \[\[70.0, 3.0\]\] lie '
     'outside the 64x64 image'),
    (dict(GOOD, targets=[[3, 3], [4, 4]]), '1 handles but 2 targets'),
    (dict(GOOD, handles=[]), '0 handles but 1 targets'),
    (dict(GOOD, handles=[], targets=[]), 'no points'),
    (dict(GOOD, handles=[[1, 'x']]), r'\[x, y\] pixel pairs \(numbers\)'),
    (dict(GOOD, targets=[[1, float('nan')]]), 'NaN or inf'),
    (dict(GOOD, mask_file='nope.png'), '"mask_file" file .* does not exist'),
    (dict(GOOD, lr='fast'), '"lr": lr must be a number'),
    (dict(GOOD, max_steps=2.5), '"max_steps": max_steps must be a whole'),
    (dict(GOOD, id='a/b'), 'names the output files'),
    (dict(GOOD, truncation='x'), '"truncation" must be a finite number'),
    ([1, 2], 'must be a JSON object'),
])
def test_bad_tasks_name_line_task_and_field(tmp_path, task, match):
    path = write_jsonl(tmp_path / 'tasks.jsonl', [dict(GOOD, id='ok'), task])
    with pytest.raises(TaskError, match=match) as info:
        build(path)
    assert 'tasks.jsonl line 2' in str(info.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(TaskError, match='no task file given'):
        build('')
    with pytest.raises(TaskError, match='does not exist.*make_tasks'):
        build(tmp_path / 'missing.jsonl')
    (tmp_path / 'bad.jsonl').write_text(json.dumps(GOOD) + '\n{"id": \n')
    with pytest.raises(TaskError, match='bad.jsonl line 2 is not valid JSON'):
        build(tmp_path / 'bad.jsonl')
    (tmp_path / 'empty.jsonl').write_text('\n\n')
    with pytest.raises(TaskError, match='holds no tasks'):
        build(tmp_path / 'empty.jsonl')
    path = write_jsonl(tmp_path / 'dup.jsonl', [GOOD, GOOD])
    with pytest.raises(TaskError, match="id 'a' is used twice"):
        build(path)


def test_mask_size_and_latent_contents_are_checked(tmp_path):
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / 's.png')
    path = write_jsonl(tmp_path / 't.jsonl', [dict(GOOD, mask_file='s.png')])
    with pytest.raises(TaskError, match=r'is 32x32 \(HxW\) but the image is '
                       '64x64'):
        build(path)
    assert len(build(path, image_size=None)) == 1  # unchecked without size
    torch.save({'other': torch.zeros(3)}, tmp_path / 'd.pt')
    task = dict(latent_file='d.pt', handles=[[1, 1]], targets=[[2, 2]])
    ds = build(write_jsonl(tmp_path / 'l.jsonl', [task]))
    with pytest.raises(TaskError, match='dict without a latent / w / ws'):
        ds[0]


def test_model_checks_name_the_task(tiny_model, tmp_path):
    from mmagic_draggan.apis.batch import check_tasks
    torch.save(torch.zeros(1, 3, 64), tmp_path / 'w.pt')
    tasks = [GOOD, dict(id='bad-lr', seed=0, handles=[[1, 1]],
                        targets=[[5, 5]], lr=-1.0)]
    # option values are checked when the dataset is built (no model yet)
    with pytest.raises(TaskError,
                       match="task 'bad-lr'\\): \"lr\": lr must be > 0"):
        build(write_jsonl(tmp_path / 'a.jsonl', tasks))
    # what needs the model (rows of the latent) is checked before any drag
    tasks = [dict(GOOD, id='rows', num_opt_latents=50)]
    with pytest.raises(TaskError, match="task 'rows': num_opt_latents"):
        check_tasks(tiny_model, build(write_jsonl(tmp_path / 'c.jsonl',
                                                  tasks)))
    tasks = [dict(id='short', latent_file='w.pt', handles=[[1, 1]],
                  targets=[[5, 5]])]
    with pytest.raises(TaskError, match="task 'short': latent has shape"):
        check_tasks(tiny_model, build(write_jsonl(tmp_path / 'b.jsonl',
                                                  tasks)))


def _make_tasks_module():
    spec = importlib.util.spec_from_file_location(
        'make_tasks', osp.join(ROOT, 'tools', 'make_tasks.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('mode', ['random', 'grid'])
def test_make_tasks_points_inside_at_distance(tmp_path, mode):
    mt = _make_tasks_module()
    tasks = mt.make_tasks(64, num=6, mode=mode, points=3, distance=10,
                          seed=4, mask_margin=3)
    assert [t['seed'] for t in tasks] == list(range(4, 10))
    for t in tasks:
        assert len(t['handles']) == len(t['targets']) == 3
        for h, g in zip(t['handles'], t['targets']):
            assert all(0 <= c <= 63 for c in h + g)
            assert abs(np.hypot(g[0] - h[0], g[1] - h[1]) - 10) <= 0.75
            assert t['_mask'][h[1], h[0]] == 255
    assert mt.make_tasks(64, 2, mode, 1, 10, 4) == \
        mt.make_tasks(64, 2, mode, 1, 10, 4)  # reproducible
    with pytest.raises(ValueError, match='does not fit'):
        mt.make_tasks(64, 1, mode, 1, distance=64)
    # the written file is a valid task file for the dataset
    out = tmp_path / 'gen.jsonl'
    for t in tasks:
        t.pop('_mask')
    write_jsonl(out, tasks)
    assert len(build(out)) == 6


@pytest.mark.e2e
def test_make_tasks_cli_writes_masks(tmp_path):
    import subprocess
    import sys
    out = tmp_path / 'sub' / 'tasks.jsonl'
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'make_tasks.py'),
         osp.join(ROOT, 'configs/draggan/draggan_stylegan2_tiny-64x64.py'),
         '--num', '3', '--points', '2', '--mask-margin', '4', '-o',
         str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ds = build(out)
    assert len(ds) == 3 and ds[2]['inputs'].mask.any()
    assert isinstance(ds, DragTaskDataset)
