"""DragGANInferencer: built once (strict checkpoint), called like MMagic's
inferencers, the same drags and files as ``drag()``."""
import os
import os.path as osp

import numpy as np
import pytest
import torch

import mmagic_draggan.apis.inference as inference_api
import mmagic_draggan.apis.inferencer as inferencer_api
from mmagic_draggan.apis import (DragGANInferencer, DragOutput, drag,
                                 init_model)
from mmagic_draggan.checkpoints.loader import CheckpointError

HANDLES, TARGETS = [[24., 32.]], [[36., 32.]]  # (x, y) pixels
STEPS = 2


@pytest.fixture(scope='module')
def tuned_state(tiny_model):
    """Generator weights that differ from the random-weights model, so a
    result made with them shows the checkpoint was loaded."""
    rng = torch.Generator().manual_seed(1)
    params = dict(tiny_model.generator.named_parameters())
    return {
        k: v + 0.05 * torch.randn(v.shape, generator=rng) if k in params
        else v.clone()
        for k, v in tiny_model.generator.state_dict().items()
    }


def _save_whole_gan(path, state):
    """``state`` in MMagic's whole-GAN checkpoint layout."""
    sd = {f'generator_ema.module.{k}': v for k, v in state.items()}
    torch.save(dict(state_dict=sd, meta=dict(iter=1)), str(path))
    return str(path)


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory, tuned_state):
    return _save_whole_gan(
        tmp_path_factory.mktemp('ckpt') / 'tiny_gan.pth', tuned_state)


@pytest.fixture(scope='module')
def inferencer(tiny_config, ckpt):
    return DragGANInferencer(tiny_config, ckpt, device='cpu',
                             extra_parameters=dict(lr=0.02,
                                                   max_steps=STEPS))


def test_built_once_and_same_as_drag(inferencer, tiny_config, ckpt,
                                     tuned_state, monkeypatch):
    inf = inferencer
    model = inf.model
    assert model.checkpoint_info['path'] == ckpt
    loaded = model.generator.state_dict()
    for k, v in tuned_state.items():
        assert torch.equal(loaded[k], v), k

    def no_rebuild(*args, **kwargs):
        raise AssertionError('the model was rebuilt for a call')

    monkeypatch.setattr(inference_api, 'init_model', no_rebuild)
    monkeypatch.setattr(inferencer_api, 'init_model', no_rebuild)
    first = inf(HANDLES, TARGETS, seed=3)
    with torch.inference_mode():  # as inside an OpenMMLab test loop
        again = inf(HANDLES, TARGETS, seed=3)
    monkeypatch.undo()
    assert inf.model is model and first.session.model is model
    assert isinstance(first, DragOutput)
    assert first.out_dir is None and first.paths == {}

    # drag() on a model init_model builds from the same config and
    # checkpoint
    ref = drag(init_model(tiny_config, ckpt, device='cpu'), HANDLES,
               TARGETS, seed=3, lr=0.02, max_steps=STEPS, video='none',
               progress=False)
    assert ref.result.steps == STEPS and not ref.converged
    for out in (first, again):
        assert out.result.steps == STEPS
        assert out.record['handles'] == ref.record['handles'] == HANDLES
        assert out.record['final_handles'] == ref.record['final_handles']
        torch.testing.assert_close(out.latent, ref.latent, rtol=0, atol=0)
        np.testing.assert_array_equal(out.start_image, ref.start_image)
        np.testing.assert_array_equal(out.image, ref.image)
    assert first.record['final_handles'] != HANDLES  # the drag moved

    # a call's keywords override the defaults for that call only
    short = inf(HANDLES, TARGETS, seed=3, max_steps=1, lr=0.05)
    assert short.result.steps == 1
    assert short.session.options.lr == 0.05
    assert inf.extra_parameters == dict(lr=0.02, max_steps=STEPS)


def test_result_out_dir_writes_what_drag_writes(tmp_path, inferencer,
                                                 monkeypatch):
    inf = inferencer
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:56] = 1
    kw = dict(seed=5, mask=mask, max_steps=1)
    out = inf(HANDLES, TARGETS, result_out_dir=str(tmp_path / 'inf'), **kw)
    ref = drag(inf.model, HANDLES, TARGETS, progress=False, lr=0.02,
               out_dir=str(tmp_path / 'drag'), **kw)
    names = sorted(os.listdir(tmp_path / 'drag'))
    assert sorted(os.listdir(tmp_path / 'inf')) == names
    assert {'start.png', 'result.png', 'trajectory.gif', 'latent.pt',
            'mask.png', 'session.json'} <= set(names)
    assert out.paths.keys() == ref.paths.keys()
    for kind in ('start', 'result', 'mask'):
        assert osp.dirname(out.paths[kind]) == str(tmp_path / 'inf')
        with open(out.paths[kind], 'rb') as a, \
                open(ref.paths[kind], 'rb') as b:
            assert a.read() == b.read(), kind
    assert len(out.frames) == len(ref.frames) > 0
    # MMagic's "no output" is result_out_dir='': nothing written
    monkeypatch.chdir(tmp_path)
    quiet = inf(HANDLES, TARGETS, result_out_dir='', max_steps=0)
    assert quiet.paths == {} and quiet.frames == []
    assert sorted(os.listdir(tmp_path)) == ['drag', 'inf']


def test_no_checkpoint_is_refused_unless_random_weights(tiny_config, ckpt):
    with pytest.raises(CheckpointError):
        DragGANInferencer(tiny_config, device='cpu')
    with pytest.raises(CheckpointError):
        DragGANInferencer(tiny_config, ckpt, random_weights=True)
    inf = DragGANInferencer(tiny_config, device='cpu', random_weights=True,
                            seed=5)
    assert inf.model.checkpoint_info['random_weights'] is True
    out = inf(HANDLES, TARGETS, max_steps=0)  # no start given: seed 5
    assert out.record['seed'] == 5 and out.record['random_weights']


def test_checkpoint_that_does_not_fit_is_refused(tmp_path, tiny_config,
                                                 tuned_state):
    # MMagic's base inferencer loads non-strictly; ours refuses
    state = dict(tuned_state)
    missing = next(k for k in state if k.endswith('.weight'))
    del state[missing]
    path = _save_whole_gan(tmp_path / 'partial.pth', state)
    with pytest.raises(CheckpointError, match='missing'):
        DragGANInferencer(tiny_config, path, device='cpu')


def test_bad_parameters_are_refused_before_the_build(tiny_config, ckpt,
                                                     monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError('built the model before checking parameters')

    monkeypatch.setattr(inferencer_api, 'init_model', no_build)
    with pytest.raises(ValueError, match=r"unknown DragGANInferencer "
                       r"parameter\(s\) \['learning_rate'\]"):
        DragGANInferencer(tiny_config, ckpt,
                          extra_parameters=dict(learning_rate=1))
    with pytest.raises(ValueError, match='lr must be > 0'):
        DragGANInferencer(tiny_config, ckpt, extra_parameters=dict(lr=-1))
    names = DragGANInferencer.get_extra_parameters()
    assert len(names) == len(set(names))
    assert {'lr', 'max_steps', 'stop_distance', 'video', 'fps'} <= set(names)


@pytest.mark.parametrize('call, match', [
    (dict(handles=[[70., 3.]], targets=[[3., 3.]]),
     'outside the 64x64 image'),
    (dict(handles=HANDLES, targets=TARGETS * 2), '1 handles but 2 targets'),
    (dict(handles=[[32, 24, 1]], targets=TARGETS), r'\[x, y\] pixel pairs'),
    (dict(handles=HANDLES, targets=TARGETS, seed=1,
          latent=torch.zeros(1, 10, 64)), 'a seed or a latent'),
    (dict(handles=HANDLES, targets=TARGETS, mask=np.ones((32, 32))),
     '64'),
    (dict(handles=HANDLES, targets=TARGETS, video='avi'), 'video must be'),
    (dict(handles=HANDLES, targets=TARGETS, lr=0), 'lr must be > 0'),
    (dict(handles=HANDLES, targets=TARGETS, step_size=1),
     'unknown DragGANInferencer parameter'),
])
def test_bad_input_is_refused_before_any_step(inferencer, tmp_path, call,
                                              match):
    steps = []
    out_dir = tmp_path / 'out'
    with pytest.raises(ValueError, match=match):
        inferencer(**call, callback=steps.append,
                   result_out_dir=str(out_dir))
    assert steps == [] and not out_dir.exists()


def test_drag_and_invert_take_the_inferencer(inferencer, tmp_path):
    """drag() and invert() run on a built model: the inferencer's, when
    given the inferencer itself."""
    from mmagic_draggan.apis import invert
    out = drag(inferencer, HANDLES, TARGETS, seed=3, max_steps=0,
               video='none', progress=False)
    assert out.session.model is inferencer.model
    with pytest.raises(ValueError, match='resize must be one of'):
        invert(inferencer, np.zeros((64, 64, 3), np.uint8), resize='fit')
