"""tools/test.py end to end: one process, then two under torchrun (gloo).

The single run uses seeded random weights (CHECKPOINT ``none``); the
distributed run loads a whole-GAN checkpoint file holding those same weights
(``generator_ema.module.*`` plus a generator and a discriminator to ignore).
The drag is deterministic on the CPU with one thread, so every per-task
result and every metric but the time must be equal, each task must run and
be written exactly once although 5 tasks over 2 processes make the sampler
repeat one.
"""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.e2e

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'configs', 'draggan', 'draggan_stylegan2_tiny-64x64.py')
TEST_PY = osp.join(ROOT, 'tools', 'test.py')
IDS = ['seed-a', 'seed-b', 'masked', 'latent', 'near']
TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def env():
    e = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    e.pop('RANK', None)
    e.pop('WORLD_SIZE', None)
    return e


@pytest.fixture(scope='module')
def tasks_file(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp('tasks')
    mask = np.zeros((64, 64), np.uint8)
    mask[8:40, 8:56] = 255
    Image.fromarray(mask).save(folder / 'mask.png')
    torch.save(tiny_model.latent_from_seed(11), folder / 'start.pt')
    tasks = [
        dict(id='seed-a', seed=1, handles=[[20, 30]], targets=[[28, 30]]),
        dict(id='seed-b', seed=2, handles=[[40, 20], [12, 50]],
             targets=[[40, 28], [18, 50]], lr=0.01),
        dict(id='masked', seed=3, handles=[[32, 24]], targets=[[40, 24]],
             mask_file='mask.png'),
        dict(id='latent', latent_file='start.pt', handles=[[30, 30]],
             targets=[[30, 37]], latent_space='w'),
        dict(id='near', seed=5, handles=[[44, 44]], targets=[[45, 44]]),
    ]
    path = folder / 'tasks.jsonl'
    path.write_text(''.join(json.dumps(t) + '\n' for t in tasks))
    return str(path)


@pytest.fixture(scope='module')
def whole_gan_checkpoint(tmp_path_factory, tiny_model):
    """The random weights of init_model(seed 0) in MMagic's whole-GAN
    layout, with a different plain generator and a discriminator."""
    sd = tiny_model.generator.state_dict()
    ckpt = {f'generator_ema.module.{k}': v.clone() for k, v in sd.items()}
    ckpt.update({f'generator.{k}': torch.randn_like(v.float())
                 for k, v in sd.items()})
    ckpt['discriminator.fc.weight'] = torch.zeros(3, 3)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny_gan.pth'
    torch.save(dict(state_dict=ckpt, meta=dict(iter=1)), path)
    return str(path)


def run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def load_run(work_dir):
    with open(osp.join(work_dir, 'results.json')) as f:
        summary = json.load(f)
    records = {}
    for tid in IDS:
        with open(osp.join(work_dir, 'drags', tid, 'session.json')) as f:
            records[tid] = json.load(f)
    return summary, records


@pytest.fixture(scope='module')
def single_run(tmp_path_factory, tasks_file):
    work = tmp_path_factory.mktemp('single')
    out = run([sys.executable, TEST_PY, TINY, 'none', '--tasks', tasks_file,
               '--work-dir', str(work / 'wd'), '--out',
               str(work / 'metrics.json'), '--gif', '--cfg-options',
               'model.max_steps=5'], cwd=str(work))
    return str(work / 'wd'), out, json.loads(
        (work / 'metrics.json').read_text())


@pytest.fixture(scope='module')
def dist_run(tmp_path_factory, tasks_file, whole_gan_checkpoint):
    work = tmp_path_factory.mktemp('dist')
    out = run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
        '2', '--master_addr', '127.0.0.1', '--master_port',
        str(free_port()), TEST_PY, TINY, whole_gan_checkpoint, '--tasks',
        tasks_file, '--work-dir', str(work / 'wd'), '--launcher', 'pytorch',
        '--out', str(work / 'metrics.json'), '--cfg-options',
        'model.max_steps=5'
    ], cwd=str(work))
    return str(work / 'wd'), out, json.loads(
        (work / 'metrics.json').read_text())


def test_single_process_metrics_and_files(single_run, tasks_file):
    work_dir, out, metrics = single_run
    assert '| drag/final_distance |' in out  # the printed table
    assert set(metrics) == {
        'drag/final_distance', 'drag/initial_distance',
        'drag/convergence_rate', 'drag/steps', 'drag/seconds',
        'drag/masked_l1', 'drag/masked_psnr'}
    summary, records = load_run(work_dir)
    assert summary['metrics'] == metrics
    tasks = summary['tasks']
    assert [t['id'] for t in tasks] == IDS
    assert [t['sample_idx'] for t in tasks] == list(range(5))
    # metrics are the means of the per-task results
    assert metrics['drag/final_distance'] == pytest.approx(
        np.mean([t['final_distance'] for t in tasks]))
    assert metrics['drag/initial_distance'] == pytest.approx(
        np.mean([8, 7, 8, 7, 1]))
    assert metrics['drag/steps'] == pytest.approx(
        np.mean([t['steps'] for t in tasks]))
    assert metrics['drag/convergence_rate'] == pytest.approx(
        np.mean([t['converged'] for t in tasks]))
    assert records['near']['converged'] and records['near']['steps'] == 1
    assert all(1 <= records[t]['steps'] <= 5 for t in IDS)
    assert metrics['drag/final_distance'] < metrics['drag/initial_distance']
    assert 0 < metrics['drag/masked_l1'] < 1
    assert 10 < metrics['drag/masked_psnr'] < 100
    # per-task files, and the session JSONs say what ran
    drags = osp.join(work_dir, 'drags')
    for tid in IDS:  # one bundle per task, as the CLI and the demo write
        for name in ('result.png', 'start.png', 'latent.pt',
                     'trajectory.gif', 'curves.png', 'session.json'):
            assert osp.isfile(osp.join(drags, tid, name)), (tid, name)
        assert set(records[tid]['files']) >= {'result', 'latent', 'gif'}
    assert osp.isfile(osp.join(drags, 'masked', 'mask.png'))
    assert records['masked']['mask_file'] == 'mask.png'
    assert records['seed-b']['hyper_parameters']['lr'] == 0.01
    assert records['latent']['hyper_parameters']['latent_space'] == 'w'
    assert records['latent']['latent_file'] == 'start_latent.pt'
    assert records['latent']['id'] == 'latent'
    torch.testing.assert_close(  # the bundle holds its own start latent
        torch.load(osp.join(drags, 'latent', 'start_latent.pt')),
        torch.load(osp.join(osp.dirname(tasks_file), 'start.pt')),
        rtol=0, atol=0)
    assert records['seed-a']['random_weights'] is True
    with Image.open(osp.join(drags, 'seed-a', 'result.png')) as im:
        assert im.size == (64, 64) and im.mode == 'RGB'


def test_two_processes_run_each_task_once_same_results(single_run, dist_run):
    work_1, _, metrics_1 = single_run
    work_2, out, metrics_2 = dist_run
    summary_1, records_1 = load_run(work_1)
    summary_2, records_2 = load_run(work_2)
    # every task once, in dataset order, spread over both ranks
    assert [t['id'] for t in summary_2['tasks']] == IDS
    assert {t['rank'] for t in summary_2['tasks']} == {0, 1}
    assert sorted(os.listdir(osp.join(work_2, 'drags'))) == sorted(IDS)
    # loaded from the checkpoint, identical weights -> identical drags
    assert records_2['seed-a']['random_weights'] is False
    assert records_2['seed-a']['checkpoint'].endswith('tiny_gan.pth')
    for tid in IDS:
        for key in ('final_handles', 'steps', 'converged', 'mean_distance',
                    'history'):
            assert records_1[tid][key] == records_2[tid][key], (tid, key)
        torch.testing.assert_close(
            torch.load(osp.join(work_1, 'drags', tid, 'latent.pt')),
            torch.load(osp.join(work_2, 'drags', tid, 'latent.pt')),
            rtol=0, atol=0)
    # the repeated sample is not counted: the metrics are equal
    for key, value in metrics_1.items():
        if key != 'drag/seconds':
            assert metrics_2[key] == pytest.approx(value, rel=1e-12), key
    assert metrics_2['drag/seconds'] > 0
