"""The file formats: one reader per kind (latent, mask, session JSON) and
the one bundle writer."""
import json
import types

import numpy as np
import pytest
import torch
from PIL import Image

from mmagic_draggan.fileio import (FILE_NAMES, BundleContent, SessionRecord,
                                   check_mask, check_mask_file, read_latent,
                                   read_mask, read_session, save_latent,
                                   write_bundle)

#: The keys of a version 2 session JSON, in the order written since v2.
V2_KEYS = [
    'format', 'version', 'id', 'config', 'checkpoint', 'random_weights',
    'cfg_options', 'seed', 'inversion_file', 'latent_file',
    'final_latent_file', 'mask_file', 'handles', 'targets', 'final_handles',
    'steps', 'start_step', 'run_steps', 'converged', 'stop_reason',
    'mean_distance', 'initial_mean_distance', 'seconds', 'run_seconds',
    'resumed_from', 'hyper_parameters', 'history', 'files'
]


def test_latent_formats_and_checks(tmp_path):
    w = torch.randn(1, 10, 64)
    assert torch.equal(read_latent(save_latent(w, tmp_path / 'a.pt')), w)
    np.save(tmp_path / 'b.npy', w[0].numpy())  # (L, C) -> (1, L, C)
    assert torch.equal(read_latent(tmp_path / 'b.npy', (1, 10, 64)), w)
    torch.save({'ws': w}, tmp_path / 'c.pth')
    assert torch.equal(read_latent(tmp_path / 'c.pth'), w)
    with pytest.raises(ValueError, match=r'needs \(1, 12, 64\)'):
        read_latent(tmp_path / 'a.pt', (1, 12, 64))
    torch.save(torch.full((1, 2, 3), float('inf')), tmp_path / 'd.pt')
    with pytest.raises(ValueError, match='NaN or inf'):
        read_latent(tmp_path / 'd.pt')
    (tmp_path / 'e.txt').write_text('x')
    with pytest.raises(ValueError, match='must end with one of'):
        read_latent(tmp_path / 'e.txt')
    np.save(tmp_path / 'f.npy', np.array([{'a': 1}], dtype=object),
            allow_pickle=True)
    with pytest.raises(ValueError, match='holds Python objects'):
        read_latent(tmp_path / 'f.npy')  # no pickle, no code


def test_mask_rule_is_the_same_for_arrays_and_files(tmp_path):
    grey = np.zeros((64, 64), np.uint8)
    grey[8:16, 8:24] = 200
    Image.fromarray(grey).save(tmp_path / 'm.png')
    from_file = read_mask(tmp_path / 'm.png', 64)
    assert from_file.sum() == 8 * 16
    np.testing.assert_array_equal(check_mask(grey, 64), from_file)
    check_mask_file(tmp_path / 'm.png', 64)
    with pytest.raises(ValueError, match=r'32x32'):
        check_mask_file(tmp_path / 'm.png', 32)
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / 'z.png')
    for bad in (lambda: read_mask(tmp_path / 'z.png'),
                lambda: check_mask(np.zeros((64, 64)))):
        with pytest.raises(ValueError, match='all zero'):
            bad()
    with pytest.raises(ValueError, match='does not exist'):
        check_mask_file(tmp_path / 'nope.png')


def test_reads_version_1_records(tmp_path):
    """A v1 demo bundle (draggan_* names) and a v1 CLI session still read."""
    rec = {
        'format': 'mmagic-draggan/session', 'version': 1,
        'config': 'configs/draggan/draggan_stylegan2_tiny-64x64.py',
        'checkpoint': None, 'random_weights': True, 'seed': 3,
        'latent_file': 'draggan_start_latent.pt',
        'final_latent_file': 'draggan_final_latent.pt',
        'mask_file': 'draggan_mask.png',
        'handles': [[24.0, 32.0]], 'targets': [[36.0, 32.0]],
        'final_handles': [[30.0, 32.0]], 'steps': 4, 'seconds': 1.5,
        'hyper_parameters': {'latent_space': 'w+', 'num_opt_latents': 6,
                             'lr': 0.02, 'max_steps': 60, 'mode': 'fast',
                             'stop_distance': 2.0, 'r1': 2,
                             'lambda_mask': 20.0, 'r2': 4, 'metric': 'l2',
                             'truncation': 0.7, 'feat_idx': 3,
                             'image_size': 64},
        'history': [{'step': 1, 'mean_distance': 12.0, 'loss': 0.1}]}
    (tmp_path / 'draggan_session.json').write_text(json.dumps(rec))
    sf = read_session(tmp_path / 'draggan_session.json')
    assert sf.seed == 3 and sf.truncation == 0.7 and sf.random_weights
    assert sf.latent_file == str(tmp_path / 'draggan_start_latent.pt')
    assert sf.options['lr'] == 0.02 and sf.options['r2'] == 4
    assert 'truncation' not in sf.options and sf.steps == 4
    assert sf.final_handles == [[30.0, 32.0]]
    assert sf.record.version == 1 and sf.record.latent_file == \
        'draggan_start_latent.pt'  # as stored; sf.latent_file is the path
    (tmp_path / 'p.json').write_text(json.dumps(
        {'handles': [[1, 2]], 'targets': [[3, 4]]}))  # a points file
    assert read_session(tmp_path / 'p.json').options == {}


@pytest.mark.parametrize('data,match', [
    ({'handles': [[1, 2]]}, 'no "targets"'),
    ({'handles': [[1, 2]], 'targets': []}, '1 handles but 0 targets'),
    ({'handles': [[1, 2]], 'targets': [[1, 1]], 'version': 9},
     'version 9'),
    ({'handles': [], 'targets': [], 'format': 'other'}, "'other' file"),
    ({'handles': [], 'targets': [], 'hyper_parameters': {'lr': -1}},
     'lr must be > 0'),
    ([1], 'JSON object'),
])
def test_bad_session_files(tmp_path, data, match):
    (tmp_path / 's.json').write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match):
        read_session(tmp_path / 's.json')


def _frame(step, value):
    img = np.full((16, 16, 3), value, np.uint8)
    return types.SimpleNamespace(step=step, image=img, handles=[[4., 4.]],
                                 targets=[[10., 4.]])


def test_bundle_writes_one_scheme_and_reads_back(tmp_path):
    rec = dict(format='mmagic-draggan/session', version=2, handles=[[4, 4]],
               targets=[[10, 4]], final_handles=[[6, 4]], seed=None,
               history=[dict(step=1, mean_distance=6., loss=0.5),
                        dict(step=2, mean_distance=4., loss=0.4)],
               hyper_parameters=dict(lr=0.01))
    mask = np.zeros((16, 16), bool)
    mask[2:8] = True
    start = torch.randn(1, 4, 8)
    out = write_bundle(
        str(tmp_path / 'b'),
        BundleContent(record=rec, result_image=_frame(2, 9).image,
                      final_latent=start + 1, start_image=_frame(0, 1).image,
                      start_latent=start, mask=mask,
                      frames=[_frame(1, 50), _frame(2, 90)]),
        videos=('gif', ), watermark=True, scale=2)
    assert not out.errors
    assert set(out.paths) == {'result', 'start', 'latent', 'start_latent',
                              'mask', 'curves', 'gif', 'session'}
    for kind, path in out.paths.items():
        assert path.endswith(FILE_NAMES[kind])
    on_disk = json.loads((tmp_path / 'b' / 'session.json').read_text())
    assert on_disk == out.record
    assert on_disk['files'] == {k: FILE_NAMES[k] for k in out.paths}
    assert on_disk['latent_file'] == 'start_latent.pt'
    with Image.open(out.paths['gif']) as gif:
        assert gif.size == (32, 32)  # scale 2
    sf = read_session(out.paths['session'])
    assert torch.equal(read_latent(sf.latent_file), start)
    np.testing.assert_array_equal(read_mask(sf.mask_file, 16), mask)
    assert sf.options == dict(lr=0.01)
    with pytest.raises(ValueError, match='unknown video format'):
        write_bundle(str(tmp_path / 'c'), BundleContent(
            record=rec, result_image=_frame(2, 9).image,
            final_latent=start), videos=('avi', ))


def test_session_record_is_what_is_written_and_read(tmp_path, tiny_model):
    """One typed record: the session makes it complete, the bundle writer
    writes it (the v2 JSON, keys in their order) and read_session gives it
    back."""
    s = tiny_model.new_session(seed=3)
    s.set_points([[24, 32]], [[36, 32]])
    res = s.run(max_steps=1)
    rec = s.record(res, task_id='t1')
    assert isinstance(rec, SessionRecord) and list(rec) == V2_KEYS
    assert rec['id'] == 't1' and rec.seed == 3 and rec.steps == 1
    out = write_bundle(str(tmp_path / 'b'), BundleContent(
        record=rec, result_image=res.image, final_latent=res.latent))
    text = (tmp_path / 'b' / 'session.json').read_text()
    assert text == json.dumps(out.record.to_dict(), indent=2)
    assert list(json.loads(text)) == V2_KEYS
    assert out.record.final_latent_file == 'latent.pt'
    assert rec.final_latent_file is None  # the session's own is unchanged
    sf = read_session(out.paths['session'])
    assert sf.record == out.record and sf.handles == [[24., 32.]]
