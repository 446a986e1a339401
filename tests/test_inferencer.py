"""DragGANInferencer: built once (strict checkpoint), called like MMagic's
inferencers, the same drags as ``drag()``."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmagic_draggan.apis import DragGANInferencer, DragOutput, drag
from mmagic_draggan.utils.checkpoint import CheckpointError

HANDLES, TARGETS = [[24., 32.]], [[36., 32.]]  # (x, y)


@pytest.fixture(scope='module')
def whole_gan_ckpt(tmp_path_factory, tiny_model):
    """The tiny model's weights in MMagic's whole-GAN layout."""
    sd = tiny_model.generator.state_dict()
    ckpt = {f'generator_ema.module.{k}': v.clone() for k, v in sd.items()}
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny_gan.pth')
    torch.save(dict(state_dict=ckpt, meta=dict(iter=1)), path)
    return path


def test_built_once_and_same_as_drag(tiny_config, tiny_model,
                                     whole_gan_ckpt):
    inf = DragGANInferencer(tiny_config, whole_gan_ckpt, device='cpu',
                            extra_parameters=dict(lr=0.02, max_steps=4))
    model = inf.model
    assert model.checkpoint_info['path'] == whole_gan_ckpt
    first = inf(HANDLES, TARGETS, seed=3)
    again = inf(HANDLES, TARGETS, seed=3)
    assert inf.model is model  # not rebuilt per call
    assert isinstance(first, DragOutput)
    ref = drag(tiny_model, HANDLES, TARGETS, seed=3, lr=0.02, max_steps=4,
               video='none', progress=False)
    for out in (first, again):
        assert out.record['handles'] == ref.record['handles']
        torch.testing.assert_close(out.latent, ref.latent, rtol=0, atol=0)
        np.testing.assert_array_equal(out.image, ref.image)
    assert first.out_dir is None and first.paths == {}
    # a call's keywords override the defaults: more steps move further
    longer = inf(HANDLES, TARGETS, seed=3, max_steps=8)
    assert longer.result.steps > first.result.steps


def test_result_out_dir_writes_the_drag_files(tmp_path, tiny_config,
                                               whole_gan_ckpt):
    inf = DragGANInferencer(tiny_config, whole_gan_ckpt, device='cpu',
                            seed=5)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:56] = 1
    out = inf(HANDLES, TARGETS, mask=mask, result_out_dir=str(tmp_path),
              max_steps=2, lr=0.02)
    assert out.record['seed'] == 5  # the inferencer's seed
    for kind in ('start', 'result', 'video', 'session', 'mask'):
        assert osp.isfile(out.paths[kind]), kind
        assert osp.dirname(out.paths[kind]) == str(tmp_path)


def test_no_checkpoint_is_refused_unless_random_weights(tiny_config):
    with pytest.raises(CheckpointError):
        DragGANInferencer(tiny_config, device='cpu')
    inf = DragGANInferencer(tiny_config, device='cpu', random_weights=True)
    assert inf.model.checkpoint_info['random_weights'] is True


def test_bad_input_is_refused_before_any_step(tiny_config, tiny_model,
                                              whole_gan_ckpt):
    with pytest.raises(ValueError, match=r"unknown DragGANInferencer "
                       r"parameter\(s\) \['learning_rate'\]"):
        DragGANInferencer(tiny_config, whole_gan_ckpt,
                          extra_parameters=dict(learning_rate=1))
    with pytest.raises(ValueError, match='lr must be > 0'):
        DragGANInferencer(tiny_config, whole_gan_ckpt,
                          extra_parameters=dict(lr=-1))
    inf = DragGANInferencer(tiny_config, whole_gan_ckpt, device='cpu')
    steps = []
    with pytest.raises(ValueError, match='outside the 64x64 image'):
        inf([[70., 3.]], [[3., 3.]], callback=steps.append)
    with pytest.raises(ValueError, match='1 handles but 2 targets'):
        inf(HANDLES, TARGETS * 2)
    assert steps == []
    assert DragGANInferencer.get_extra_parameters()[:2] == [
        'latent_space', 'num_opt_latents']
