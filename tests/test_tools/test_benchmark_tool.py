"""tools/benchmark.py runs and reports every figure (no timing asserts)."""
import pytest
import json
import subprocess
import sys


def _tool():
    """tools/benchmark.py as a module (in this process: the script itself
    runs as a subprocess in test_benchmark_text_and_precision)."""
    sys.path.insert(0, 'tools')
    try:
        import benchmark
    finally:
        sys.path.remove('tools')
    return benchmark


def test_benchmark_json(tiny_config, capsys):
    rc = _tool().main([tiny_config, '--random-weights', '--iters', '1',
                       '--warmup', '0', '--json'])
    out = capsys.readouterr().out
    assert rc == 0
    res = json.loads(out.strip().splitlines()[-1])
    for key in ('iteration_s', 'floor_s', 'render_s', 'ratio',
                'peak_rss_mb', 'naive_s', 'floor_mmagic_s', 'speedup',
                'it_per_s', 'masked_step_s', 'masked_ratio'):
        assert res[key] > 0, key
    assert abs(res['masked_ratio'] * res['iteration_s']
               - res['masked_step_s']) < 1e-9
    assert res['image_size'] == 64 and res['device'] == 'cpu'
    assert res['precision'] == 'fp32'
    assert abs(res['speedup'] * res['iteration_s'] - res['naive_s']) < 1e-9


@pytest.mark.e2e
def test_benchmark_text_and_precision(tiny_config):
    """The text report names every figure; bf16 adds its floor where the CPU
    has oneDNN bf16 (else the precision falls back to fp32)."""
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', tiny_config,
         '--random-weights', '--iters', '1', '--warmup', '0',
         '--precision', 'bf16', '--fidelity-steps', '3',
         '--invert-steps', '2'],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for word in ('naive (MMagic)', 'iteration', 'it/s', 'speed-up',
                 'masked step',
                 "floor, MMagic's modules", 'peak RSS',
                 'invert, projection', 'invert, tuning'):
        assert word in proc.stdout, word
    from mmagic_draggan.models.modulated_conv import resolve_precision
    if resolve_precision('bf16', 'cpu') == 'bf16':
        for word in ('floor, bf16', 'iteration, bf16', 'masked step, bf16',
                     'bf16 vs fp32, 3-step drag: handles within'):
            assert word in proc.stdout, word


def test_naive_iteration_reaches_the_optimised_rows(tiny_model):
    """The yardstick really back-propagates the motion loss to W+ rows 0-5
    (and only those are a leaf)."""
    head = _tool().naive_iteration(tiny_model.generator,
                           tiny_model.latent_from_seed(0),
                           tiny_model.feat_idx, [[16., 16.]], [[16., 40.]])()
    assert head.shape == (1, 6, tiny_model.style_channels)
    assert head.grad is not None
    assert head.grad.abs().amax(dim=2).min() > 0  # every optimised row


def test_benchmark_bad_config(capsys):
    assert _tool().main(['configs/nope.py', '--random-weights']) == 2
    err = capsys.readouterr().err
    assert 'not found' in err and 'Traceback' not in err
