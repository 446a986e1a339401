"""Load check of the Gradio demo: many browser tabs at once on one server.

Starts ``demo/gradio_draggan.py`` (the tiny config with random weights, on
CPU unless ``--device``) on a free port of 127.0.0.1 and opens it in
Chromium tabs driven by Playwright (Debian's ``chromium``; see
:mod:`mmagic_draggan.demo.browser`). A closed page closes its Gradio
heartbeat, which fires the demo's ``unload`` exactly as a closed tab does.
Then, in order:

1. **solo**: one tab inverts a photo and drags it alone (the reference
   times) and closes; the server's resident memory (RSS, from
   ``/proc/PID/status``) once that tab is freed is the *baseline*.
2. **load**: ``--tabs`` tabs each invert their own photo at once, then each
   drags its own point at once. Per-drag times are compared with the solo
   drag; every tab must show its own points, step count and image
   (anything else is cross-talk).
3. **queue**: ``--concurrency`` tabs run long drags, so another tab's Start
   waits in the queue; that tab presses Stop. It must say "Stopped while
   waiting in the queue" and never step (else the stop was lost).
4. **close mid-inversion**: a tab starts a long inversion and is closed.
5. **settle**: every tab closes. Within ``--settle`` seconds the server's
   RSS must be back within ``--rss-slack`` MB of the baseline, every tab
   folder gone, the server idle (the closed tab's inversion stopped) and
   its log free of tracebacks.

Usage::

    python tools/demo_load_check.py --tabs 6
    python tools/demo_load_check.py --tabs 3 --drag-steps 3 --json out.json

Prints a report (and writes it as JSON with ``--json``). Exit code 0: every
check passed; 1: a check failed (named in the report); 2: it could not run
(bad arguments, no Chromium, the server did not start).
"""
import argparse
import json
import os
import os.path as osp
import re
import shutil
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from mmagic_draggan.demo.browser import (CHROMIUM, DONE,  # noqa: E402
                                         DemoPage, DemoServer,
                                         chromium_problem, launch_chromium,
                                         our_tracebacks, read_rss_mb)

#: What the queued tab's status line must say after its Stop.
QUEUED = 'Stopped while waiting in the queue'
_T0 = time.monotonic()


def log(msg: str) -> None:
    """A progress line on stderr, with the seconds since the start."""
    print(f'[{time.monotonic() - _T0:6.1f} s] {msg}', file=sys.stderr,
          flush=True)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run many demo tabs at once (Chromium) and check speed, '
        'isolation, Stop in the queue and memory returned.')
    parser.add_argument('--tabs', type=int, default=4,
                        help='tabs at once (> --concurrency; default 4)')
    parser.add_argument('--concurrency', type=int, default=2,
                        help="the demo's --concurrency (default 2)")
    parser.add_argument('--inv-steps', type=int, default=5,
                        help='projection steps per inversion (default 5)')
    parser.add_argument('--pti-steps', type=int, default=5,
                        help='tuning steps per inversion (default 5)')
    parser.add_argument('--drag-steps', type=int, default=5,
                        help='steps per drag (default 5)')
    parser.add_argument('--rss-slack', type=float, default=100.,
                        metavar='MB',
                        help='RSS after the tabs close may exceed the '
                        'baseline by this much (default 100)')
    parser.add_argument('--settle', type=float, default=60.,
                        metavar='SECONDS',
                        help='time the server has to return the memory '
                        '(default 60)')
    parser.add_argument('--device', default='cpu',
                        help="the demo's --device (default cpu: RSS then "
                        'holds the tuned copies)')
    parser.add_argument('--chromium', default=CHROMIUM,
                        help=f'Chromium binary (default {CHROMIUM})')
    parser.add_argument('--json', default=None, metavar='PATH',
                        help='also write the report here')
    parser.add_argument('--log', default=None, metavar='PATH',
                        help="the server's log (default: a temporary file, "
                        'its tail printed on failure)')
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.tabs <= args.concurrency:
        parser.error('need --concurrency >= 1 and --tabs > --concurrency '
                     '(a tab must wait in the queue)')
    for name in ('inv_steps', 'pti_steps', 'drag_steps'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.rss_slack < 0 or args.settle <= 0:
        parser.error('--rss-slack must be >= 0 and --settle > 0')
    return args


def write_photo(path: str, i: int) -> str:
    """Photo ``i``: a disc on a plain background, colours of its own."""
    from PIL import Image, ImageDraw
    colour = ((37 * i + 30) % 256, (91 * i + 80) % 256, (53 * i + 160) % 256)
    im = Image.new('RGB', (120, 96), colour)
    ImageDraw.Draw(im).ellipse((20 + 3 * i % 30, 12, 100, 84),
                               fill=(230, (200 + 29 * i) % 256, 60))
    im.save(path)
    return path


def tab_points(i: int):
    """Handle and target of tab ``i`` (display pixels, 8x the model's)."""
    hx, hy = 80 + 32 * (i % 8), 120 + 40 * (i // 8 % 8)
    return (hx, hy), (hx + 96, hy + 64)


class Sampler:
    """Samples the server's RSS in a thread; keeps the peak."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every = pid, every
        self.peak = 0.
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, read_rss_mb(self.pid)['rss'])
            except OSError:
                return
            self._stop.wait(self.every)

    def __enter__(self) -> 'Sampler':
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def wait_all(tabs: List[DemoPage], pattern: str, started: List[float],
             timeout: float) -> List[float]:
    """Poll the tabs' status lines in turn until each matches ``pattern``;
    returns each tab's seconds since its ``started`` time."""
    done: Dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(tabs):
        for i, d in enumerate(tabs):
            if i not in done and re.search(pattern, d.status()):
                done[i] = time.monotonic() - started[i]
        if time.monotonic() > deadline:
            raise TimeoutError(
                f'{len(tabs) - len(done)} tab(s) never showed {pattern!r}: '
                + '; '.join(tabs[i].status() for i in range(len(tabs))
                            if i not in done))
        time.sleep(0.05)
    return [done[i] for i in range(len(tabs))]


def open_tab(browser, url: str) -> DemoPage:
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1400})
    return DemoPage(ctx, url)


def close_tab(d: DemoPage) -> None:
    d.page.context.close()


def prepare(d: DemoPage, photo: str, args) -> None:
    """Upload the tab's photo and set its step counts."""
    d.upload_photo(photo)
    d.set_inversion(args.inv_steps, args.pti_steps)
    d.set_number('draggan-max-steps', args.drag_steps)
    d.set_number('draggan-lr', 0.0001)  # never converges early


def folders(root: Optional[str]) -> List[str]:
    return sorted(os.listdir(root)) if root and osp.isdir(root) else []


def run_check(args, server: DemoServer, browser, photos: List[str],
              report: Dict[str, Any]) -> None:
    """The five phases (see the module docstring); fills ``report``."""
    pid = server.pid
    rss = report['rss_mb']
    checks = report['checks']
    timeout = 600.
    rss['start'] = read_rss_mb(pid)['rss']

    # 1. solo: the reference times, then the baseline
    log('solo: one tab inverts and drags alone')
    solo = open_tab(browser, server.url)
    prepare(solo, photos[0], args)
    t0 = time.monotonic()
    solo.page.click('#draggan-invert')
    solo.wait_status('Photo inverted', timeout=timeout * 1000)
    report['solo']['invert_s'] = time.monotonic() - t0
    solo.add_point(*tab_points(0))
    t0 = time.monotonic()
    solo.page.click('#draggan-start')
    status = solo.wait_drag_end(0, timeout=timeout * 1000)
    report['solo']['drag_s'] = time.monotonic() - t0
    report['solo']['drag_steps'] = solo.steps()
    checks['solo'] = 'ok' if solo.steps() == args.drag_steps else \
        f'the solo drag took {solo.steps()} steps: {status}'
    close_tab(solo)
    deadline = time.monotonic() + args.settle
    while folders(server.tab_root()):  # its unload has run
        if time.monotonic() > deadline:
            checks['folders'] = 'the solo tab kept its folder: ' + \
                ', '.join(folders(server.tab_root()))
            break
        time.sleep(0.2)
    time.sleep(2)
    rss['baseline'] = read_rss_mb(pid)['rss']

    with Sampler(pid) as sampler:
        # 2. load: N tabs invert at once, then drag at once
        log(f'load: {args.tabs} tabs open')
        tabs = [open_tab(browser, server.url) for _ in range(args.tabs)]
        for i, d in enumerate(tabs):
            prepare(d, photos[i], args)
        log('load: every tab inverts its photo')
        started = []
        for d in tabs:
            started.append(time.monotonic())
            d.page.click('#draggan-invert')
        report['load']['invert_s'] = wait_all(tabs, 'Photo inverted|failed',
                                              started, timeout)
        for i, d in enumerate(tabs):
            d.add_point(*tab_points(i))
        log('load: every tab drags')
        started = []
        for d in tabs:
            started.append(time.monotonic())
            d.page.click('#draggan-start')
        report['load']['drag_s'] = wait_all(tabs, DONE, started, timeout)
        solo_s = report['solo']['drag_s']
        ratios = [t / solo_s for t in report['load']['drag_s']]
        report['load']['drag_ratio_mean'] = sum(ratios) / len(ratios)
        report['load']['drag_ratio_max'] = max(ratios)
        checks['cross_talk'] = cross_talk(tabs, args)

        # 3. Stop while a drag waits in the queue
        log('queue: Stop while a drag waits')
        checks['queued_stop'] = queued_stop(tabs, args, timeout)

        # 4. a tab closed in the middle of an inversion
        log('close: a tab in the middle of an inversion')
        last = tabs.pop()
        last.set_inversion(100000, 1)
        last.page.click('#draggan-invert')
        last.wait_status('Inverting: projection step', timeout=timeout * 1000)
        close_tab(last)
        checks['closed_mid_inversion'] = 'ok'

        # 5. every tab closes; the server gives the memory back
        log('settle: every tab closed')
        for d in tabs:
            close_tab(d)
        t0 = time.monotonic()
        settle(args, server, report, t0)
        rss['peak'] = max(sampler.peak, rss['baseline'])
    rss['hwm'] = read_rss_mb(pid)['hwm']


def cross_talk(tabs: List[DemoPage], args) -> str:
    """'ok', or what a tab shows that is not its own."""
    problems = []
    images = []
    for i, d in enumerate(tabs):
        (_, _), (tx, ty) = tab_points(i)
        points = d.points()
        status = d.status()
        if points.count('\n') != 0 or not points.startswith('1: (') or \
                not points.endswith(f'-> ({tx // 8}, {ty // 8})'):
            problems.append(f'tab {i} shows points {points!r}')
        if d.steps() != args.drag_steps or 'step limit' not in status:
            problems.append(f'tab {i}: {d.steps()} steps, {status!r}')
        images.append(d.pixels())
    for i in range(len(images)):
        for j in range(i):
            if (images[i] == images[j]).all():
                problems.append(f'tabs {j} and {i} show the same image')
    return '; '.join(problems) or 'ok'


def queued_stop(tabs: List[DemoPage], args, timeout: float) -> str:
    """'ok', or how the Stop of a queued drag got lost."""
    runners, waiter = tabs[:args.concurrency], tabs[args.concurrency]
    for d in runners:
        d.set_number('draggan-max-steps', 100000)
        d.page.click('#draggan-start')
    for d in runners:
        d.wait_status(r'Dragging\.\.\. step', timeout=timeout * 1000)
    before = waiter.steps()
    waiter.page.click('#draggan-start')  # every worker is busy: it waits
    time.sleep(1.)
    waiter.page.click('#draggan-stop')
    try:
        waiter.wait_status(QUEUED, timeout=30_000)
    except Exception:
        return f'Stop did not answer in the queue: {waiter.status()!r}'
    for d in runners:
        d.page.click('#draggan-stop')
    for d in runners:
        d.wait_status('Stopped after|Done:', timeout=timeout * 1000)
    time.sleep(3.)  # the queued run has its turn now and must end at once
    if waiter.steps() != before or QUEUED not in waiter.status():
        return (f'the stopped tab went on: {waiter.steps() - before} steps, '
                f'{waiter.status()!r}')
    for d in runners:
        d.set_number('draggan-max-steps', args.drag_steps)
    return 'ok'


def settle(args, server: DemoServer, report: Dict[str, Any],
           t0: float) -> None:
    """Wait up to ``--settle`` s for memory, folders and CPU to settle."""
    pid, rss, checks = server.pid, report['rss_mb'], report['checks']
    limit = rss['baseline'] + args.rss_slack
    cpu = (time.monotonic(), cpu_seconds(pid))
    idle = None
    while True:
        time.sleep(0.5)
        now, rss['after'] = time.monotonic(), read_rss_mb(pid)['rss']
        if now - cpu[0] >= 2:  # CPU share over the last 2 s
            idle = (cpu_seconds(pid) - cpu[1]) / (now - cpu[0])
            cpu = (now, cpu_seconds(pid))
        left = folders(server.tab_root())
        if rss['after'] <= limit and not left and idle is not None \
                and idle < 0.2:
            rss['settled_s'] = now - t0
            break
        if now - t0 > args.settle:
            break
    rss['server_cpu_share'] = idle
    checks['memory'] = 'ok' if rss['after'] <= limit else (
        f'RSS {rss["after"]:.0f} MB after {args.settle:.0f} s, over the '
        f'baseline {rss["baseline"]:.0f} MB + {args.rss_slack:.0f} MB')
    if 'folders' not in checks:
        checks['folders'] = 'ok' if not left else (
            'tab folders left: ' + ', '.join(left))
    checks['idle'] = 'ok' if idle is not None and idle < 0.2 else (
        f'the server still uses {idle or 0:.0%} of a core with every tab '
        'closed')


def print_report(report: Dict[str, Any]) -> None:
    s, ld, rss = report['solo'], report['load'], report['rss_mb']
    print(f"demo load check: {report['tabs']} tabs, concurrency "
          f"{report['concurrency']}, {report['steps']}")
    if 'drag_s' in s:
        print(f"  solo: inversion {s['invert_s']:.1f} s, drag "
              f"{s['drag_s']:.2f} s ({s['drag_steps']} steps)")
    if 'drag_s' in ld:
        print('  load: inversions ' + ', '.join(
            f'{t:.1f}' for t in ld['invert_s']) + ' s; drags ' + ', '.join(
                f'{t:.2f}' for t in ld['drag_s']) + ' s (mean '
              f"{ld['drag_ratio_mean']:.1f}x, max {ld['drag_ratio_max']:.1f}x "
              'the solo drag)')
    if 'after' in rss:
        settled = f" (settled in {rss['settled_s']:.1f} s)" \
            if 'settled_s' in rss else ''
        print(f"  server RSS: start {rss['start']:.0f} MB, baseline "
              f"{rss['baseline']:.0f} MB, peak {rss['peak']:.0f} MB, after "
              f"{rss['after']:.0f} MB{settled}")
    for name, verdict in report['checks'].items():
        print(f'  {name}: {verdict}')
    print('PASSED' if not report['failures'] else
          'FAILED: ' + ', '.join(report['failures']))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    problem = chromium_problem(args.chromium)
    if problem is not None:
        print(f'demo_load_check: {problem}', file=sys.stderr)
        return 2
    report: Dict[str, Any] = dict(
        tabs=args.tabs, concurrency=args.concurrency, device=args.device,
        steps=dict(inversion=[args.inv_steps, args.pti_steps],
                   drag=args.drag_steps),
        solo={}, load={}, rss_mb={}, checks={}, failures=[])
    work = tempfile.mkdtemp(prefix='draggan_load_')
    photos = [write_photo(osp.join(work, f'photo_{i}.png'), i)
              for i in range(args.tabs)]
    server = DemoServer(args.log or osp.join(work, 'server.log'),
                        ['--concurrency', str(args.concurrency)],
                        device=args.device)
    log('starting the demo server')
    try:
        server.start()
    except RuntimeError as err:
        print(f'demo_load_check: {err}', file=sys.stderr)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        return 2
    from playwright.sync_api import sync_playwright
    error = None
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p, args.chromium)
            try:
                run_check(args, server, browser, photos, report)
            except Exception as err:  # a timeout or a page that broke
                error = f'{type(err).__name__}: {err}'
            finally:
                browser.close()
    finally:
        code = server.stop()
    text = server.log()
    ours = our_tracebacks(text)
    report['checks']['server_log'] = 'ok' if not ours else \
        f'{len(ours)} traceback(s) in the server log'
    root = server.tab_root()
    if root and osp.exists(root):
        report['checks']['shutdown'] = f'{root} outlived the server'
    elif code != 0:
        report['checks']['shutdown'] = f'the server exited with {code}'
    else:
        report['checks']['shutdown'] = 'ok'
    if error is not None:
        report['checks']['run'] = error
    report['failures'] = [k for k, v in report['checks'].items() if v != 'ok']
    print_report(report)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)
    if report['failures']:
        print(text[-3000:] if not ours else '\n'.join(ours)[-3000:],
              file=sys.stderr)
        print(f'the server log is {server.log_path}', file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
