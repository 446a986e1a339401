"""DragOptions (the one home of the drag options) and the points rule."""
import dataclasses

import pytest

from mmagic_draggan.structures import (OPTION_NAMES, OPTION_SPECS,
                                       DragOptions, check_option,
                                       check_point_pairs, check_points,
                                       rc_to_xy, xy_to_rc)


def test_defaults_are_the_design_values():
    o = DragOptions()
    assert o.as_dict() == dict(
        latent_space='w+', num_opt_latents=6, lr=1e-3, stop_distance=None,
        max_steps=300, mode='fast', r1=None, r2=None, lambda_mask=20.,
        metric='l2', precision='fp32')
    assert OPTION_NAMES == tuple(f.name for f in dataclasses.fields(o))
    assert [s.name for s in OPTION_SPECS] == list(OPTION_NAMES)


@pytest.mark.parametrize('size,r1,r2,stop', [(512, 3, 12, 2.),
                                             (256, 2, 6, 2.),
                                             (1024, 6, 24, 4.),
                                             (64, 1, 2, 2.)])
def test_auto_values_follow_the_image_size(size, r1, r2, stop):
    o = DragOptions()
    assert (o.r1_px(size), o.r2_px(size), o.stop_distance_px(size)) == \
        (r1, r2, stop)
    fixed = o.replace(r1=5, r2=7, stop_distance=0.5)
    assert (fixed.r1_px(size), fixed.r2_px(size),
            fixed.stop_distance_px(size)) == (5, 7, 0.5)
    rec = o.to_record(size)
    assert rec['r1'] == r1 and rec['r2'] == r2 and rec['stop_distance'] == stop


@pytest.mark.parametrize('change,match', [
    (dict(lr=-1.), 'lr must be > 0'),
    (dict(lr=float('nan')), 'lr must be a finite number'),
    (dict(lr='0.1'), 'lr must be a number'),
    (dict(max_steps=2.5), 'max_steps must be a whole number'),
    (dict(max_steps=-1), 'max_steps must be >= 0'),
    (dict(num_opt_latents=0), 'num_opt_latents must be >= 1'),
    (dict(latent_space='z'), r"latent_space must be one of \['w\+', 'w'\]"),
    (dict(mode='slow'), 'mode must be one of'),
    (dict(metric='cos'), 'metric must be one of'),
    (dict(r1=0), 'r1 must be > 0'),
    (dict(r2=0), 'r2 must be >= 1'),
    (dict(r2=1.5), 'r2 must be a whole number'),
    (dict(lambda_mask=-1), 'lambda_mask must be >= 0'),
    (dict(stop_distance=-1), 'stop_distance must be >= 0'),
    (dict(lr=True), 'lr must be a number'),
    (dict(learning_rate=1), 'unknown DragGAN option'),
    (dict(mode=None), 'mode needs a value'),
])
def test_bad_values_are_refused_with_the_option_named(change, match):
    o = DragOptions()
    with pytest.raises(ValueError, match=match):
        o.replace(**change)
    assert o == DragOptions()  # immutable: nothing half-changed


def test_values_are_normalised():
    o = DragOptions().replace(max_steps=3.0, r2=4.0, latent_space='W',
                              r1='auto', stop_distance=None)
    assert o.max_steps == 3 and isinstance(o.max_steps, int)
    assert o.r2 == 4 and isinstance(o.r2, int)
    assert o.latent_space == 'w' and o.r1 is None
    assert check_option('lr', 2) == 2.0


def test_restart_rule_and_latent_rows():
    o = DragOptions()
    assert o.restarts(o.replace(lr=2e-3))
    assert o.restarts(o.replace(latent_space='w'))
    assert not o.restarts(o.replace(r1=4, max_steps=5, lambda_mask=1))
    with pytest.raises(ValueError, match=r'num_opt_latents must be in '
                       r'\[1, 10\]'):
        o.replace(num_opt_latents=11).check_latents(10)


def test_record_round_trip():
    o = DragOptions().replace(lr=0.02, r2=5, metric='l1')
    hp = dict(o.to_record(64), truncation=0.7, feat_idx=3, image_size=64)
    back = DragOptions().replace(**DragOptions.record_overrides(hp))
    assert back == o.resolved(64)
    with pytest.raises(ValueError, match='f.json: lr must be > 0'):
        DragOptions.record_overrides(dict(lr=0), 'f.json')
    with pytest.raises(ValueError, match='must be an object'):
        DragOptions.record_overrides([1], 'f.json')


def test_points_rule():
    assert check_points([[1, 2], (3.5, 4)], 'handles', 64) == \
        [[1., 2.], [3.5, 4.]]
    with pytest.raises(ValueError, match=r'handles \[\[64.0, 3.0\]\] lie '
                       'outside the 64x64 image'):
        check_points([[64, 3]], 'handles', 64)
    with pytest.raises(ValueError, match='NaN or inf'):
        check_points([[float('nan'), 3]], 'targets')
    with pytest.raises(ValueError, match='pixel pairs'):
        check_points([[1, 2, 3]], 'handles')
    with pytest.raises(ValueError, match='pixel pairs'):
        check_points('1,2', 'handles')
    with pytest.raises(ValueError, match='2 handles but 1 targets'):
        check_point_pairs([[1, 1], [2, 2]], [[3, 3]])
    with pytest.raises(ValueError, match='no points'):
        check_point_pairs([], [], allow_empty=False)
    rc = xy_to_rc([[3., 7.]])  # x = column 3, y = row 7
    assert rc.tolist() == [[7., 3.]] and rc_to_xy(rc) == [[3., 7.]]
