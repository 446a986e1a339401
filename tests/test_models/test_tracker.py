"""Nearest-neighbour point tracking finds a planted feature."""
import pytest
import torch

from mmagic_draggan.models import NearestNeighbourTracker
from mmagic_draggan.models.feature_maps import DenseFeatureMap, LazyFeatureMap


@pytest.mark.parametrize('metric', ['l1', 'l2'])
@pytest.mark.parametrize('cls', [DenseFeatureMap, LazyFeatureMap])
def test_finds_planted_feature(metric, cls):
    g = torch.Generator().manual_seed(1)
    feat = torch.randn(1, 8, 64, 64, generator=g)
    ref = torch.full((8,), 5.)
    feat[0, :, 37, 24] = ref  # at (row 37, col 24); image = feature size
    tracker = NearestNeighbourTracker(r2=6, metric=metric)
    new = tracker(cls(feat, (64, 64)), torch.tensor([[33., 20.]]), ref[None])
    assert new.tolist() == [[37., 24.]]
    # out of the window: not found
    far = tracker(cls(feat, (64, 64)), torch.tensor([[20., 20.]]), ref[None])
    assert far.tolist() != [[37., 24.]]


def test_handle_at_border_is_clipped_not_crashing():
    feat = torch.randn(1, 4, 16, 16)
    tracker = NearestNeighbourTracker(r2=12)
    ref = feat[0, :, 0, 15]
    new = tracker(DenseFeatureMap(feat, (16, 16)),
                  torch.tensor([[0., 15.], [15., 0.]]),
                  torch.stack([ref, ref]))
    assert new[0].tolist() == [0., 15.]
    assert (new >= 0).all() and (new <= 15).all()


def test_validation():
    with pytest.raises(ValueError, match='metric'):
        NearestNeighbourTracker(metric='cos')
    with pytest.raises(ValueError, match='r2'):
        NearestNeighbourTracker(r2=0)


def test_call_values_override_the_component_defaults():
    """A session passes its r2: a planted feature 8 px away is found with
    r2=8 given at call time, not with the tracker's own r2=4."""
    g = torch.Generator().manual_seed(2)
    feat = torch.randn(1, 8, 64, 64, generator=g)
    ref = torch.full((8,), 5.)
    feat[0, :, 40, 30] = ref
    tracker = NearestNeighbourTracker(r2=4)
    fm = DenseFeatureMap(feat, (64, 64))
    start = torch.tensor([[32., 30.]])
    assert tracker(fm, start, ref[None]).tolist() != [[40., 30.]]
    assert tracker(fm, start, ref[None], r2=8).tolist() == [[40., 30.]]
    assert tracker(fm, start, ref[None], r2=8,
                   metric='l1').tolist() == [[40., 30.]]
