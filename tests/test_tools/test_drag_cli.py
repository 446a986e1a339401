"""tools/drag.py end to end (subprocesses on the tiny config with random
weights) and its one-line errors (in-process through ``main``)."""
import importlib.util
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'drag.py')
TINY = osp.join(ROOT, 'configs', 'draggan', 'draggan_stylegan2_tiny-64x64.py')
LIONS = osp.join(ROOT, 'configs', 'draggan',
                 'draggan_stylegan2_lions-512x512.py')
BASE = [TINY, '--random-weights', '--device', 'cpu', '--lr', '0.02']
SESSION_FIELDS = ('config', 'checkpoint', 'seed', 'handles', 'targets',
                  'final_handles', 'steps', 'converged', 'stop_reason',
                  'mean_distance', 'seconds', 'hyper_parameters', 'history',
                  'latent_file', 'final_latent_file')


def run_tool(*args, timeout=600):
    return subprocess.run([sys.executable, TOOL, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=dict(os.environ))


def load_tool():
    spec = importlib.util.spec_from_file_location('drag_tool', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_png(path):
    return np.asarray(Image.open(path).convert('RGB'))


@pytest.fixture(scope='module')
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('drag') / 'first'
    proc = run_tool(*BASE, '--seed', 3, '--drag', '24,32,36,32',
                    '--max-steps', 3, '--out-dir', out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


@pytest.mark.e2e
def test_cli_writes_all_outputs(first_run):
    out, proc = first_run
    for name in ('start.png', 'result.png', 'trajectory.gif', 'latent.pt',
                 'curves.png', 'session.json'):
        assert (out / name).is_file(), name
    assert not (out / 'start_latent.pt').exists()  # began from a seed
    rec = json.loads((out / 'session.json').read_text())
    for key in SESSION_FIELDS:
        assert key in rec, key
    assert rec['config'] == 'configs/draggan/draggan_stylegan2_tiny-64x64.py'
    assert rec['seed'] == 3 and rec['random_weights'] is True
    assert rec['handles'] == [[24., 32.]] and rec['targets'] == [[36., 32.]]
    assert rec['steps'] == 3 and rec['stop_reason'] == 'max_steps'
    assert rec['final_latent_file'] == 'latent.pt'
    assert rec['hyper_parameters']['lr'] == 0.02
    assert rec['mean_distance'] < rec['initial_mean_distance'] == 12.
    assert not np.array_equal(read_png(out / 'start.png'),
                              read_png(out / 'result.png'))
    latent = torch.load(out / 'latent.pt', weights_only=True)
    assert isinstance(latent, torch.Tensor) and latent.shape == (1, 10, 64)
    import imageio.v2 as imageio
    frames = imageio.mimread(out / 'trajectory.gif')
    assert len(frames) >= 4 and frames[0].shape[:2] == (64, 64)
    # live progress on stderr, a summary on stdout
    assert 'dist=' in proc.stderr
    assert 'reached --max-steps after 3 steps' in proc.stdout
    assert '--resume' in proc.stdout


def run_in_process(capsys, *args):
    """tools/drag.py's main in this process (no interpreter start-up; the
    script itself runs as a subprocess in first_run): (exit code, stdout,
    stderr)."""
    code = load_tool().main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.e2e
def test_cli_latent_start_with_mp4(first_run, tmp_path, capsys):
    first, _ = first_run
    out = tmp_path / 'from_latent'
    code, _, err = run_in_process(
        capsys, *BASE, '--latent', first / 'latent.pt', '--drag',
        '30,32,36,32', '--max-steps', 2, '--video', 'mp4', '--no-overlay',
        '--no-progress', '--out-dir', out)
    assert code == 0, err
    rec = json.loads((out / 'session.json').read_text())
    assert rec['seed'] is None and rec['latent_file'] == 'start_latent.pt'
    torch.testing.assert_close(
        torch.load(out / 'start_latent.pt', weights_only=True),
        torch.load(first / 'latent.pt', weights_only=True), rtol=0, atol=0)
    np.testing.assert_array_equal(read_png(out / 'start.png'),
                                  read_png(first / 'result.png'))
    import imageio.v2 as imageio
    with imageio.get_reader(out / 'trajectory.mp4', format='ffmpeg') as r:
        frames = [f for f in r.iter_data()]  # len(r) is inf: no list(r)
    assert len(frames) >= 3 and frames[0].shape == (64, 64, 3)
    assert 'dist=' not in err  # --no-progress


@pytest.mark.e2e
def test_cli_resume_continues(first_run, tmp_path, capsys):
    first, _ = first_run
    prev = json.loads((first / 'session.json').read_text())
    out = tmp_path / 'resumed'
    code, stdout, err = run_in_process(
        capsys, '--resume', first / 'session.json', '--max-steps', 1,
        '--device', 'cpu', '--video', 'none', '--out-dir', out)
    assert code == 0, err
    rec = json.loads((out / 'session.json').read_text())
    assert rec['steps'] == 4 and rec['start_step'] == 3
    assert [h['step'] for h in rec['history']] == [1, 2, 3, 4]
    assert rec['history'][:3] == prev['history']
    assert rec['handles'] == prev['final_handles']
    assert rec['targets'] == prev['targets']
    assert rec['config'] == prev['config'] and rec['random_weights']
    assert rec['hyper_parameters'] == prev['hyper_parameters'] | {
        'max_steps': 1}
    torch.testing.assert_close(
        torch.load(out / 'start_latent.pt', weights_only=True),
        torch.load(first / 'latent.pt', weights_only=True), rtol=0, atol=0)
    assert 'step 4 in all' in stdout


@pytest.mark.e2e
def test_cli_ctrl_c_stops_and_writes(tmp_path):
    out = tmp_path / 'interrupted'
    proc = subprocess.Popen(
        [sys.executable, TOOL, *BASE, '--drag', '24,32,60,60',
         '--max-steps', '500', '--stop-distance', '0', '--video', 'gif',
         '--out-dir', str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env=dict(os.environ))
    err = []
    reader = threading.Thread(
        target=lambda: err.extend(iter(lambda: proc.stderr.read(1), '')))
    reader.start()
    deadline = time.time() + 600
    while 'dist=' not in ''.join(err) and proc.poll() is None:
        assert time.time() < deadline, 'no progress output'
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=600)  # stderr belongs to the reader thread
    reader.join()
    stdout = proc.stdout.read()
    stderr = ''.join(err)
    assert proc.returncode == 0, stderr  # a clean stop exits 0
    assert 'Ctrl-C: stopping after this step' in stderr
    assert 'Traceback' not in stderr
    rec = json.loads((out / 'session.json').read_text())
    assert rec['stop_reason'] == 'stopped' and 1 <= rec['steps'] < 500
    for name in ('start.png', 'result.png', 'trajectory.gif', 'latent.pt',
                 'curves.png'):
        assert (out / name).is_file(), name
    assert 'stopped after' in stdout


@pytest.mark.e2e
def test_cli_error_in_subprocess(tmp_path):
    # exit 2 and exactly one line on stderr (no traceback)
    proc = run_tool(*BASE, '--drag', '1,2,3', '--out-dir', tmp_path / 'x')
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "tools/drag.py: error: --drag '1,2,3' needs 4 numbers HX,HY,TX,TY "
        '(handle x, y then target x, y, pixels); got 3']
    assert not (tmp_path / 'x').exists()


def test_cli_missing_checkpoint_names_download(tmp_path, capsys):
    # the lions config, its checkpoint surely absent (even where downloaded)
    cfg = tmp_path / 'lions_elsewhere.py'
    cfg.write_text(f'_base_ = [{LIONS!r}]\ncheckpoint = dict(name='
                   "'StyleGAN2-Lions-internet', path='/nonexistent/lions.pth')")
    code = load_tool().main(
        [str(cfg), '--drag', '1,2,3,4', '--out-dir', str(tmp_path / 'y')])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert 'does not exist' in err
    assert 'download_checkpoint StyleGAN2-Lions-internet' in err
    assert not (tmp_path / 'y').exists()


def _bad_files(tmp):
    (tmp / 'text.pt').write_text('hello')
    torch.save(torch.zeros(1, 16, 512), tmp / 'big.pt')
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp / 'm32.png')
    (tmp / 'broken.png').write_bytes(b'not a png')
    (tmp / 'unequal.json').write_text(
        '{"handles": [[1, 2], [3, 4]], "targets": [[5, 6]]}')
    (tmp / 'bad.json').write_text('{"handles": [[1, 2]')
    (tmp / 'old').mkdir()
    (tmp / 'old' / 'session.json').write_text('{}')


@pytest.mark.parametrize('args,message', [
    (['--drag', '70,3,3,3'], 'lie outside the 64x64 image'),
    (['--drag', '1,x,3,4'], "'x' is not a number"),
    (['--drag', '1,2,3,4', '--seed', '1', '--latent', 'a.pt'],
     'give a seed or a latent, not both (--seed / --latent)'),
    (['--drag', '1,2,3,4', '--latent', '{tmp}/text.pt', '--truncation',
      '0.5'], 'truncation applies to a seed only'),
    (['--seed', '1'], 'no points'),
    (['--points-file', '{tmp}/unequal.json'], '2 handles but 1 targets'),
    (['--points-file', '{tmp}/bad.json'], 'is not valid JSON'),
    (['--drag', '1,2,3,4', '--mask', '{tmp}/broken.png'],
     'cannot read mask'),
    (['--drag', '1,2,3,4', '--mask', '{tmp}/m32.png'],
     'is 32x32 (HxW) but the image is 64x64'),
    (['--drag', '1,2,3,4', '--mask', '{tmp}/none.png'], 'does not exist'),
    (['--drag', '1,2,3,4', '--latent', '{tmp}/text.pt'],
     'cannot read latent file'),
    (['--drag', '1,2,3,4', '--latent', '{tmp}/big.pt'],
     'has shape (1, 16, 512) but this model'),
    (['--drag', '1,2,3,4', '--checkpoint', 'x.pth'],
     'random weights: give one of them (--checkpoint / --random-weights)'),
    (['--drag', '1,2,3,4', '--video', 'avi'], 'invalid choice'),
    (['--drag', '1,2,3,4', '--lr', '-1'], 'lr must be > 0'),
    (['--drag', '1,2,3,4', '--out-dir', '{tmp}/old'],
     'already holds a session.json'),
    (['--drag', '1,2,3,4', '--resume', '{tmp}/old/session.json'],
     '--resume continues'),
    (['--drag', '1,2,3,4', '--device', 'gpu'], "unknown device 'gpu'"),
    (['--drag', '1,2,3,4', '--frame-interval', '0'],
     'frame_interval must be an integer >= 1'),
])
def test_cli_bad_inputs_one_line(tmp_path, capsys, args, message):
    _bad_files(tmp_path)
    argv = BASE + [a.format(tmp=tmp_path) for a in args]
    if '--out-dir' not in argv:
        argv += ['--out-dir', str(tmp_path / 'out')]
    code = load_tool().main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith('tools/drag.py: error: ') and message in err, err
    assert not (tmp_path / 'out').exists()
    assert (tmp_path / 'old' / 'session.json').read_text() == '{}'


def test_cli_resume_needs_final_latent(tmp_path, capsys):
    (tmp_path / 'points.json').write_text(
        '{"handles": [[1, 2]], "targets": [[5, 6]]}')
    code = load_tool().main(['--resume', str(tmp_path / 'points.json')])
    assert code == 2
    assert 'has no final_latent_file' in capsys.readouterr().err


def test_cli_frame_interval_has_one_home():
    """Without --frame-interval the CLI passes nothing and drag() picks
    auto_frame_interval(H), whose figures --help shows; an explicit N is
    passed on as it is."""
    import inspect

    from mmagic_draggan.apis.drag import drag
    from mmagic_draggan.engine.hooks import auto_frame_interval
    tool = load_tool()
    parser = tool.build_parser()
    kw = tool.drag_kwargs(parser.parse_args([TINY, '--drag', '1,2,3,4']))
    assert 'frame_interval' not in kw
    assert inspect.signature(drag).parameters['frame_interval'].default \
        is None
    kw = tool.drag_kwargs(parser.parse_args(
        [TINY, '--drag', '1,2,3,4', '--frame-interval', '3']))
    assert kw['frame_interval'] == 3
    every = '/'.join(str(auto_frame_interval(h)) for h in (64, 256, 512))
    text = ' '.join(parser.format_help().split())
    assert f'every {every} steps at 64/256/512 px' in text, text
