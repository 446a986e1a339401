"""Partial synthesis equals MMagic's own forward."""
import pytest
import torch

from mmagic_draggan.models.stylegan2_synthesis import num_blocks, synthesize


def test_features_and_image_equal_generator_forward(tiny_model):
    gen = tiny_model.generator
    ws = tiny_model.latent_from_seed(3)
    for idx in range(num_blocks(gen)):
        ref = gen([ws], input_is_latent=True, randomize_noise=False,
                  return_latents=True, return_features=True, feat_idx=idx)
        feat, img = synthesize(gen, ws, idx, return_image=True)
        torch.testing.assert_close(feat, ref['feats'], rtol=0, atol=0)
        torch.testing.assert_close(img, ref['fake_img'], rtol=0, atol=0)
        feat_only, none = synthesize(gen, ws, idx, return_image=False)
        assert none is None
        torch.testing.assert_close(feat_only, ref['feats'], rtol=0, atol=0)


def test_bad_latent_shape(tiny_model):
    with pytest.raises(ValueError, match='ws must have shape'):
        synthesize(tiny_model.generator, torch.zeros(1, 3, 64), 3)
    with pytest.raises(ValueError, match='feat_idx'):
        synthesize(tiny_model.generator, tiny_model.latent_from_seed(0), 9)


def test_image_without_grad_is_the_same_and_keeps_feature_grad(tiny_model):
    gen = tiny_model.generator
    ws = tiny_model.latent_from_seed(5).requires_grad_(True)
    feat, img = synthesize(gen, ws, 2, return_image=True)
    feat2, img2 = synthesize(gen, ws, 2, return_image=True, image_grad=False)
    torch.testing.assert_close(img2, img, rtol=0, atol=0)
    torch.testing.assert_close(feat2, feat, rtol=0, atol=0)
    assert img.requires_grad and not img2.requires_grad
    g1, = torch.autograd.grad(feat.sum(), ws)
    g2, = torch.autograd.grad(feat2.sum(), ws)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
