"""Windowed synthesis: the feature block only around the handles.

:func:`synthesize_windows` must give the features of :func:`synthesize`
inside its boxes, and the gradient w.r.t. the optimised W+ rows of anything
computed from them, to float32 rounding (tolerances and the leaky-ReLU kink
argument as in test_synthesis.py), for every block, at boxes on the borders,
corners and inside, with both layer implementations. A drag session that
synthesises only those windows must track the same handles as one that
synthesises the whole map.
"""
import numpy as np
import pytest
import torch

from mmagic_draggan.models import stylegan2_synthesis as synth
from mmagic_draggan.models.feature_maps import (LazyFeatureMap,
                                                WindowedFeatureMap)
from mmagic_draggan.models.feature_windows import (feature_box_size, fit_box,
                                                   handle_boxes,
                                                   image_box_to_feature_box)
from mmagic_draggan.models.stylegan2_synthesis import (num_blocks,
                                                       synthesize,
                                                       synthesize_bands,
                                                       synthesize_windows)
from test_synthesis import N_OPT, _build, _close, _close_norm, _latent, _slope


@pytest.fixture(scope='module')
def gens():
    return {key: _build(*key) for key in [(64, 1), (128, 2), (256, 1)]}


def _boxes(side):
    """A corner, a border and an inner box of a side x side map (the last
    two overlap)."""
    if side < 16:
        return [(1, 3, 0, 2)]
    return [(0, 3, side - 4, side), (side // 2 - 2, side // 2 + 3, 0, 6),
            (side // 2 + 1, side // 2 + 5, 4, 9)]


def _both(gen, ws0, idx, boxes, impl='fast'):
    """Whole-map and windowed features; a random linear loss on the boxes
    and its gradient w.r.t. the first N_OPT rows for each."""
    head = ws0[:, :N_OPT].clone().requires_grad_(True)
    ws = torch.cat([head, ws0[:, N_OPT:]], 1)
    full, _ = synthesize(gen, ws, idx, return_image=False, impl=impl,
                         grad_rows=N_OPT)
    crops = synthesize_windows(gen, ws, idx, boxes, impl=impl,
                               grad_rows=N_OPT)
    g = torch.Generator().manual_seed(idx)
    loss_full = loss_win = 0
    pairs = []
    for box, t in crops:
        ref = full[:, :, box[0]:box[1], box[2]:box[3]]
        r = torch.randn(t.shape, generator=g)
        loss_full = loss_full + (ref * r).sum()
        loss_win = loss_win + (t * r).sum()
        pairs.append((t.detach(), ref.detach(), box))
    g_full, = torch.autograd.grad(loss_full, head, retain_graph=True)
    g_win, = torch.autograd.grad(loss_win, head)
    return pairs, g_win, g_full, crops


@pytest.mark.parametrize('key', [(64, 1), (128, 2), (256, 1)])
def test_windows_equal_the_whole_map(gens, key):
    gen = gens[key]
    ws0 = _latent(gen, 5)
    # every block with up-sampling convs up to half the image side (the
    # feature block at 256 and 512 is 128: a half and a quarter)
    blocks = range(1, num_blocks(gen) - 1) if key[0] <= 128 else \
        [num_blocks(gen) - 3, num_blocks(gen) - 2]
    for idx in blocks:
        side = 4 * 2**idx
        boxes = _boxes(side)
        what = f'out_size {key[0]} cm {key[1]} block {idx}'
        pairs, g_win, g_full, crops = _both(gen, ws0, idx, boxes)
        covered = set()
        for t, ref, box in pairs:
            _close(t, ref, f'{what} box {box}')
            covered |= {(r, c) for r in range(box[0], box[1])
                        for c in range(box[2], box[3])}
        for b in boxes:
            assert {(r, c) for r in range(b[0], min(b[1], side))
                    for c in range(b[2], min(b[3], side))} <= covered, b
        _close_norm(g_win, g_full, what + ' grad')
        with _slope(gen, 1.):
            _, g_win, g_full, _ = _both(gen, ws0, idx, boxes)
        _close(g_win, g_full, what + ' grad (slope 1)')
        assert g_full.abs().max() > 0
        if side >= 32:
            # the boxes are small: the feature block really is cropped
            assert all(box != (0, side, 0, side) for box, _ in crops)


def test_mmagic_modules_on_windows(gens):
    """MMagic's own layers run on the crops too (impl='mmagic'), equal to
    their whole-map features."""
    gen = gens[(64, 1)]
    pairs, g_win, g_full, _ = _both(gen, _latent(gen, 2), 3, _boxes(32),
                                    impl='mmagic')
    for t, ref, box in pairs:
        _close(t, ref, f'mmagic box {box}')
    _close_norm(g_win, g_full, 'mmagic grad')


def test_a_too_small_receptive_field_is_caught(gens, monkeypatch):
    """The check is sharp: without the margins of the up-sampling conv the
    crops' inner edges are wrong."""
    gen = gens[(64, 1)]
    ws0 = _latent(gen, 5)
    real = synth._up_input

    def one_short(box, n_in):  # one input row / col fewer at the start
        r0, r1, c0, c1 = real(box, n_in)
        return (r0 + 1, r1, c0 + 1, c1)

    monkeypatch.setattr(synth, '_up_input', one_short)
    pairs, _, _, _ = _both(gen, ws0, 3, [(12, 18, 12, 18)])
    t, ref, box = pairs[0]
    with pytest.raises(AssertionError):
        _close(t, ref, 'no margins')


def test_big_boxes_give_the_whole_map(gens):
    gen = gens[(64, 1)]
    ws = _latent(gen, 1)
    crops = synthesize_windows(gen, ws, 3, [(0, 30, 0, 31)])
    assert [box for box, _ in crops] == [(0, 32, 0, 32)]
    full, _ = synthesize(gen, ws, 3, return_image=False)
    _close(crops[0][1], full, 'whole map')
    with pytest.raises(ValueError, match='non-empty box'):
        synthesize_windows(gen, ws, 3, [(40, 50, 0, 4)])


def test_box_helpers():
    # shifted inwards, not clipped; a size beyond the map spans it
    assert fit_box((-2, 3, 5, 9), 6, 4, 32, 32) == (0, 6, 5, 9)
    assert fit_box((30, 34, 1, 3), 6, 40, 32, 32) == (26, 32, 0, 32)
    with pytest.raises(AssertionError):
        fit_box((0, 8, 0, 2), 6, 6, 32, 32)
    h = torch.tensor([[0.4, 63.0], [30.6, 10.2]])  # (row, col)
    assert handle_boxes(h, 3, (64, 64)) == [(0, 7, 57, 64), (28, 35, 7, 14)]
    # image pixels 0..63 of a 64 px image read feature rows 0..31 (32 px)
    assert image_box_to_feature_box((0, 64, 0, 64), (32, 32), (64, 64)) == \
        (0, 32, 0, 32)
    # pixel 10 sits at 4.75 (taps 4, 5); pixel 13 at 6.25 (taps 6, 7)
    assert image_box_to_feature_box((10, 14, 10, 11), (32, 32), (64, 64)) \
        == (4, 8, 4, 6)
    # the bound holds wherever a box lies, and is reached
    for m, (n, N) in [(7, (32, 64)), (37, (128, 512)), (13, (128, 256)),
                      (9, (32, 32))]:
        bound = feature_box_size([(0, m, 0, 1)], (n, n), (N, N))[0]
        sizes = {image_box_to_feature_box((a, a + m, 0, 1), (n, n),
                                          (N, N))[1] - a_f
                 for a in range(N - m + 1)
                 for a_f in [image_box_to_feature_box(
                     (a, a + m, 0, 1), (n, n), (N, N))[0]]}
        assert max(sizes) <= bound and bound - max(sizes) <= 1, (m, sizes)


def test_a_drag_convolves_a_few_shapes(gens, monkeypatch):
    """Boxes anywhere (corners, borders, inside) run the same convolution
    shapes: oneDNN caches a primitive per shape, so varying shapes would
    grow the memory of a long drag."""
    import torch.nn.functional as F
    gen = gens[(64, 1)]
    ws = _latent(gen, 1)
    shapes = set()
    for name in ('conv2d', 'conv_transpose2d'):
        real = getattr(F, name)

        def spy(*a, _real=real, _name=name, **k):
            x = a[0] if a else k['input']
            shapes.add((_name, tuple(x.shape)))
            return _real(*a, **k)

        monkeypatch.setattr(F, name, spy)
    synthesize_windows(gen, ws, 3, [(10, 17, 10, 17)], box_size=(7, 7))
    first = set(shapes)
    for r in range(0, 26, 5):
        for c in (0, 3, 12, 25):
            crops = synthesize_windows(gen, ws, 3, [(r, r + 7, c, c + 7)],
                                       box_size=(7, 7))
            assert crops[0][1].shape[2:] == (7, 7)
    assert shapes == first, shapes - first


def test_windowed_map_reads_like_the_lazy_one(gens):
    gen = gens[(64, 1)]
    ws = _latent(gen, 4)
    full, _ = synthesize(gen, ws, 3, return_image=False)
    size = (64, 64)
    box = image_box_to_feature_box((20, 40, 5, 30), (32, 32), size)
    crop = full[:, :, box[0]:box[1], box[2]:box[3]]
    win = WindowedFeatureMap([(box, crop)], (32, 32), size)
    lazy = LazyFeatureMap(full, size)
    rows, cols = torch.arange(20, 40), torch.arange(5, 30)
    torch.testing.assert_close(win.window(rows, cols),
                               lazy.window(rows, cols), rtol=0, atol=0)
    pts = torch.tensor([[20.3, 5.0], [38.9, 28.7]])
    torch.testing.assert_close(win.sample(pts), lazy.sample(pts), rtol=0,
                               atol=0)
    with pytest.raises(RuntimeError, match='too small'):
        win.window(torch.arange(18, 22), cols)
    with pytest.raises(AttributeError, match='around the handles'):
        win.feat
    with pytest.raises(NotImplementedError, match='mask term'):
        win.weighted_l1(lazy, torch.ones(size))


@pytest.mark.parametrize('disc', ['centred', 'linspace'])
def test_windowed_drag_tracks_like_the_whole_map(tiny_model, disc,
                                                 monkeypatch):
    """A drag (two handles, one on the border) with and without windows:
    the same handles at every step and latents equal to float rounding;
    every windowed step really reads a WindowedFeatureMap."""
    from mmagic_draggan.models.drag_session import DragSession
    model = tiny_model
    old_disc = model.motion_loss.disc
    model.motion_loss.disc = disc
    kinds = []
    real_track = type(model.tracker).forward

    def spy(self, feats, *a, **k):
        kinds.append(type(feats).__name__)
        return real_track(self, feats, *a, **k)

    monkeypatch.setattr(type(model.tracker), 'forward', spy)
    try:
        runs = []
        for windowed in (True, False):
            if not windowed:
                monkeypatch.setattr(DragSession, '_windows',
                                    lambda self: None)
            s = model.new_session(seed=1, stop_distance=0., max_steps=20)
            start = s.latent.clone()
            s.set_points([[2, 30], [40, 20]], [[20, 45], [25, 0]])
            runs.append(([s.step().handles for _ in range(8)], s.latent))
    finally:
        model.motion_loss.disc = old_disc
    assert kinds == ['WindowedFeatureMap'] * 8 + ['LazyFeatureMap'] * 8
    (h_win, lat_win), (h_full, lat_full) = runs
    assert h_win == h_full
    assert h_win[-1] != h_win[0]  # the handles moved
    # Adam divides each gradient entry by its running RMS, so where an
    # entry's gradient is ~0 float rounding decides its step (up to the
    # learning rate): compare the latents relative to how far they moved
    moved = (lat_full - start).norm()
    assert moved > 0
    assert (lat_win - lat_full).norm() / moved < 1e-2


def test_masked_and_watched_steps_use_the_whole_map(tiny_model):
    s = tiny_model.new_session(seed=0, stop_distance=0.)
    s.set_points([[10, 10]], [[30, 10]])
    assert s._windows() is not None
    mask = np.zeros((64, 64), np.float32)
    mask[:, :32] = 1
    s.set_mask(mask)
    assert s._windows() is None  # the mask term reads the fixed region
    s.configure(lambda_mask=0.)
    assert s._windows() is not None
    r = s.step(return_image=True)  # an image: the whole synthesis anyway
    assert r.image.shape == (64, 64, 3)


@pytest.mark.parametrize('key', [(64, 1), (128, 2), (256, 1)])
def test_banded_image_equals_the_whole_synthesis(gens, key):
    """Renders run the last blocks in bands of rows: the same image (and,
    with slope 1, the same image gradient) as the whole-map synthesis, for
    bands of 16 rows, of a size that does not divide the image, and one
    band."""
    gen = gens[key]
    ws0 = _latent(gen, 7)
    side = gen.out_size
    ch = gen.channels[side]
    ri = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    for rows in (16, 23, side):
        what = f'out_size {side} cm {key[1]} bands of {rows} rows'
        with _slope(gen, 1.):
            head = ws0[:, :N_OPT].clone().requires_grad_(True)
            ws = torch.cat([head, ws0[:, N_OPT:]], 1)
            _, ref = synthesize(gen, ws, 1, return_image=True,
                                grad_rows=N_OPT)
            img = synthesize_bands(gen, ws, grad_rows=N_OPT,
                                   band_elements=rows * ch * side)
            _close(img, ref, what)
            g_ref, = torch.autograd.grad((ref * ri).sum(), head)
            g_img, = torch.autograd.grad((img * ri).sum(), head)
        _close(g_img, g_ref, what + ' grad (slope 1)')
    # the bands really are bands: the last up-sampling conv sees few rows
    import torch.nn.functional as F
    heights = []
    real = F.conv_transpose2d

    def spy(*a, **k):
        heights.append((a[0] if a else k['input']).shape[2])
        return real(*a, **k)

    with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, 'conv_transpose2d', spy)
        synthesize_bands(gen, ws0, band_elements=16 * ch * side)
    assert max(heights) < side // 2, heights
    with torch.no_grad():
        for impl in ('fast', 'mmagic'):
            _, ref = synthesize(gen, ws0, 1, impl=impl)
            _close(synthesize_bands(gen, ws0, impl=impl,
                                    band_elements=16 * ch * side), ref,
                   f'{impl} bands')


def test_a_render_is_banded_and_equals_the_step_image(tiny_model,
                                                      monkeypatch):
    from mmagic_draggan.models import draggan
    calls = []
    real = draggan.synthesize_bands
    monkeypatch.setattr(draggan, 'synthesize_bands',
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    s = tiny_model.new_session(seed=2)
    s.set_points([[10, 10]], [[30, 12]])
    before = s.image()  # the latent the step tracks on
    np.testing.assert_array_equal(s.step(return_image=True).image, before)
    assert len(calls) == 2
