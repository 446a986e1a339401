"""Lazy feature reads equal the dense F.interpolate map."""
import pytest
import torch
import torch.nn.functional as F

from mmagic_draggan.models.feature_maps import DenseFeatureMap, LazyFeatureMap


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
