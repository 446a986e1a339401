"""tools/benchmark.py runs and reports every figure (no timing asserts)."""
import json
import subprocess
import sys


def test_benchmark_json(tiny_config):
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', tiny_config,
         '--random-weights', '--iters', '1', '--warmup', '0', '--json'],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ('iteration_s', 'floor_s', 'render_s', 'ratio',
                'peak_rss_mb'):
        assert res[key] > 0, key
    assert res['image_size'] == 64 and res['device'] == 'cpu'


def test_benchmark_bad_config():
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', 'configs/nope.py',
         '--random-weights'], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert 'not found' in proc.stderr and 'Traceback' not in proc.stderr
