"""The OpenMMLab way: composable ``_base_`` configs, MMEngine's own loading
paths (``load_from``, ``load_checkpoint``, ``init_cfg`` Pretrained,
``load_state_dict``) and MMagic's own ``tools/test.py`` on our configs.

MMagic's ``tools/test.py`` and ours run the shipped 64 px task file on the
tiny config with a whole-GAN checkpoint; every metric but the wall-clock
``drag/seconds`` and every per-task result must be equal.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

import mmagic
from mmagic_draggan.checkpoints.loader import CheckpointError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'configs', 'draggan', 'draggan_stylegan2_tiny-64x64.py')
OUR_TEST = osp.join(ROOT, 'tools', 'test.py')
MMAGIC_TEST = osp.join(osp.dirname(mmagic.__file__), '.mim', 'tools',
                       'test.py')
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'draggan', '*.py')))
BASES = [
    'configs/_base_/models/draggan_stylegan2.py',
    'configs/_base_/datasets/drag_tasks_64.py',
    'configs/_base_/default_runtime.py'
]
TIMEOUT = 900


# ----------------------------------------------------------------------
# configs
@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_every_config_is_complete_for_mmagic_tools(path):
    cfg = Config.fromfile(path, import_custom_modules=False)
    for key in ('model', 'test_dataloader', 'test_cfg', 'test_evaluator',
                'default_scope', 'custom_imports', 'default_hooks',
                'env_cfg'):
        assert cfg.get(key) is not None, key
    dataset = cfg.test_dataloader.dataset
    size = cfg.model.generator.out_size
    assert dataset.image_size == size
    assert dataset.ann_file == f'data/drag_tasks/drag_tasks_{size}.jsonl'
    assert osp.isfile(osp.join(ROOT, dataset.ann_file))


def test_bases_compose_the_openmmlab_way(tmp_path):
    """model + dataset + runtime bases in one _base_ list: no key twice."""
    own = tmp_path / 'my_draggan.py'
    own.write_text(
        '_base_ = [' + ', '.join(repr(osp.join(ROOT, b)) for b in BASES) +
        ']\nmodel = dict(generator=dict(out_size=64, style_channels=64, '
        'num_mlps=2, channel_multiplier=1), feat_idx=3)\n')
    cfg = Config.fromfile(str(own), import_custom_modules=False)
    assert cfg.default_scope == 'mmagic'
    assert cfg.model.type == 'DragGAN'
    assert cfg.test_dataloader.dataset.type == 'DragTaskDataset'
    # and the other way round: the tiny config itself over every base
    tiny = Config.fromfile(TINY, import_custom_modules=False)
    assert tiny.test_cfg == dict(type='TestLoop')
    # each top-level key lives in exactly one base
    seen = {}
    for rel in BASES:
        keys = Config.fromfile(osp.join(ROOT, rel),
                               import_custom_modules=False).keys()
        for key in keys:
            assert key not in seen, f'{key} in {rel} and {seen[key]}'
            seen[key] = rel


def test_ann_file_swaps_with_cfg_options(tmp_path, tiny_model):
    from mmagic_draggan.apis.batch import batch_config
    tasks = tmp_path / 'mine.jsonl'
    tasks.write_text(json.dumps(dict(id='mine', seed=1, handles=[[10, 10]],
                                     targets=[[14, 10]])) + '\n')
    cfg = batch_config(
        TINY, cfg_options={'test_dataloader.dataset.ann_file': str(tasks)})
    from mmagic_draggan.registry import DATASETS
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert [dataset[i]['inputs'].task_id for i in range(len(dataset))] == \
        ['mine']
    # a dataset of another size than the model is refused before any drag
    with pytest.raises(ValueError, match='drag_tasks_64.py'):
        batch_config(TINY,
                     cfg_options={'test_dataloader.dataset.image_size': 256})


def test_shipped_tasks_are_found_from_another_folder(tmp_path, monkeypatch):
    from mmagic_draggan.registry import DATASETS
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(TINY, import_custom_modules=False)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == 3
    assert dataset[2]['inputs'].mask is not None  # the masked task


# ----------------------------------------------------------------------
# MMEngine's loading paths
def _layouts(model):
    """Every layout a file may have, with the generator state it holds."""
    ema = {k: v.clone() for k, v in model.generator.state_dict().items()}
    plain = {k: torch.randn_like(v.float()) for k, v in ema.items()}
    disc = {'discriminator.fc.weight': torch.zeros(3, 3)}

    def prefixed(prefix, sd):
        return {prefix + k: v for k, v in sd.items()}

    whole = dict(prefixed('generator_ema.module.', ema),
                 **prefixed('generator.', plain), **disc)
    return {
        'whole-gan ema.module (state_dict)': (dict(state_dict=whole), ema),
        'whole-gan ema.module (top level)': (whole, ema),
        'generator_ema.': (dict(state_dict=dict(
            prefixed('generator_ema.', ema), **prefixed('generator.', plain),
            **disc)), ema),
        'generator. (DragGAN model)': (dict(
            state_dict=prefixed('generator.', plain)), plain),
        'bare generator': (dict(ema), ema),
        'bare generator (state_dict)': (dict(state_dict=dict(ema)), ema),
    }


def _fresh_model(seed=5):
    from mmagic_draggan.apis import init_model
    return init_model(TINY, random_weights=True, seed=seed, device='cpu')


def _assert_generator(model, expected):
    got = model.generator.state_dict()
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value.to(got[key].dtype)), key


def test_load_checkpoint_accepts_every_layout(tmp_path, tiny_model):
    """mmengine.runner.load_checkpoint: Runner.load_checkpoint (load_from)
    and init_cfg Pretrained both go through it."""
    from mmengine.runner import load_checkpoint
    for name, (ckpt, expected) in _layouts(tiny_model).items():
        path = tmp_path / 'ckpt.pth'
        torch.save(ckpt, path)
        model = _fresh_model()
        model.checkpoint_info = None  # as the Runner builds it
        load_checkpoint(model, str(path), map_location='cpu', strict=True)
        _assert_generator(model, expected)
        info = model.checkpoint_info
        assert info['source'] == 'state_dict' and not info['random_weights']
        assert info['ema'] == ('ema' in name), name


def test_runner_load_checkpoint_and_init_cfg(tmp_path, tiny_model):
    from mmengine.runner import Runner

    import mmagic_draggan  # noqa: F401
    from mmagic_draggan.apis import init_model
    from mmagic_draggan.registry import MODELS
    ckpt, expected = _layouts(tiny_model)['whole-gan ema.module (state_dict)']
    path = str(tmp_path / 'gan.pth')
    torch.save(ckpt, path)
    cfg = Config.fromfile(TINY)
    # Runner.load_checkpoint, as load_from does
    runner = Runner(model=MODELS.build(cfg.model), work_dir=str(tmp_path),
                    default_scope='mmagic')
    runner.load_checkpoint(path)
    _assert_generator(runner.model, expected)
    # init_cfg=dict(type='Pretrained') through init_weights()
    model = MODELS.build(
        dict(cfg.model, init_cfg=dict(type='Pretrained', checkpoint=path)))
    model.init_weights()
    _assert_generator(model, expected)
    # ... and through init_model without a checkpoint argument
    model = init_model(TINY, device='cpu', cfg_options={
        'model.init_cfg': dict(type='Pretrained', checkpoint=path)})
    _assert_generator(model, expected)
    assert model.checkpoint_info['path'] == path


def test_load_state_dict_round_trip_is_strict(tiny_model):
    model = _fresh_model(seed=9)
    model.load_state_dict(tiny_model.state_dict(), strict=True)
    _assert_generator(model, tiny_model.generator.state_dict())


def test_checkpoints_that_do_not_fit_fail_loudly(tmp_path, tiny_model):
    from mmengine.runner import load_checkpoint
    sd = tiny_model.generator.state_dict()
    bad = {
        'no generator': {'discriminator.fc.weight': torch.zeros(3)},
        'missing keys': {f'generator_ema.{k}': v for k, v in sd.items()
                         if 'style_mapping' not in k},
        'wrong shapes': {f'generator_ema.{k}': torch.zeros(v.shape[0] + 1)
                         if k == 'style_mapping.1.bias' else v
                         for k, v in sd.items()},
    }
    for name, state in bad.items():
        path = tmp_path / 'bad.pth'
        torch.save(dict(state_dict=state), path)
        model = _fresh_model()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(CheckpointError):
            load_checkpoint(model, str(path), map_location='cpu')
        with pytest.raises(CheckpointError):
            model.load_state_dict(state)
        _assert_generator(model, {k[len('generator.'):]: v
                                  for k, v in before.items()})  # untouched
        assert model.checkpoint_info['random_weights']  # init_model's


def test_runner_model_without_weights_refuses_to_drag():
    from mmagic_draggan.registry import MODELS
    cfg = Config.fromfile(TINY)
    model = MODELS.build(cfg.model)
    assert model.checkpoint_info is None
    with pytest.raises(CheckpointError, match='no weights loaded'):
        model.predict([])


# ----------------------------------------------------------------------
# MMagic's tools/test.py and ours on the same tasks
def _run_all(cmds, cwd):
    """Run several commands at once, one thread each (output to files, so
    that no pipe fills up); their outputs, by name. Each must succeed."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    procs = {}
    for name, cmd in cmds.items():
        log = open(osp.join(cwd, f'{name}.log'), 'w+')
        procs[name] = (subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, text=True),
                       log)
    outs = {}
    try:
        for name, (proc, log) in procs.items():
            proc.wait(timeout=TIMEOUT)
            log.seek(0)
            outs[name] = log.read()
            assert proc.returncode == 0, f'{name}: ' + outs[name][-6000:]
    finally:
        for proc, log in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    return outs


def _results(work_dir):
    with open(osp.join(work_dir, 'results.json')) as f:
        summary = json.load(f)
    tasks = summary['tasks']
    for task in tasks:
        with open(osp.join(work_dir, 'drags', task['bundle'],
                           'session.json')) as f:
            record = json.load(f)
        task['record_handles'] = record.get('handles')
    return summary['metrics'], tasks


@pytest.mark.e2e
def test_mmagic_tools_test_and_mim_give_our_metrics(tmp_path, tiny_model):
    assert osp.isfile(MMAGIC_TEST), MMAGIC_TEST
    sd = tiny_model.generator.state_dict()  # weights that move the handles
    ckpt = {f'generator_ema.module.{k}': v.clone() for k, v in sd.items()}
    ckpt.update({f'generator.{k}': torch.randn_like(v.float())
                 for k, v in sd.items()})
    ckpt['discriminator.fc.weight'] = torch.zeros(3, 3)
    path = str(tmp_path / 'tiny_gan.pth')
    torch.save(dict(state_dict=ckpt, meta=dict(iter=1)), path)
    opts = ['--cfg-options', 'model.max_steps=8']
    # openmim (requirements/mim.txt) runs mmagic's tools/test.py for us
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    assert osp.isfile(mim), 'mim missing: bash tools/setup_env.sh installs it'
    tools = dict(mmagic=[sys.executable, MMAGIC_TEST, TINY, path],
                 ours=[sys.executable, OUR_TEST, TINY, path],
                 mim=[mim, 'test', 'mmagic', TINY, '--checkpoint', path])
    outs = _run_all(
        {name: cmd + ['--work-dir', str(tmp_path / name),
                      '--out', str(tmp_path / f'{name}.json')] + opts
         for name, cmd in tools.items()}, cwd=str(tmp_path))
    out = outs['mim']
    assert MMAGIC_TEST in out or 'Testing finished' in out, out[-2000:]
    runs = {}
    for name in tools:
        with open(tmp_path / f'{name}.json') as f:
            runs[name] = (json.load(f), ) + _results(str(tmp_path / name))
    mim_metrics, mim_tasks = runs['mim'][1:]
    (mm_out, mm_metrics, mm_tasks), (our_out, our_metrics, our_tasks) = \
        runs['mmagic'], runs['ours']
    for out, metrics in ((mm_out, mm_metrics), (our_out, our_metrics)):
        assert out == metrics
    timeless = sorted(set(our_metrics) - {'drag/seconds'})
    assert sorted(set(mm_metrics) - {'drag/seconds'}) == timeless
    assert {k: mm_metrics[k] for k in timeless} == \
        {k: our_metrics[k] for k in timeless}
    # the drags moved, on the checkpoint's EMA weights, task by task
    assert our_metrics['drag/final_distance'] < \
        our_metrics['drag/initial_distance']
    assert {k: mim_metrics[k] for k in timeless} == \
        {k: our_metrics[k] for k in timeless}
    keys = ('id', 'final_handles', 'final_distance', 'steps', 'converged')
    assert [{k: t[k] for k in keys} for t in mm_tasks] == \
        [{k: t[k] for k in keys} for t in our_tasks] == \
        [{k: t[k] for k in keys} for t in mim_tasks]
    with open(osp.join(tmp_path, 'mmagic', 'drags', mm_tasks[0]['bundle'],
                       'session.json')) as f:
        record = json.load(f)
    assert json.dumps(record).count(osp.basename(path)) >= 1
