"""tools/invert.py: one real run in a subprocess, and its one-line errors."""
import pytest
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'invert.py')
TINY = osp.join(ROOT, 'configs', 'draggan', 'draggan_stylegan2_tiny-64x64.py')


def _photo(tmp_path) -> str:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)
    path = str(tmp_path / 'photo.jpg')
    Image.fromarray(arr).save(path, quality=90)
    return path


@pytest.mark.e2e
def test_cli_run_writes_everything(tmp_path):
    out = str(tmp_path / 'out')
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [sys.executable, TOOL, TINY, _photo(tmp_path), '--random-weights',
         '--perceptual', 'none', '--steps', '3', '--pti-steps', '2',
         '--device', 'cpu', '--out-dir', out, '--resize', 'pad'],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'PSNR' in proc.stdout and 'inversion.pth' in proc.stdout
    assert 'invert' in proc.stderr  # the tqdm bar
    for name in ('inversion.pth', 'target.png', 'pivot.png',
                 'reconstruction.png', 'metrics.json', 'curves.png'):
        assert osp.isfile(osp.join(out, name)), name
    metrics = json.load(open(osp.join(out, 'metrics.json')))
    assert metrics['steps']['projection'] == 3
    assert metrics['perceptual'] == 'none' and metrics['preset'] == 'pti'
    from mmagic_draggan.fileio.inversion_file import read_inversion
    inv = read_inversion(osp.join(out, 'inversion.pth'))
    assert inv.preprocess['resize'] == 'pad'
    assert inv.preprocess['box'] == [0, -16, 80, 64]
    assert tuple(inv.latent.shape) == (1, 10, 64)


def test_cli_usage_errors(tmp_path, capsys):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import invert as tool
    finally:
        sys.path.pop(0)
    photo = _photo(tmp_path)
    cases = [
        ([TINY, photo, '--out-dir', 'x', '--checkpoint', 'a.pth',
          '--random-weights'],
         'give one of them (--checkpoint / --random-weights)'),
        ([TINY, photo, '--out-dir', 'x', '--steps', '-3'],
         "'-3' must be an integer >= 0"),
        ([TINY, photo, '--out-dir', 'x', '--steps', 'many'],
         "'many' is not an integer"),
        ([TINY, photo], '--out-dir'),
        ([TINY, photo, '--out-dir', 'x', '--preset', 'projector',
          '--pti-steps', '5'], 'no pivotal tuning'),
        ([TINY, str(tmp_path / 'none.png'), '--out-dir', 'x',
          '--random-weights'], 'does not exist'),
    ]
    for argv, needle in cases:
        assert tool.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith('tools/invert.py: error:') and needle in err
        assert '\n' not in err
