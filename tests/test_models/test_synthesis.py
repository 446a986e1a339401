"""Partial synthesis equals MMagic's own forward.

``impl='mmagic'`` walks MMagic's modules and must equal
``StyleGANv2Generator.forward`` bit for bit; ``impl='fast'`` (activation-side
modulation, :mod:`mmagic_draggan.models.modulated_conv`) must equal it, and
the gradient w.r.t. the optimised W+ rows, to float32 rounding (rtol 1e-5,
atol 1e-5 of the reference's largest magnitude).

Gradients and leaky-ReLU kinks: two float32 evaluations that differ only in
rounding put a few of the millions of pre-activations on different sides of
0, where the derivative jumps from 0.2 to 1; one such pixel moves an image
gradient by ~1e-3 (seen: 1.3e-3 of the largest entry at slope 0.2, 4.3e-4 at
0.5, 1e-6 at 1.0). So the strict gradient check runs with the activations'
negative slope set to 1 (no kink; every other term unchanged), and with the
real slope 0.2 the gradients must agree in relative norm to 1e-2.
"""
from contextlib import contextmanager

import pytest
import torch

from mmagic_draggan.models.modulated_conv import (conv_weight,
                                                  resolve_precision,
                                                  style_conv, to_rgb)
from mmagic_draggan.models.stylegan2_synthesis import (num_blocks,
                                                       synthesize)

N_OPT = 6  # the optimised W+ rows of a drag


def _build(out_size, cm, style_channels=32, seed=0):
    from mmagic.registry import MODELS
    torch.manual_seed(seed)
    gen = MODELS.build(dict(type='StyleGANv2Generator', out_size=out_size,
                            style_channels=style_channels, num_mlps=2,
                            channel_multiplier=cm))
    gen.eval().requires_grad_(False)
    # the noise strengths and biases start at 0: make every term count
    with torch.no_grad():
        for name, p in gen.named_parameters():
            if name.endswith(('noise_injector.weight', 'activate.bias')) \
                    or name.endswith('bias') and 'to_rgb' in name:
                p.normal_(0, 0.3)
    return gen


@contextmanager
def _slope(gen, slope):
    """Set the negative slope of every fused bias + leaky ReLU for a while."""
    acts = [m for m in gen.modules() if type(m).__name__ ==
            '_FusedBiasLeakyReLU']
    old = [m.negative_slope for m in acts]
    for m in acts:
        m.negative_slope = slope
    try:
        yield
    finally:
        for m, o in zip(acts, old):
            m.negative_slope = o


def _close_norm(actual, expected, what, tol=1e-2):
    rel = float((actual - expected).norm() / expected.norm())
    assert rel < tol, f'{what}: relative difference {rel:.2e}'


@pytest.fixture(scope='module')
def gens():
    return {key: _build(*key) for key in [(64, 1), (64, 2), (128, 1)]}


def _latent(gen, seed, n=1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, gen.style_channels, generator=g)
    w = gen.style_mapping(z)
    ws = w[:, None].repeat(1, gen.num_latents, 1)
    # distinct rows, so that mixing up rows cannot pass
    return ws + 0.3 * torch.randn(ws.shape, generator=g)


def _close(actual, expected, what):
    atol = 1e-5 * float(expected.detach().abs().max())
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=atol,
                               msg=lambda m: f'{what}: {m}')


def _ref_and_grads(gen, ws0, feat_idx, rf, ri):
    """MMagic's forward; loss (feat * rf).sum() + (img * ri).sum();
    gradient w.r.t. W+ rows 0-5 as a leaf."""
    head = ws0[:, :N_OPT].clone().requires_grad_(True)
    ws = torch.cat([head, ws0[:, N_OPT:]], dim=1)
    out = gen([ws], input_is_latent=True, randomize_noise=False,
              return_latents=True, return_features=True, feat_idx=feat_idx)
    g_feat, = torch.autograd.grad((out['feats'] * rf).sum(), head,
                                  retain_graph=True)
    g_img, = torch.autograd.grad((out['fake_img'] * ri).sum(), head)
    return out['feats'].detach(), out['fake_img'].detach(), g_feat, g_img


def _ours_and_grads(gen, ws0, feat_idx, rf, ri, **kw):
    head = ws0[:, :N_OPT].clone().requires_grad_(True)
    ws = torch.cat([head, ws0[:, N_OPT:]], dim=1)
    feat, img = synthesize(gen, ws, feat_idx, return_image=True, **kw)
    g_feat, = torch.autograd.grad((feat * rf).sum(), head, retain_graph=True)
    g_img, = torch.autograd.grad((img * ri).sum(), head)
    feat_only, none = synthesize(gen, ws, feat_idx, return_image=False, **kw)
    assert none is None
    g_only, = torch.autograd.grad((feat_only * rf).sum(), head)
    return feat.detach(), img.detach(), g_feat, g_img, feat_only, g_only


@pytest.mark.parametrize('key', [(64, 1), (64, 2), (128, 1)])
def test_fast_features_image_and_grads_equal_mmagic(gens, key):
    gen = gens[key]
    ws0 = _latent(gen, 3)
    g = torch.Generator().manual_seed(1)
    img_shape = (1, 3, gen.out_size, gen.out_size)
    ri = torch.randn(img_shape, generator=g)
    # every block up to half the image side (the DragGAN feature block at
    # 256 and 512 is 128: a half and a quarter); block 0 has no up-sampling
    blocks = range(num_blocks(gen) - 1)
    if key != (64, 1):
        # (time) block 0 (no up-sampling conv) and the half-size block
        blocks = [0, num_blocks(gen) - 2] if gen.out_size == 64 else \
            [num_blocks(gen) - 2]
    for idx in blocks:
        side = 4 * 2**idx
        ch = gen.channels[side]
        rf = torch.randn(1, ch, side, side, generator=g)
        what = f'out_size {key[0]} cm {key[1]} block {idx}'
        if idx == num_blocks(gen) - 2:
            # the real activation: values strict, gradients in norm
            ref = _ref_and_grads(gen, ws0, idx, rf, ri)
            ours = _ours_and_grads(gen, ws0, idx, rf, ri)
            _close(ours[0], ref[0], what + ' features')
            _close(ours[1], ref[1], what + ' image')
            _close(ours[4], ref[0], what + ' features (no image)')
            for i, name in [(2, 'feature grad'), (3, 'image grad'),
                            (5, 'feature grad (no image)')]:
                _close_norm(ours[i], ref[i if i < 5 else 2],
                            what + ' ' + name)
        # no kinks: everything strict
        with _slope(gen, 1.):
            ref = _ref_and_grads(gen, ws0, idx, rf, ri)
            ours = _ours_and_grads(gen, ws0, idx, rf, ri)
        _close(ours[0], ref[0], what + ' features (slope 1)')
        _close(ours[1], ref[1], what + ' image (slope 1)')
        _close(ours[2], ref[2], what + ' feature grad (slope 1)')
        _close(ours[3], ref[3], what + ' image grad (slope 1)')
        _close(ours[5], ref[2], what + ' feature grad, no image (slope 1)')
        assert ref[2].abs().max() > 0 and ref[3].abs().max() > 0


def test_mmagic_impl_is_bit_exact(gens):
    gen = gens[(64, 1)]
    ws = _latent(gen, 4)
    for idx in (0, 3, 4):
        ref = gen([ws], input_is_latent=True, randomize_noise=False,
                  return_latents=True, return_features=True, feat_idx=idx)
        feat, img = synthesize(gen, ws, idx, impl='mmagic')
        torch.testing.assert_close(feat, ref['feats'], rtol=0, atol=0)
        torch.testing.assert_close(img, ref['fake_img'], rtol=0, atol=0)


def test_the_tolerance_catches_a_wrong_layer(gens):
    """The check above can fail: a 1e-3 change of one noise strength, or two
    latent rows swapped, are far outside it."""
    gen = gens[(64, 1)]
    ws = _latent(gen, 5)
    feat, img = synthesize(gen, ws, 3)
    swapped = ws.clone()
    swapped[:, [4, 5]] = ws[:, [5, 4]]
    with pytest.raises(AssertionError):
        _close(synthesize(gen, swapped, 3)[0], feat, 'swapped rows')
    w = gen.convs[1].noise_injector.weight
    old = w.clone()
    try:
        with torch.no_grad():
            w.add_(1e-3)
        with pytest.raises(AssertionError):
            _close(synthesize(gen, ws, 3)[1], img, 'noise strength')
    finally:
        with torch.no_grad():
            w.copy_(old)


def test_batch_and_every_row_with_grad(gens):
    """N = 2 (the activation route everywhere) and a latent whose every row
    is a leaf (no constant rows)."""
    gen = gens[(64, 1)]
    ws = _latent(gen, 6, n=2).requires_grad_(True)
    rf = torch.randn(2, gen.channels[32], 32, 32,
                     generator=torch.Generator().manual_seed(2))
    with _slope(gen, 1.):
        ref = gen([ws], input_is_latent=True, randomize_noise=False,
                  return_latents=True, return_features=True, feat_idx=3)
        g_ref, = torch.autograd.grad((ref['feats'] * rf).sum(), ws)
        feat, img = synthesize(gen, ws, 3)
        g, = torch.autograd.grad((feat * rf).sum(), ws)
    _close(feat, ref['feats'], 'batch features')
    _close(img, ref['fake_img'], 'batch image')
    _close(g, g_ref, 'batch grad')
    # rows past the feature block (block 3: rows 0-6) get exactly nothing
    assert g[:, :7].abs().amax(dim=(0, 2)).min() > 0
    assert not g[:, 7:].any()


def test_grad_rows_only_choose_the_route(gens):
    """Rows >= grad_rows fold the style into the weight, the others scale the
    activations: the same numbers to float rounding, the same gradient for
    the rows that have one, and bit-equal results for equal grad_rows with
    and without autograd (a step's image equals a render)."""
    gen = gens[(64, 1)]
    ws0 = _latent(gen, 11)
    head = ws0[:, :6].clone().requires_grad_(True)
    ws = torch.cat([head, ws0[:, 6:]], 1)
    feat6, img6 = synthesize(gen, ws, 3, grad_rows=6, image_grad=False)
    feat_all, img_all = synthesize(gen, ws, 3, image_grad=False)
    _close(feat6, feat_all, 'features, grad_rows 6 vs all')
    _close(img6, img_all, 'image, grad_rows 6 vs all')
    g6, = torch.autograd.grad(feat6.square().sum(), head)
    g_all, = torch.autograd.grad(feat_all.square().sum(), head)
    _close_norm(g6, g_all, 'grad, grad_rows 6 vs all', tol=1e-4)
    with torch.no_grad():
        _, img_ng = synthesize(gen, ws0, 3, grad_rows=6)
    assert torch.equal(img_ng, img6)


def test_real_256_generator_layers_equal_mmagic_modules():
    """One real out_size 256 cm=2 generator: the feature block's layers (the
    64 -> 128 up-sampling conv, 512 -> 256 channels, and the 128 conv), the
    to_rgb after it, each against the MMagic module, values and grads."""
    from mmagic.registry import MODELS
    torch.manual_seed(0)
    gen = MODELS.build(dict(type='StyleGANv2Generator', out_size=256,
                            style_channels=64, num_mlps=1,
                            channel_multiplier=2))
    gen.eval().requires_grad_(False)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 512, 64, 64, generator=g).requires_grad_(True)
    w = torch.randn(2, 1, 64, generator=g)
    noise = [gen.injected_noise_9, gen.injected_noise_10]
    with torch.no_grad():
        for layer in gen.convs[8:10]:
            layer.noise_injector.weight.fill_(0.2)
            layer.activate.bias.normal_(0, 0.3, generator=g)
    # the real activation, values only (see the module docstring)
    ref = gen.convs[9](gen.convs[8](x, w[0], noise=noise[0]), w[1],
                       noise=noise[1])
    ours = style_conv(gen.convs[9], style_conv(gen.convs[8], x, w[0],
                                               noise[0]), w[1], noise[1])
    _close(ours, ref, '256 block 5, slope 0.2')
    for const in (True, False):
        ws = [wi.clone().requires_grad_(not const) for wi in w]
        with _slope(gen, 1.):
            ref = gen.convs[8](x, ws[0], noise=noise[0])
            ref = gen.convs[9](ref, ws[1], noise=noise[1])
            ours = style_conv(gen.convs[8], x, ws[0], noise[0],
                              const_style=const)
            ours = style_conv(gen.convs[9], ours, ws[1], noise[1],
                              const_style=const)
        ref_rgb = gen.to_rgbs[4](ref, ws[1])
        ours_rgb = to_rgb(gen.to_rgbs[4], ours, ws[1], const_style=const)
        _close(ours, ref, f'256 block 5 (const styles {const})')
        _close(ours_rgb, ref_rgb, '256 to_rgb')
        r = torch.randn(ref.shape, generator=g)
        inputs = [x] if const else [x] + ws
        g_ref = torch.autograd.grad((ref * r).sum() + ref_rgb.sum(), inputs)
        g_ours = torch.autograd.grad((ours * r).sum() + ours_rgb.sum(),
                                     inputs)
        for a, b in zip(g_ours, g_ref):
            _close(a, b, f'256 block 5 grads (const styles {const})')


def test_conv_weight_is_mmagics_and_follows_load_state_dict(gens):
    gen = _build(64, 1, seed=1)
    other = _build(64, 1, seed=2)
    ws = _latent(gen, 7)
    synthesize(gen, ws, 3)  # fills the cache
    for conv in [gen.conv1.conv] + [c.conv for c in gen.convs] + \
            [t.conv for t in gen.to_rgbs]:
        weight, wsq, scale = conv_weight(conv)
        # the parameter itself (no copy), times MMagic's equalised-lr scale
        assert weight.data_ptr() == conv.weight_orig.data_ptr()
        hook = next(h for h in conv._forward_pre_hooks.values()
                    if hasattr(h, 'compute_weight'))
        _close(scale * weight, hook.compute_weight(conv)[0], 'scale')
        torch.testing.assert_close(wsq, weight.square().sum(dim=(2, 3)),
                                   rtol=0, atol=0)
    wsq_before = conv_weight(gen.convs[0].conv)[1].clone()
    gen.load_state_dict(other.state_dict())
    assert not torch.equal(conv_weight(gen.convs[0].conv)[1], wsq_before)
    ref = gen([ws], input_is_latent=True, randomize_noise=False,
              return_latents=True, return_features=True, feat_idx=3)
    feat, img = synthesize(gen, ws, 3)
    _close(feat, ref['feats'], 'after load_state_dict')
    _close(img, ref['fake_img'], 'image after load_state_dict')


def test_bf16_is_close_to_fp32(gens):
    if resolve_precision('bf16', 'cpu') != 'bf16':
        pytest.skip('no oneDNN bf16 on this CPU')
    gen = gens[(64, 2)]
    ws = _latent(gen, 8)
    feat, img = synthesize(gen, ws, 3)
    feat16, img16 = synthesize(gen, ws, 3, precision='bf16')
    assert feat16.dtype == torch.float32 and img16.dtype == torch.float32
    rel = (feat16 - feat).norm() / feat.norm()
    assert 0 < rel < 3e-2, rel
    assert (img16 - img).norm() / img.norm() < 3e-2


def test_resolve_precision():
    assert resolve_precision('fp32', 'cpu') == 'fp32'
    assert resolve_precision('tf32', 'cpu') == 'fp32'
    assert resolve_precision('bf16', 'cpu') in ('bf16', 'fp32')
    with pytest.raises(ValueError, match='precision must be one of'):
        resolve_precision('fp8', 'cpu')


def test_features_and_image_equal_generator_forward(tiny_model):
    gen = tiny_model.generator
    ws = tiny_model.latent_from_seed(3)
    for idx in range(num_blocks(gen)):
        ref = gen([ws], input_is_latent=True, randomize_noise=False,
                  return_latents=True, return_features=True, feat_idx=idx)
        feat, img = synthesize(gen, ws, idx, return_image=True)
        _close(feat, ref['feats'], f'tiny block {idx}')
        _close(img, ref['fake_img'], f'tiny image {idx}')


def test_bad_arguments(tiny_model):
    with pytest.raises(ValueError, match='ws must have shape'):
        synthesize(tiny_model.generator, torch.zeros(1, 3, 64), 3)
    ws = tiny_model.latent_from_seed(0)
    with pytest.raises(ValueError, match='feat_idx'):
        synthesize(tiny_model.generator, ws, 9)
    with pytest.raises(ValueError, match='impl must be one of'):
        synthesize(tiny_model.generator, ws, 3, impl='nvidia')
    with pytest.raises(ValueError, match='precision must be one of'):
        synthesize(tiny_model.generator, ws, 3, precision='half')


@pytest.mark.parametrize('impl', ['fast', 'mmagic'])
def test_image_without_grad_is_the_same_and_keeps_feature_grad(
        tiny_model, impl):
    gen = tiny_model.generator
    ws = tiny_model.latent_from_seed(5).requires_grad_(True)
    feat, img = synthesize(gen, ws, 2, return_image=True, impl=impl)
    feat2, img2 = synthesize(gen, ws, 2, return_image=True, image_grad=False,
                             impl=impl)
    # fast: the no-grad to_rgb layers fold their style into the weight,
    # so the image may differ by rounding
    _close(img2, img, 'image without grad')
    torch.testing.assert_close(feat2, feat, rtol=0, atol=0)
    assert img.requires_grad and not img2.requires_grad
    g1, = torch.autograd.grad(feat.sum(), ws)
    g2, = torch.autograd.grad(feat2.sum(), ws)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
