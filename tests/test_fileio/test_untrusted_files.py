"""Files from someone else: nothing they name runs or is read, and nothing
they hold is unpacked before its size is known.

* a session JSON that names a Python config by path never gets it executed
  (the CLI's ``--points-file`` and ``--resume``, and the demo's Load);
* paths inside a session (files, checkpoint, inversion) are not followed
  outside the bundle;
* compressed ("bomb") tensor files, oversized latents, masks and JSONs are
  refused from their headers;
* option values that would overflow a drag are refused by ``DragOptions``.
"""
import io
import json
import os.path as osp
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from mmagic_draggan.fileio.inversion_file import (InversionFile,
                                                  read_inversion,
                                                  save_inversion)
from mmagic_draggan.fileio.latent import read_latent
from mmagic_draggan.fileio.mask import check_mask_file, read_mask
from mmagic_draggan.fileio.session_file import read_session
from mmagic_draggan.structures.drag_options import DragOptions, check_option
from mmagic_draggan.checkpoints.record_names import (
    NamedInFile, UntrustedNameError, checkpoint_from_record,
    config_from_record, inversion_from_record, shipped_config)
from mmagic_draggan.utils.torch_file import TensorFileError, \
    check_tensor_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_REL = 'configs/draggan/draggan_stylegan2_tiny-64x64.py'


def evil_config(tmp_path):
    """A config file that, when read by Config.fromfile, writes a marker."""
    marker = tmp_path / 'pwned'
    cfg = tmp_path / 'evil_config.py'
    cfg.write_text(f'open({str(marker)!r}, "w").write("ran")\n'
                   f"_base_ = [{osp.join(ROOT, TINY_REL)!r}]\n")
    return cfg, marker


def session_json(path, **fields):
    rec = dict(format='mmagic-draggan/session', version=2,
               handles=[[24, 32]], targets=[[36, 32]], seed=3,
               random_weights=True)
    rec.update(fields)
    path.write_text(json.dumps(rec))
    return path


def recompress(src: bytes, method=zipfile.ZIP_DEFLATED) -> bytes:
    """``torch.save`` output with every zip entry re-packed compressed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src)) as zin, \
            zipfile.ZipFile(out, 'w', compression=method) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    return out.getvalue()


# ----------------------------------------------------------------------
# names inside files


def test_shipped_config_names():
    full = osp.join(ROOT, TINY_REL)
    for name in (TINY_REL, 'draggan_stylegan2_tiny-64x64.py',
                 'draggan_stylegan2_tiny-64x64', './' + TINY_REL, full):
        assert shipped_config(name) == full, name
    for name in ('/tmp/' + osp.basename(TINY_REL), 'evil.py', '',
                 'configs/draggan/../draggan/evil.py',
                 '../' + TINY_REL, 'configs/_base_/models/'
                 'draggan_stylegan2.py'):
        assert shipped_config(name) is None, name


def test_config_named_in_a_file_is_never_read(tmp_path):
    cfg, marker = evil_config(tmp_path)
    with pytest.raises(UntrustedNameError, match='not a shipped config'):
        config_from_record(str(cfg), 'session.json')
    # the caller's own list is trusted
    assert config_from_record(str(cfg), 's', [str(cfg)]) == str(cfg)
    assert not marker.exists()


def test_checkpoint_and_inversion_names(tmp_path):
    assert checkpoint_from_record('stylegan2-ffhq', 's') == 'StyleGAN2-FFHQ'
    assert checkpoint_from_record(
        'checkpoints/stylegan2_lions_512_pytorch_mmagic.pth',
        's') == 'StyleGAN2-Lions-internet'
    with pytest.raises(UntrustedNameError, match='--checkpoint FILE'):
        checkpoint_from_record('/etc/passwd', 's')
    src = str(tmp_path / 'session.json')
    assert inversion_from_record('inversion.pth', src) == str(
        tmp_path / 'inversion.pth')
    for bad in ('/tmp/inversion.pth', '../inversion.pth', 'a/inversion.pth'):
        with pytest.raises(UntrustedNameError, match='--inversion FILE'):
            inversion_from_record(bad, src)
    assert NamedInFile('checkpoint', 'StyleGAN2-FFHQ', src).resolve() == \
        'StyleGAN2-FFHQ'


def test_session_file_names_stay_in_their_folder(tmp_path):
    for bad in ('/etc/passwd', '../latent.pt', 'sub/latent.pt'):
        path = session_json(tmp_path / 'session.json', latent_file=bad)
        with pytest.raises(ValueError, match='plain file name'):
            read_session(path)
    path = session_json(tmp_path / 'session.json', config=['x'])
    with pytest.raises(ValueError, match='"config" must be a string'):
        read_session(path)
    big = tmp_path / 'big.json'
    with open(big, 'wb') as f:
        f.truncate(33 * 2**20)
    with pytest.raises(ValueError, match='over the limit of 32 MB'):
        read_session(big)


def _drag_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'drag_tool', osp.join(ROOT, 'tools', 'drag.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_never_runs_a_config_a_session_names(tmp_path, capsys):
    cfg, marker = evil_config(tmp_path)
    sess = session_json(tmp_path / 'session.json', config=str(cfg),
                        final_latent_file='latent.pt',
                        final_handles=[[25, 32]], steps=1)
    torch.save(torch.zeros(1, 6, 64), tmp_path / 'latent.pt')
    tool = _drag_tool()
    for args in (['--points-file', sess], ['--resume', sess]):
        code = tool.main([str(a) for a in args] +
                         ['--device', 'cpu', '--max-steps', '1',
                          '--video', 'none', '--out-dir',
                          str(tmp_path / 'out')])
        err = capsys.readouterr().err
        assert code == 2, err
        assert 'not a shipped config' in err and 'Traceback' not in err
        assert not marker.exists()


def test_cli_follows_only_released_checkpoints(tmp_path, capsys):
    ckpt = tmp_path / 'secret.pth'
    sess = session_json(tmp_path / 'session.json', config=TINY_REL,
                        random_weights=False, checkpoint=str(ckpt))
    tool = _drag_tool()
    code = tool.main(['--points-file', str(sess), '--device', 'cpu',
                      '--max-steps', '0', '--video', 'none', '--out-dir',
                      str(tmp_path / 'out')])
    err = capsys.readouterr().err
    assert code == 2 and '--checkpoint FILE' in err, err
    # an explicit flag replaces the name, which is then never opened
    code = tool.main(['--points-file', str(sess), '--random-weights',
                      '--device', 'cpu', '--max-steps', '0', '--video',
                      'none', '--out-dir', str(tmp_path / 'out2')])
    assert code == 0, capsys.readouterr().err


# ----------------------------------------------------------------------
# sizes before unpacking


def test_compressed_latent_bomb_is_refused_unpacked(tmp_path):
    buf = io.BytesIO()
    torch.save(torch.zeros(4 * 2**20), buf)  # 16 MB of zeros
    bomb = tmp_path / 'start_latent.pt'
    bomb.write_bytes(recompress(buf.getvalue()))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ValueError, match='compressed entry'):
        read_latent(bomb)
    with pytest.raises(ValueError, match='compressed entry'):
        read_inversion(bomb)


def test_compressed_checkpoint_is_refused_unpacked(tmp_path):
    from mmagic_draggan.checkpoints.reader import (CheckpointError,
                                                   read_checkpoint)
    buf = io.BytesIO()
    torch.save({'state_dict': {'w': torch.zeros(2**20)}}, buf)
    path = tmp_path / 'ckpt.pth'
    path.write_bytes(recompress(buf.getvalue()))
    with pytest.raises(CheckpointError, match='compressed entry'):
        read_checkpoint(str(path))


def test_torch_save_files_are_stored_and_sized(tmp_path):
    path = tmp_path / 'latent.pt'
    torch.save(torch.zeros(1, 6, 64), path)
    assert check_tensor_file(path, 10_000) == 'zip'
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {
            zipfile.ZIP_STORED}
    big = tmp_path / 'big.pt'
    torch.save(torch.zeros(1, 4096, 512), big)  # 8 MB, stored
    with pytest.raises(ValueError, match='unpacks to 8.0 MB'):
        read_latent(big, shape=(1, 6, 64))
    with pytest.raises(TensorFileError, match='unpacks to'):
        check_tensor_file(big, 2**20)
    npy = tmp_path / 'big.npy'
    np.save(npy, np.zeros((1, 4096, 128), np.float32))  # 2 MB
    with pytest.raises(ValueError, match='is 2.0 MB, more than the 1.0 MB'):
        read_latent(npy, shape=(1, 6, 64))
    legacy = tmp_path / 'legacy.pt'
    torch.save(torch.zeros(1, 6, 64), legacy,
               _use_new_zipfile_serialization=False)
    assert check_tensor_file(legacy) == 'legacy'
    assert read_latent(legacy, (1, 6, 64)).shape == (1, 6, 64)
    with pytest.raises(TensorFileError, match='more than the 1000 bytes'):
        check_tensor_file(legacy, 1000)


def test_inversion_limit_is_checked_before_loading(tmp_path):
    path = tmp_path / 'inversion.pth'
    save_inversion(path, InversionFile(
        latent=torch.zeros(1, 6, 64),
        synthesis_delta={'w': torch.zeros(256, 1024)}))  # 1 MB
    assert read_inversion(path).tuned
    with pytest.raises(ValueError, match='unpacks to 1.0 MB'):
        read_inversion(path, max_bytes=2**19)


def test_mask_size_is_read_from_its_header(tmp_path):
    path = tmp_path / 'mask.png'
    Image.fromarray(np.full((96, 80), 255, np.uint8)).save(path)
    with pytest.raises(ValueError, match='96x80'):
        read_mask(path, 64)
    with pytest.raises(ValueError, match='96x80'):
        check_mask_file(path, 64)
    assert read_mask(path).shape == (96, 80)
    huge = tmp_path / 'huge.png'
    # a 1-bit 9000 x 9000 PNG: a few KB of file, 81 Mpx once decoded
    Image.new("1", (9000, 9000)).save(huge, optimize=True)
    assert huge.stat().st_size < 2**20
    with pytest.raises(ValueError, match='over the limit of 8192 px'):
        read_mask(huge)


# ----------------------------------------------------------------------
# option values


@pytest.mark.parametrize('name,value', [('lr', 1e308), ('max_steps', 1e15),
                                        ('r1', 1e6), ('r2', 10**6),
                                        ('lambda_mask', 1e30),
                                        ('num_opt_latents', 1000),
                                        ('stop_distance', 1e9)])
def test_option_upper_bounds(name, value):
    with pytest.raises(ValueError, match=f'{name} must be <= '):
        check_option(name, value)
    with pytest.raises(ValueError, match=f'{name} must be <= '):
        DragOptions().replace(**{name: value})
