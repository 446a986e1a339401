"""The motion-supervision loss equals a direct dense computation."""
import pytest
import torch
import torch.nn.functional as F

from mmagic_draggan.models import MotionSupervisionLoss
from mmagic_draggan.models.feature_maps import DenseFeatureMap, LazyFeatureMap


def direct_loss(feat, size, handles_rc, targets_rc, r1, mask, feat0, lam,
                disc='centred'):
    """Motion supervision and mask term (docs/algorithm.md), written out
    densely with grid_sample; ``disc='linspace'``: the disc from
    ``torch.linspace(0, h, h)`` coordinates (docs/algorithm.md, Motion
    supervision)."""
    H, W = size
    Fd = F.interpolate(feat, size=size, mode='bilinear', align_corners=False)
    total = 0.
    for p, t in zip(handles_rc, targets_rc):
        d = (t - p) / (t - p).norm()
        if (t - p).norm() <= 1:
            continue
        rr, cc = torch.meshgrid(torch.arange(H), torch.arange(W),
                                indexing='ij')
        if disc == 'linspace':
            xx, yy = torch.meshgrid(torch.linspace(0, H, H),
                                    torch.linspace(0, W, W), indexing='ij')
            inside = ((xx - p[0])**2 + (yy - p[1])**2).sqrt() < r1
        else:
            inside = ((rr - p[0])**2 + (cc - p[1])**2).sqrt() < r1
        q = torch.stack([rr[inside], cc[inside]], 1).float()
        patch = Fd[0][:, q[:, 0].long(), q[:, 1].long()].detach()
        s = q + d
        s = torch.stack([s[:, 0].clamp(0, H - 1), s[:, 1].clamp(0, W - 1)], 1)
        grid = torch.stack([s[:, 1] / (W - 1) * 2 - 1,
                            s[:, 0] / (H - 1) * 2 - 1], 1)[None, None]
        shifted = F.grid_sample(Fd, grid, align_corners=True)[0, :, 0]
        total = total + (shifted - patch).abs().mean()
    if mask is not None:
        Fd0 = F.interpolate(feat0, size=size, mode='bilinear',
                            align_corners=False)
        total = total + lam * ((Fd - Fd0) * (1 - mask)).abs().mean()
    return total


@pytest.mark.parametrize('disc', ['centred', 'linspace'])
def test_loss_equals_direct_and_gradients_match(disc):
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(1, 6, 16, 16, generator=g).requires_grad_(True)
    feat0 = torch.randn(1, 6, 16, 16, generator=g)
    size = (64, 64)
    # 3rd: < 1 px from its target; 4th: in a corner
    handles = torch.tensor([[20., 30.], [5., 60.], [40., 40.], [63., 0.]])
    targets = torch.tensor([[26., 34.], [2., 63.], [40.5, 40.], [60., 4.]])
    mask = torch.zeros(64, 64)
    mask[10:40, 20:50] = 1
    loss_fn = MotionSupervisionLoss(r1=3, lambda_mask=20., disc=disc)
    ref = direct_loss(feat, size, handles, targets, 3, mask, feat0, 20.,
                      disc=disc)
    other = 'centred' if disc == 'linspace' else 'linspace'
    assert not torch.allclose(ref, direct_loss(  # the layouts do differ
        feat, size, handles, targets, 3, mask, feat0, 20., disc=other))
    ref_grad, = torch.autograd.grad(ref, feat)
    for cls in (DenseFeatureMap, LazyFeatureMap):
        fm = cls(feat, size)
        out = loss_fn(fm, handles, targets, mask=mask,
                      feats0=cls(feat0, size))
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        grad, = torch.autograd.grad(out, feat)
        torch.testing.assert_close(grad, ref_grad, atol=1e-6, rtol=1e-4)


def linspace_disc_direct(p, r1, size):
    """The official formula over the whole image: pixels whose
    ``torch.linspace(0, h, h)`` coordinates are within ``r1`` of ``p``."""
    H, W = size
    xx, yy = torch.meshgrid(torch.linspace(0, H, H), torch.linspace(0, W, W),
                            indexing='ij')
    rows, cols = torch.where(((xx - p[0])**2 + (yy - p[1])**2).sqrt() < r1)
    return torch.stack([rows, cols], 1).float()


@pytest.mark.parametrize('size', [(64, 64), (256, 256), (512, 512),
                                  (48, 80)])
def test_linspace_disc_equals_the_official_formula(size):
    from mmagic_draggan.models.losses.motion_supervision_loss import \
        linspace_disc
    g = torch.Generator().manual_seed(1)
    H, W = size
    points = torch.rand(40, 2, generator=g) * torch.tensor([H - 1., W - 1.])
    points = torch.cat([points.round(), points[:10],
                        torch.tensor([[0., 0.], [H - 1., W - 1.],
                                      [H / 2, W / 2]])])
    for r1 in (1, 2, 3, 4.5, 12):
        for p in points:
            ours = linspace_disc(p, r1, size)
            ref = linspace_disc_direct(p, r1, size)
            torch.testing.assert_close(ours, ref, msg=f'p={p} r1={r1}')


def test_linspace_disc_is_the_shifted_one_design_names():
    """docs/algorithm.md, Motion supervision: at 256 px and r1 = 2 the
    official disc of row 128 spans rows 126-129; the centred one spans
    127-129."""
    from mmagic_draggan.models.losses.motion_supervision_loss import (
        disc_offsets, linspace_disc)
    p = torch.tensor([128., 128.])
    rows = linspace_disc(p, 2, (256, 256))[:, 0]
    assert (rows.min().item(), rows.max().item()) == (126, 129)
    centred = (p + disc_offsets(2))[:, 0]
    assert (centred.min().item(), centred.max().item()) == (127, 129)


def test_unknown_disc_layout_is_refused():
    with pytest.raises(ValueError, match="disc must be one of.*'centred'"):
        MotionSupervisionLoss(disc='official')


def test_gradient_only_through_shifted_sample():
    """With one point the loss gradient reaches only the pixels read by
    the shifted sample (the patch at q is detached)."""
    feat = torch.randn(1, 3, 64, 64).requires_grad_(True)
    loss = MotionSupervisionLoss(r1=1.0)(
        DenseFeatureMap(feat, (64, 64)), torch.tensor([[10., 10.]]),
        torch.tensor([[10., 20.]]))
    grad, = torch.autograd.grad(loss, feat)
    nz = grad[0].abs().sum(0).nonzero().tolist()
    # disc radius 1 = only q = p; shifted sample at (10, 11): integer pixel
    assert nz == [[10, 11]]


def test_no_term_returns_none():
    feat = torch.randn(1, 3, 8, 8)
    out = MotionSupervisionLoss()(LazyFeatureMap(feat, (32, 32)),
                                  torch.tensor([[5., 5.]]),
                                  torch.tensor([[5.5, 5.]]))
    assert out is None


def test_call_values_override_the_component_defaults():
    """A session passes its r1 / lambda_mask: the same as a loss built with
    them; None falls back to the loss's own (auto r1 = round(3H/512))."""
    torch.manual_seed(0)
    feat = torch.randn(1, 4, 16, 16, requires_grad=True)
    fm = LazyFeatureMap(feat, (64, 64))
    h, t = torch.tensor([[30., 30.]]), torch.tensor([[30., 40.]])
    mask = torch.zeros(64, 64)
    f0 = LazyFeatureMap(feat.detach() + 0.1, (64, 64))
    built = MotionSupervisionLoss(r1=3, lambda_mask=5.)(fm, h, t, mask, f0)
    passed = MotionSupervisionLoss()(fm, h, t, mask, f0, r1=3,
                                     lambda_mask=5.)
    torch.testing.assert_close(built, passed)
    auto = MotionSupervisionLoss()(fm, h, t)  # 64 px: auto r1 = 1
    assert torch.allclose(auto, MotionSupervisionLoss(r1=1)(fm, h, t))
    assert not torch.allclose(auto, passed)
    with pytest.raises(ValueError, match='r1 must be > 0'):
        MotionSupervisionLoss(r1=0)


def test_lazy_mask_term_is_the_dense_formula_tightly():
    """The chunked mask term of a lazy map gives the dense formula's value
    and gradient (the formula as written before it was chunked), at image
    sizes that are and are not a multiple of the feature size."""
    g = torch.Generator().manual_seed(1)
    for low, size in ((32, 128), (16, 40)):
        feat = torch.randn(1, 8, low, low, generator=g).requires_grad_(True)
        feat0 = (feat + 0.1 * torch.randn(feat.shape, generator=g)).detach()
        mask = torch.zeros(size, size)
        q = size // 4
        mask[q:3 * q, q:3 * q] = 1
        h, t = torch.tensor([[size / 2, size / 2]]), torch.tensor(
            [[size / 2, size / 2 + 6]])
        loss_fn = MotionSupervisionLoss(r1=2, lambda_mask=20.)
        fm = LazyFeatureMap(feat, (size, size))
        up = F.interpolate(feat, size=(size, size), mode='bilinear',
                           align_corners=False)
        up0 = F.interpolate(feat0, size=(size, size), mode='bilinear',
                            align_corners=False)
        # the motion term alone + the dense mask formula
        ref = loss_fn(fm, h, t) + 20. * ((up - up0) * (1 - mask)).abs().mean()
        ref_grad, = torch.autograd.grad(ref, feat)
        out = loss_fn(fm, h, t, mask=mask,
                      feats0=LazyFeatureMap(feat0, (size, size)))
        grad, = torch.autograd.grad(out, feat)
        torch.testing.assert_close(out, ref, rtol=1e-6, atol=0)
        # float summation order only: 1e-5 of the largest gradient
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5,
                                   atol=1e-5 * float(ref_grad.abs().max()))


def test_mask_term_is_zero_at_the_first_step():
    """F == F0 bit for bit: the mask term adds nothing, neither to the value
    nor to the gradient (the L1 kink), for both readers."""
    feat = torch.randn(1, 4, 16, 16).requires_grad_(True)
    h, t = torch.tensor([[30., 30.]]), torch.tensor([[30., 40.]])
    mask = torch.zeros(64, 64)
    mask[20:40, 20:40] = 1
    loss_fn = MotionSupervisionLoss(r1=3)
    for cls in (LazyFeatureMap, DenseFeatureMap):
        fm = cls(feat, (64, 64))
        with_mask = loss_fn(fm, h, t, mask=mask,
                            feats0=cls(feat.detach(), (64, 64)))
        without = loss_fn(fm, h, t)
        g1, = torch.autograd.grad(with_mask, feat)
        g2, = torch.autograd.grad(without, feat)
        assert torch.equal(with_mask, without) and torch.equal(g1, g2)


def test_parity_disc_is_a_config_option(tiny_config):
    """``--cfg-options model.motion_loss.disc=linspace`` reaches the loss,
    changes the drag, and the session record keeps it for a re-run."""
    from mmagic_draggan.apis import drag, init_model
    runs = {}
    for disc in ('centred', 'linspace'):
        model = init_model(tiny_config, random_weights=True, device='cpu',
                           cfg_options={'model.motion_loss.disc': disc})
        runs[disc] = drag(model, [[24., 32.]], [[36., 32.]], seed=3,
                          max_steps=3, lr=0.02, video='none', progress=False)
    out = runs['linspace']
    assert out.session.model.motion_loss.disc == 'linspace'
    assert out.record['cfg_options'] == {'model.motion_loss.disc':
                                         'linspace'}
    assert not torch.equal(out.latent, runs['centred'].latent)
