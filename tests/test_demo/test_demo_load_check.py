"""``tools/demo_load_check.py`` with small numbers: three Chromium tabs on
one demo server (tiny config, random weights) invert, drag, stop in the
queue and close; the check must find no cross-talk, no lost stop, and the
server's memory and tab folders returned."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from mmagic_draggan.demo.browser import chromium_problem

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'demo_load_check.py')


@pytest.mark.e2e
def test_demo_load_check_passes(tmp_path):
    problem = chromium_problem()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    report = tmp_path / 'report.json'
    out = subprocess.run(
        [sys.executable, TOOL, '--tabs', '3', '--concurrency', '2',
         '--inv-steps', '1', '--pti-steps', '1', '--drag-steps', '2',
         '--json', str(report)],
        capture_output=True, text=True, timeout=600)
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    rep = json.loads(report.read_text())
    assert rep['failures'] == [], rep['checks']
    for name in ('cross_talk', 'queued_stop', 'closed_mid_inversion',
                 'memory', 'folders', 'idle', 'server_log', 'shutdown'):
        assert rep['checks'][name] == 'ok', (name, rep['checks'])
    rss = rep['rss_mb']
    assert rss['after'] <= rss['baseline'] + 100, rss
    assert rss['peak'] >= rss['baseline']
    assert len(rep['load']['drag_s']) == 3 and rep['solo']['drag_s'] > 0
    assert 'PASSED' in out.stdout


def test_demo_load_check_arguments(capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location('demo_load_check', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args([])
    assert (args.tabs, args.concurrency, args.rss_slack, args.settle) == \
        (4, 2, 100., 60.)
    for bad in (['--tabs', '2', '--concurrency', '2'],
                ['--drag-steps', '0'], ['--rss-slack', '-1']):
        with pytest.raises(SystemExit) as out:
            tool.parse_args(bad)
        assert out.value.code == 2
        assert 'error:' in capsys.readouterr().err
