"""End to end: the Gradio demo in a real (headless) browser.

Starts ``demo/gradio_draggan.py`` on the tiny config with random weights on a
free port of 127.0.0.1, opens it in Debian's Chromium driven by Playwright
(never Playwright's own browser download), clicks points on the image,
paints a mask, drags, stops, resumes, and runs two browser sessions at once.
The helpers (server, Chromium, the page's actions) live in
:mod:`mmagic_draggan.demo.browser`, shared with ``tools/demo_load_check.py``.

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
import time

import numpy as np
import pytest

from mmagic_draggan.demo.browser import (CHROMIUM, ROOT, TINY, DemoPage,
                                         DemoServer, chromium_problem,
                                         launch_chromium, our_tracebacks)

pytestmark = pytest.mark.e2e

DRAG_TIMEOUT = 300_000  # ms


@pytest.fixture(scope='module')
def chromium() -> str:
    problem = chromium_problem(CHROMIUM)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return CHROMIUM


@pytest.fixture(scope='module')
def zoo_url(serve_bytes):
    """A local stand-in for the checkpoint host: every name is a small zip
    (a valid download that does not fit any generator)."""
    import torch
    buf = io.BytesIO()
    torch.save({'state_dict': {'w': torch.zeros(4, 4)}}, buf)
    return serve_bytes(buf.getvalue())


@pytest.fixture(scope='module')
def demo_server(chromium, tmp_path_factory, zoo_url):
    """The demo in a subprocess: tiny config, random weights, CPU, an empty
    checkpoint folder and the local checkpoint host. When it stops
    (SIGTERM), its tab folders must be gone, and its log must hold no
    traceback of ours."""
    folder = tmp_path_factory.mktemp('demo')
    server = DemoServer(
        str(folder / 'server.log'),
        ['--checkpoint-dir', str(folder / 'checkpoints')],
        env=dict(DRAGGAN_CHECKPOINT_BASE_URL=zoo_url))
    try:
        server.start()
    except RuntimeError as err:
        server.stop()
        pytest.fail(str(err))
    try:
        yield server
    finally:
        code = server.stop()
    root = server.tab_root()
    assert root is not None, server.log()[-3000:]
    assert not osp.exists(root), f'{root} outlived the server (SIGTERM)'
    assert code == 0, server.log()[-3000:]
    log = server.log()
    ours = our_tracebacks(log)
    assert not ours, '\n'.join(ours)[-3000:] or log[-3000:]


@pytest.fixture(scope='module')
def demo_url(demo_server) -> str:
    return demo_server.url


@pytest.fixture(scope='module')
def browser(chromium):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = launch_chromium(p, chromium)
        yield b
        b.close()


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


def write_photo(path, colour=(30, 80, 160), size=(160, 120)) -> str:
    """A drawn "photo": a disc on a plain background."""
    from PIL import Image, ImageDraw
    im = Image.new('RGB', size, colour)
    w, h = size
    ImageDraw.Draw(im).ellipse((w // 4, h // 6, 3 * w // 4, 5 * h // 6),
                               fill=(230, 200, 60))
    im.save(path)
    return str(path)


def test_photo_upload_inverts_then_drags(demo_url, browser, tmp_path):
    """Uploads reach our reader raw: its refusals are status lines (no
    server path), a 16-bit PNG previews as it is (not white). Then a photo
    is inverted (pixel losses: offline) with streamed progress, shown beside
    its reconstruction, dragged and saved with its inversion.pth (base
    names only); New image clears the comparison."""
    from PIL import Image
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1400})
    try:
        d = DemoPage(ctx, demo_url)
        page = d.page
        (tmp_path / 'notes.txt').write_text('not a photo')
        (tmp_path / 'empty.png').write_bytes(b'')
        for name, words in (('notes.txt', 'not an image Pillow can read'),
                            ('empty.png', r'is empty \(0 bytes\)')):
            status = d.upload_photo(str(tmp_path / name),
                                    'Cannot use this photo')
            assert re.search(words, status), status
            assert f"'{name}'" in status and '/tmp' not in status, status
            assert '/' not in status, status  # no server path at all
        # a 16-bit grey gradient: mid-grey on average, not white
        ramp = np.tile(np.linspace(0, 65535, 128), (96, 1))
        Image.fromarray(ramp.astype(np.uint16)).save(tmp_path / 'deep.png')
        status = d.upload_photo(str(tmp_path / 'deep.png'))
        assert 'deep.png: 128x96 px' in status, status
        preview = d.pixels('#draggan-photo-preview img')
        assert preview.shape == (512, 512, 3)
        assert 100 < preview.mean() < 160, preview.mean()

        d.upload_photo(write_photo(tmp_path / 'photo.png'))
        d.set_inversion(20, 10)
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

        # Save: the bundle holds the inversion; the record names files of
        # the bundle by base name, and no server folder
        d.open_panel('Save / load', '#draggan-save')
        page.click('#draggan-save')
        d.wait_status('Saved')
        page.wait_for_function(
            'n => document.querySelectorAll("#draggan-files a").length >= n',
            arg=6)
        links = {osp.basename(a.get_attribute('href')): a.get_attribute('href')
                 for a in page.locator('#draggan-files a').all()}
        assert 'inversion.pth' in links, links
        text = page.request.get(links['session.json']).text()
        record = json.loads(text)
        assert record['inversion_file'] == 'inversion.pth', record
        assert '/tmp' not in text and 'draggan_demo_' not in text, text

        # a new image: the old photo's comparison goes
        page.click('#draggan-new')
        d.wait_status('New image')
        page.locator('#draggan-comparison img').wait_for(state='detached')
        assert page.inner_text('#draggan-photo-summary').strip() == ''
    finally:
        ctx.close()


def test_closed_tab_frees_its_folder_at_once(demo_server, browser):
    """Closing a tab fires Gradio's unload: the tab's folder (under the
    server's one tab root) goes at once, not an hour later."""
    root = demo_server.tab_root()
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    try:
        before = set(os.listdir(root))
        d = DemoPage(ctx, demo_server.url)
        mine = set(os.listdir(root)) - before
        assert len(mine) == 1, (before, mine)
        d.page.close()
        deadline = time.monotonic() + 30
        while set(os.listdir(root)) & mine:
            assert time.monotonic() < deadline, 'the tab folder stayed'
            time.sleep(0.2)
    finally:
        ctx.close()


def test_idle_tab_expires_but_a_busy_one_does_not(browser, tmp_path):
    """The tab's state has a time to live (``--tab-ttl``, here 3 s) that
    every event restarts: a drag that runs for longer keeps it; once the
    tab is idle for longer, its edit and folder are freed and a click asks
    for a reload."""
    server = DemoServer(str(tmp_path / 'server.log'), ['--tab-ttl', '3'])
    server.start()
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    root = server.tab_root()
    try:
        d = DemoPage(ctx, server.url)
        assert len(os.listdir(root)) == 1
        d.set_number('draggan-max-steps', 100000)
        d.set_number('draggan-lr', 0.0001)
        d.add_point((100, 260), (480, 260))
        d.page.click('#draggan-start')
        d.wait_status(r'Dragging\.\.\. step')
        time.sleep(7)  # over twice the time to live, while it drags
        assert d.status().startswith('Dragging... step'), d.status()
        assert len(os.listdir(root)) == 1
        d.page.click('#draggan-stop')
        assert d.wait_drag_end(0).startswith('Stopped after')
        deadline = time.monotonic() + 30
        while os.listdir(root):  # idle now: it expires
            assert time.monotonic() < deadline, 'the idle tab was kept'
            time.sleep(0.5)
        d.click_image(10, 10)
        d.wait_status('idle so long that its edit was freed')
    finally:
        ctx.close()
        assert server.stop() == 0
    assert not osp.exists(root)
    assert 'expired: its edit and folder are freed' in server.log()
    assert not our_tracebacks(server.log())


def test_phone_shows_the_image_first(demo_url, browser):
    """On a narrow screen the image (with its status line) comes before the
    controls, within the first screen."""
    ctx = browser.new_context(viewport={'width': 390, 'height': 844},
                              device_scale_factor=2, is_mobile=True,
                              has_touch=True)
    try:
        d = DemoPage(ctx, demo_url)
        d.image.wait_for(state='visible')
        img = d.image.bounding_box()
        start = d.page.locator('#draggan-start').bounding_box()
        assert img['y'] < start['y'], (img, start)
        assert img['y'] < 844 * 0.5, img
    finally:
        ctx.close()


def test_session_json_cannot_run_an_uploaded_config(demo_url, browser,
                                                    tmp_path):
    """The RCE attempt: a .py uploaded through Gradio's own upload route
    (which answers with its server path), then a session.json whose
    "config" is that path. Reading a Python config runs it, so the demo
    must refuse the name: the .py's marker file must not appear, and the
    status line says why, without the server path."""
    import httpx
    marker = tmp_path / 'ran.txt'
    evil = tmp_path / 'evil_config.py'
    evil.write_text(f'open({str(marker)!r}, "w").write("ran")\n'
                    '_base_ = []\n')
    with open(evil, 'rb') as f:
        r = httpx.post(f'{demo_url}/gradio_api/upload',
                       files={'files': ('evil_config.py', f,
                                        'text/x-python')}, timeout=30)
    assert r.status_code == 200, r.text
    (server_path, ) = r.json()
    assert osp.isabs(server_path) and server_path.endswith('.py')
    session = tmp_path / 'session.json'
    session.write_text(json.dumps({
        'format': 'mmagic-draggan/session', 'version': 2,
        'config': server_path, 'random_weights': True, 'seed': 1,
        'handles': [[20, 32]], 'targets': [[36, 32]]}))
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    try:
        d = DemoPage(ctx, demo_url)
        d.open_panel('Save / load', '#draggan-save')
        d.page.locator('#draggan-upload input[type=file]').set_input_files(
            str(session))
        status = d.wait_status('Cannot load the session|Loaded the session')
        time.sleep(1)  # anything the load started has run by now
        assert not marker.exists(), 'the uploaded config was executed'
        assert status.startswith('Cannot load the session'), status
        assert 'evil_config.py' in status, status
        assert server_path not in status and '/tmp' not in status, status
        assert d.points() == ''  # the edit stays
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
