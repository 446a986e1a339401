"""Lazy feature reads and the chunked mask term equal the dense
F.interpolate map."""
import pytest
import torch
import torch.nn.functional as F

from mmagic_draggan.models.feature_maps import (DenseFeatureMap,
                                               LazyFeatureMap,
                                               resized_weighted_l1)


@pytest.mark.parametrize('low,size', [(16, 64), (128, 512), (32, 64),
                                      (128, 1024), (7, 20)])
def test_lazy_window_equals_dense(low, size):
    g = torch.Generator().manual_seed(low + size)
    feat = torch.randn(1, 5, low, low, generator=g)
    dense = F.interpolate(feat, size=(size, size), mode='bilinear',
                          align_corners=False)[0]
    lazy = LazyFeatureMap(feat, (size, size))
    for rows, cols in [(torch.arange(0, 9), torch.arange(size - 7, size)),
                       (torch.arange(size // 2 - 3, size // 2 + 4),
                        torch.arange(0, size)),
                       (torch.tensor([size - 1]), torch.tensor([0]))]:
        torch.testing.assert_close(
            lazy.window(rows, cols), dense[:, rows][:, :, cols],
            rtol=0, atol=1e-5)
    torch.testing.assert_close(lazy.dense(), dense)


def test_sample_is_bilinear_and_clamped():
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(1, 4, 16, 16, generator=g)
    dense = DenseFeatureMap(feat, (64, 64))
    lazy = LazyFeatureMap(feat, (64, 64))
    pts = torch.tensor([[10.25, 20.75], [0., 0.], [63., 63.], [-3., 70.],
                        [31.5, 0.4]])
    # reference: grid_sample with align_corners=True on the dense map
    clamped = torch.stack([pts[:, 0].clamp(0, 63), pts[:, 1].clamp(0, 63)], 1)
    grid = (clamped.flip(1) / 63 * 2 - 1)[None, None]  # (1, 1, N, 2) as x, y
    ref = F.grid_sample(dense.dense()[None], grid, mode='bilinear',
                        align_corners=True)[0, :, 0]
    torch.testing.assert_close(dense.sample(pts), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(lazy.sample(pts), ref, atol=1e-5, rtol=0)


def dense_weighted_l1(feat, feat0, weight, size):
    """The mask term as it was: both maps resized, then the weighted L1."""
    up = F.interpolate(feat, size=size, mode='bilinear', align_corners=False)
    up0 = F.interpolate(feat0, size=size, mode='bilinear',
                        align_corners=False)
    return ((up - up0)[0] * weight).abs().mean()


@pytest.mark.parametrize('low,size,chunk', [
    ((16, 16), (64, 64), None), ((16, 16), (64, 64), 50),
    ((7, 9), (20, 33), 1), ((32, 32), (64, 64), 700), ((128, 128), (512, 512),
                                                       None)])
def test_resized_weighted_l1_equals_dense(low, size, chunk):
    """Value and gradient w.r.t. the feature map equal the dense formula,
    whatever the chunking, with zero rows, zero columns and fractional
    weights."""
    g = torch.Generator().manual_seed(size[0] + low[1])
    C = 2 if size[0] == 512 else 5
    feat = torch.randn(1, C, *low, generator=g).requires_grad_(True)
    feat0 = torch.randn(1, C, *low, generator=g)
    weight = torch.rand(size, generator=g)
    weight[weight < 0.3] = 0
    weight[: size[0] // 4] = 0  # skipped rows
    weight[:, size[1] // 2:size[1] // 2 + 3] = 0
    weight[size[0] // 2:size[0] // 2 + 2] = 1
    ref = dense_weighted_l1(feat, feat0, weight, size)
    ref_grad, = torch.autograd.grad(ref, feat)
    out = resized_weighted_l1(feat[0] - feat0[0], weight, size, chunk)
    grad, = torch.autograd.grad(out, feat)
    torch.testing.assert_close(out, ref, rtol=2e-6, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-10)
    # through the feature maps: lazy (chunked) and dense (reference) agree
    for cls in (LazyFeatureMap, DenseFeatureMap):
        fm_out = cls(feat, size).weighted_l1(cls(feat0, size), weight)
        fm_grad, = torch.autograd.grad(fm_out, feat)
        torch.testing.assert_close(fm_out, ref, rtol=2e-6, atol=0)
        torch.testing.assert_close(fm_grad, ref_grad, rtol=1e-5, atol=1e-10)


def test_weighted_l1_at_the_kink_and_without_weight():
    """F == F0 bit for bit (a drag's first step): exactly 0 with a zero
    gradient, as the dense |.|; an all-zero weight skips every row."""
    feat = torch.randn(1, 4, 16, 16).requires_grad_(True)
    size = (64, 64)
    weight = torch.ones(size)
    for cls in (LazyFeatureMap, DenseFeatureMap):
        out = cls(feat, size).weighted_l1(cls(feat.detach(), size), weight)
        grad, = torch.autograd.grad(out, feat)
        assert out.item() == 0 and not grad.any()
    out = resized_weighted_l1(feat[0] - 1, torch.zeros(size), size)
    grad, = torch.autograd.grad(out, feat)
    assert out.item() == 0 and not grad.any()


def test_weighted_l1_keeps_no_image_size_tensor():
    """The chunked term's autograd graph keeps feature-resolution tensors
    only, no (C, H, W) map."""
    C, size = 8, (256, 256)
    feat = torch.randn(1, C, 64, 64).requires_grad_(True)
    fm0 = LazyFeatureMap(torch.randn(1, C, 64, 64), size)
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = LazyFeatureMap(feat, size).weighted_l1(fm0, torch.ones(size))
    assert max(saved) <= C * 64 * 64 < C * size[0] * size[1]
    out.backward()
    assert feat.grad.shape == feat.shape
