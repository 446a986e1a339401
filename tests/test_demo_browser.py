"""End to end: the Gradio demo in a real (headless) browser.

Starts ``demo/gradio_draggan.py`` on the tiny config with random weights on a
free port of 127.0.0.1, opens it in Debian's Chromium driven by Playwright
(never Playwright's own browser download), clicks points on the image,
paints a mask, drags, stops, resumes, and runs two browser sessions at once.

Chromium is required, not optional: CI installs it
(``bash tools/setup_env.sh --browser``), so a missing browser fails here.
Set ``DRAGGAN_SAVE_SCREENSHOT=1`` to also write ``docs/demo_screenshot.png``
(a copy always goes to pytest's ``tmp_path``).
"""
import io
import json
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'configs', 'draggan', 'draggan_stylegan2_tiny-64x64.py')
CHROMIUM = os.environ.get('DRAGGAN_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'
]
START_TIMEOUT = 300  # s: imports and the first model on a busy 2-core box
DRAG_TIMEOUT = 300_000  # ms
DONE = r'Reached the step limit|Done:|Stopped after|failed'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def chromium() -> str:
    if not (osp.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f'Chromium is not installed at {CHROMIUM}: the browser tests '
            'need it. Install it with `bash tools/setup_env.sh --browser` '
            '(Debian: apt-get install chromium), or point DRAGGAN_CHROMIUM '
            'at a Chromium binary.', pytrace=False)
    return CHROMIUM


@pytest.fixture(scope='module')
def zoo_url():
    """A local stand-in for the checkpoint host: every name is a small zip
    (a valid download that does not fit any generator)."""
    import torch
    buf = io.BytesIO()
    torch.save({'state_dict': {'w': torch.zeros(4, 4)}}, buf)
    payload = buf.getvalue()

    class Handler(BaseHTTPRequestHandler):

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header('Content-Type', 'application/octet-stream')
            self.send_header('Content-Length', str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope='module')
def demo_url(chromium, tmp_path_factory, zoo_url):
    """The demo in a subprocess: tiny config, random weights, CPU, an empty
    checkpoint folder and the local checkpoint host."""
    port = free_port()
    folder = tmp_path_factory.mktemp('demo')
    log_path = folder / 'server.log'
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False',
               PYTHONUNBUFFERED='1', DRAGGAN_CHECKPOINT_BASE_URL=zoo_url)
    cmd = [
        sys.executable, osp.join(ROOT, 'demo', 'gradio_draggan.py'),
        '--config', TINY, '--random-weights', '--device', 'cpu', '--host',
        '127.0.0.1', '--port', str(port), '--checkpoint-dir',
        str(folder / 'checkpoints')
    ]
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f'the demo exited with {proc.returncode}:\n'
                            + log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail('the demo did not answer within '
                            f'{START_TIMEOUT} s:\n'
                            + log_path.read_text()[-3000:])
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log = log_path.read_text()
    # every traceback fails the test, except a browser that went away in the
    # middle of an upload (starlette's ClientDisconnect, logged by Gradio's
    # upload route when a test's page closes) or that broke HTTP framing
    # while a file was streamed to it (h11: "Got data when expecting EOF",
    # then uvicorn cannot send the rest: seen once on a loaded machine):
    # the client's doing, not ours
    client = ('starlette.requests.ClientDisconnect',
              'h11._util.RemoteProtocolError',
              "h11._util.LocalProtocolError: Can't send data when our state "
              'is ERROR')
    tracebacks = log.split('Traceback (most recent call last):')[1:]
    ours = [t for t in tracebacks if not any(c in t for c in client)]
    assert not ours, '\n'.join(ours)[-3000:] or log[-3000:]


@pytest.fixture(scope='module')
def browser(chromium):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


class DemoPage:
    """One browser tab on the demo, with the few actions the tests use."""

    def __init__(self, context, url: str):
        self.page = context.new_page()
        self.page.set_default_timeout(120_000)
        self.page.goto(url, wait_until='domcontentloaded')
        self.wait_status('Click a handle')
        self.image = self.page.locator('#draggan-image img')

    def status(self) -> str:
        return self.page.inner_text('#draggan-status')

    def wait_status(self, pattern: str, timeout: int = 120_000) -> str:
        self.page.wait_for_function(
            '(p) => { const e = document.querySelector("#draggan-status");'
            ' return !!e && new RegExp(p).test(e.innerText); }',
            arg=pattern, timeout=timeout)
        return self.status()

    def steps(self) -> int:
        return int(float(
            self.page.locator('#draggan-steps input').input_value()))

    def points(self) -> str:
        return self.page.locator('#draggan-points textarea').input_value()

    def pixels(self) -> np.ndarray:
        """The shown image, as served (RGB array)."""
        src = self.image.get_attribute('src')
        body = self.page.request.get(src).body()
        return np.asarray(Image.open(io.BytesIO(body)).convert('RGB'))

    def click_image(self, x: float, y: float) -> None:
        """Click display pixel (x, y) of the 512 px image (once it is
        loaded and laid out at full size: a click on a placeholder would
        land at pixel (0, 0))."""
        self.page.wait_for_function(
            '() => { const i = document.querySelector("#draggan-image img");'
            ' return !!i && i.complete && i.naturalWidth === 512 &&'
            ' i.getBoundingClientRect().width >= 256; }')
        box = self.image.bounding_box()
        self.image.click(position={'x': x * box['width'] / 512,
                                   'y': y * box['height'] / 512})

    def add_point(self, handle, target) -> None:
        self.click_image(*handle)
        hx, hy = handle[0] // 8, handle[1] // 8  # display 8x: model pixels
        self.wait_status(rf'Handle at \({hx}, {hy}\): now click its target')
        self.click_image(*target)
        self.wait_status(r'Point \d+:')

    def set_number(self, elem_id: str, value) -> None:
        """Type into a number box (opening "Advanced" first if needed)."""
        box = self.page.locator(f'#{elem_id} input')
        if not box.is_visible():
            self.page.get_by_text('Advanced', exact=True).click()
            box.wait_for(state='visible')
            self.page.wait_for_timeout(500)  # let the opened panel settle
        for _ in range(3):  # a panel that is still mounting may reset it
            box.fill(str(value))
            box.press('Tab')
            self.page.wait_for_timeout(300)
            if float(box.input_value()) == float(value):
                return
        raise AssertionError(f'#{elem_id} did not take {value}')

    def paint_band(self) -> None:
        """Paint a wide band across the middle of the mask editor."""
        page = self.page
        page.get_by_text('Mask: paint the area that may change').click()
        page.locator('#draggan-mask button[aria-label="Brush"]').first.click()
        canvas = page.locator('#draggan-mask canvas').first
        box = canvas.bounding_box()
        cx, cy = box['x'] + box['width'] / 2, box['y'] + box['height'] / 2
        for dy in (-24, 0, 24):  # the brush is 24 image px wide
            page.mouse.move(cx - 90, cy + dy)
            page.mouse.down()
            page.mouse.move(cx + 90, cy + dy, steps=4)
            page.mouse.up()
        page.get_by_text('Use painted area as mask').click()
        self.wait_status('Mask set')

    def wait_drag_end(self, steps_before: int) -> str:
        """Wait until a drag that started at ``steps_before`` has ended."""
        self.page.wait_for_function(
            '([p, n]) => {'
            ' const e = document.querySelector("#draggan-status");'
            ' const s = document.querySelector("#draggan-steps input");'
            ' return !!e && !!s && Number(s.value) !== n'
            ' && new RegExp(p).test(e.innerText); }',
            arg=[DONE, steps_before], timeout=DRAG_TIMEOUT)
        return self.status()

    def drag(self) -> str:
        before = self.steps()
        self.page.click('#draggan-start')
        return self.wait_drag_end(before)


def save_screenshot(page, tmp_path, name: str = 'demo_screenshot.png') -> str:
    shot = str(tmp_path / name)
    page.screenshot(path=shot, full_page=True)
    if os.environ.get('DRAGGAN_SAVE_SCREENSHOT') == '1':
        os.makedirs(osp.join(ROOT, 'docs'), exist_ok=True)
        shutil.copy(shot, osp.join(ROOT, 'docs', name))
    return shot


def test_click_mask_drag_stop_resume(demo_url, browser, tmp_path):
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    try:
        d = DemoPage(ctx, demo_url)
        assert d.image.evaluate('e => [e.naturalWidth, e.naturalHeight]') \
            == [512, 512]
        d.paint_band()
        d.set_number('draggan-max-steps', 3)
        d.set_number('draggan-lr', 0.05)
        d.add_point((164, 260), (292, 260))
        assert d.points() == '1: (20, 32) -> (36, 32)'
        before = d.pixels()

        status = d.drag()
        assert 'failed' not in status, status
        steps = d.steps()
        assert 1 <= steps <= 3, status
        if steps < 3:
            assert status.startswith('Done:'), status
        after = d.pixels()
        assert after.shape == before.shape == (512, 512, 3)
        assert np.abs(after.astype(int) - before).mean() > 0.05
        shot = save_screenshot(d.page, tmp_path)
        assert osp.getsize(shot) > 10_000

        # Stop interrupts a long drag (through Gradio's queue) ...
        d.set_number('draggan-max-steps', 500)
        d.page.click('#draggan-start')
        d.page.wait_for_function(
            '(n) => Number(document.querySelector("#draggan-steps input")'
            '.value) > n', arg=steps, timeout=DRAG_TIMEOUT)
        d.page.click('#draggan-stop')
        status = d.wait_drag_end(steps)
        stopped = d.steps()
        assert status.startswith('Stopped after') or \
            status.startswith('Done:'), status
        assert steps < stopped < steps + 500
        # ... and Start again continues the same drag
        if status.startswith('Stopped after'):
            d.set_number('draggan-max-steps', 1)
            status = d.drag()
            assert d.steps() == stopped + 1, status
        assert d.points().startswith('1: (')
        assert d.points().endswith('-> (36, 32)')
    finally:
        ctx.close()


def test_two_browser_sessions_stay_apart(demo_url, browser):
    ctx_a = browser.new_context(viewport={'width': 1400, 'height': 1000})
    ctx_b = browser.new_context(viewport={'width': 1400, 'height': 1000})
    try:
        a, b = DemoPage(ctx_a, demo_url), DemoPage(ctx_b, demo_url)
        a.add_point((164, 260), (292, 260))
        b.add_point((100, 100), (100, 200))
        b.add_point((400, 400), (350, 420))
        assert a.points() == '1: (20, 32) -> (36, 32)'
        assert b.points() == ('1: (12, 12) -> (12, 25)\n'
                              '2: (50, 50) -> (43, 52)')
        for d in (a, b):
            d.set_number('draggan-max-steps', 2)
        # both drags at once
        a.page.click('#draggan-start')
        b.page.click('#draggan-start')
        sa, sb = a.wait_drag_end(0), b.wait_drag_end(0)
        assert 'failed' not in sa + sb, (sa, sb)
        assert 1 <= a.steps() <= 2 and 1 <= b.steps() <= 2
        assert a.points().count('\n') == 0 and a.points().endswith('(36, 32)')
        assert b.points().count('\n') == 1
        assert re.search(r'-> \(12, 25\)\n2: .* -> \(43, 52\)$', b.points())
        assert not np.array_equal(a.pixels(), b.pixels())
        # clearing one session leaves the other alone
        a.page.click('#draggan-clear')
        a.wait_status('Points cleared')
        assert a.points() == ''
        b.page.reload(wait_until='domcontentloaded')  # a fresh session
        b.wait_status('Click a handle')
        assert b.points() == '' and b.steps() == 0
        b.click_image(10, 10)
        b.wait_status('now click its target')
        assert a.points() == ''
    finally:
        ctx_a.close()
        ctx_b.close()


def test_save_load_and_missing_checkpoint(demo_url, browser, tmp_path):
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    try:
        d = DemoPage(ctx, demo_url)
        page = d.page
        d.add_point((164, 260), (292, 260))
        page.get_by_text('Save / load', exact=True).click()
        page.click('#draggan-save')
        d.wait_status('Saved')
        # the file list may render a moment after the status line
        page.wait_for_function(
            'n => document.querySelectorAll("#draggan-files a").length >= n',
            arg=5)
        links = {osp.basename(a.get_attribute('href')): a.get_attribute('href')
                 for a in page.locator('#draggan-files a').all()}
        # the CLI's bundle layout (fileio.bundle.FILE_NAMES); no drag yet,
        # so no trajectory and no curves
        assert {'result.png', 'session.json', 'start.png', 'start_latent.pt',
                'latent.pt'} == set(links), links
        assert 'No trajectory yet' in d.status()
        record = json.loads(page.request.get(links['session.json']).body())
        assert record['format'] == 'mmagic-draggan/session'
        assert record['version'] == 2
        assert record['handles'] == [[20., 32.]]
        assert record['latent_file'] == 'start_latent.pt'
        saved = tmp_path / 'session.json'
        saved.write_text(json.dumps(record))

        page.click('#draggan-clear')
        d.wait_status('Points cleared')
        assert d.points() == ''
        page.locator('#draggan-upload input[type=file]').set_input_files(
            str(saved))
        d.wait_status('Loaded the session')
        assert d.points() == '1: (20, 32) -> (36, 32)'

        # a model whose checkpoint is missing: how to get it, and a button
        page.get_by_label('Random weights (no checkpoint; for testing)') \
            .uncheck()
        d.wait_status('already loaded')  # the tiny model has no weights
        assert d.points() == '1: (20, 32) -> (36, 32)'
        page.click('#draggan-model input')
        page.get_by_role(
            'option', name='face-512x512 (StyleGAN2-FFHQ, not downloaded)') \
            .click()
        status = d.wait_status('needs its checkpoint')
        assert 'Still showing' in status
        assert 'python tools/download_checkpoint.py StyleGAN2-FFHQ --dir' in \
            page.inner_text('#draggan-checkpoint')
        assert page.locator('#draggan-download').is_visible()
        # the (local) download works; this file does not fit the model, which
        # the page says without losing the edit
        page.click('#draggan-download')
        status = d.wait_status('Could not load|Download failed',
                               timeout=DRAG_TIMEOUT)
        assert 'Could not load draggan_stylegan2_face-512x512.py' in status
        assert 'no StyleGAN2 generator' in status
        assert 'Still showing' in status, status
        assert d.points() == '1: (20, 32) -> (36, 32)'
        assert 'Traceback' not in page.content()
    finally:
        ctx.close()


def test_photo_upload_inverts_then_drags(demo_url, browser, tmp_path):
    """Upload a photo, invert it (pixel losses: offline) with streamed
    progress, see the reconstruction beside it, then drag it."""
    from PIL import Image as PILImage
    from PIL import ImageDraw
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1400})
    try:
        d = DemoPage(ctx, demo_url)
        page = d.page
        photo = tmp_path / 'photo.png'
        im = PILImage.new('RGB', (160, 120), (30, 80, 160))
        ImageDraw.Draw(im).ellipse((40, 20, 120, 100), fill=(230, 200, 60))
        im.save(photo)
        page.get_by_text('Your photo: invert it, then drag it',
                         exact=True).click()
        page.locator('#draggan-photo input[type=file]').set_input_files(
            str(photo))
        page.locator('#draggan-photo img').wait_for(state='visible')
        page.locator('#draggan-perceptual').get_by_label('none').check()
        d.set_number('draggan-inv-steps', 20)
        d.set_number('draggan-pti-steps', 10)
        page.click('#draggan-invert')
        d.wait_status('Inverting: (projection|tuning) step')  # streamed
        d.wait_status('Photo inverted', timeout=DRAG_TIMEOUT)
        summary = page.inner_text('#draggan-photo-summary')
        assert re.search(r'Reconstruction PSNR \d+\.\d dB', summary), summary
        page.locator('#draggan-comparison img').wait_for(state='visible')
        d.add_point((164, 260), (292, 260))
        d.set_number('draggan-max-steps', 2)
        page.click('#draggan-start')
        status = d.wait_drag_end(0)
        assert 'failed' not in status, status
        assert 1 <= d.steps() <= 2
        save_screenshot(page, tmp_path, 'demo_photo_screenshot.png')
    finally:
        ctx.close()


def test_watched_drag_runs_near_headless_speed(demo_url, browser):
    """Watching is (nearly) free: a drag shown in the page, frames streamed
    at the pacer's rate, runs at close to the speed of the same drag
    headless. The bound is loose (CI timing is noisy; speed targets live in
    tools/benchmark.py); the figures are printed (pytest -s)."""
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    try:
        d = DemoPage(ctx, demo_url)
        d.set_number('draggan-max-steps', 40)
        d.set_number('draggan-lr', 0.0001)  # far from converging in 40
        d.add_point((100, 260), (480, 260))
        before = d.steps()
        start = time.monotonic()
        status = d.drag()
        watched_s = time.monotonic() - start
        steps = d.steps() - before
        assert 'failed' not in status and steps >= 10, status
    finally:
        ctx.close()
    from mmagic_draggan.apis import init_model
    model = init_model(TINY, random_weights=True, device='cpu')
    session = model.new_session(seed=0, lr=0.0001, stop_distance=0.)
    session.set_points([[12., 32.]], [[60., 32.]])
    session.run(max_steps=2)  # warm-up
    start = time.monotonic()
    session.run(max_steps=steps)
    session.image()  # the headless drag's final image too
    headless_s = time.monotonic() - start
    watched, headless = steps / watched_s, steps / headless_s
    print(f'\nwatched in the browser: {steps} steps in {watched_s:.2f} s '
          f'({watched:.2f} steps/s); headless: {headless_s:.2f} s '
          f'({headless:.2f} steps/s); ratio {watched / headless:.2f}')
    assert watched >= 0.3 * headless, (watched, headless)
