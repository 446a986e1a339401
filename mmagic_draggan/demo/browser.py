"""The demo in a real browser: a demo server in a subprocess, Debian's
Chromium driven by Playwright, and the actions a person takes on the page.

One home for the helpers of the browser tests
(``tests/test_demo/test_demo_browser.py``) and of the load check
(``tools/demo_load_check.py``). Playwright drives the
system's Chromium (``DRAGGAN_CHROMIUM``, default ``/usr/bin/chromium``; the
setup installs it with ``bash tools/setup_env.sh --browser``) and never
downloads a browser of its own. Closing a page closes its Gradio heartbeat,
which is what fires the demo's ``unload`` event, as a closed tab does.
"""
import io
import os
import os.path as osp
import re
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmagic_draggan.utils.paths import repo_root

__all__ = ['ROOT', 'TINY', 'CHROMIUM', 'CHROMIUM_ARGS', 'DONE', 'free_port',
           'chromium_problem', 'launch_chromium', 'DemoServer', 'DemoPage',
           'our_tracebacks', 'read_rss_mb']

ROOT = str(repo_root())
#: The tiny test config (random weights only).
TINY = osp.join(ROOT, 'configs', 'draggan',
                'draggan_stylegan2_tiny-64x64.py')
#: The Chromium binary Playwright drives.
CHROMIUM = os.environ.get('DRAGGAN_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'
]
#: Status lines that end a drag.
DONE = r'Reached the step limit|Done:|Stopped after|failed'
#: Seconds a demo server may take to answer (imports and the first model
#: on a busy 2-core machine).
START_TIMEOUT = 300
#: Tracebacks a browser causes, not the demo: a page that went away during
#: an upload (starlette's ClientDisconnect, logged by Gradio's upload route)
#: or broke HTTP framing while a file was streamed to it (h11).
CLIENT_ERRORS = ('starlette.requests.ClientDisconnect',
                 'h11._util.RemoteProtocolError',
                 "h11._util.LocalProtocolError: Can't send data when our "
                 'state is ERROR')


def free_port() -> int:
    """A free TCP port of 127.0.0.1."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def chromium_problem(path: str = CHROMIUM) -> Optional[str]:
    """Why Chromium cannot run from ``path`` (with the fix), or None."""
    if osp.isfile(path) and os.access(path, os.X_OK):
        return None
    return (f'Chromium is not installed at {path}: the browser checks need '
            'it. Install it with `bash tools/setup_env.sh --browser` '
            '(Debian: apt-get install chromium), or point DRAGGAN_CHROMIUM '
            'at a Chromium binary.')


def launch_chromium(playwright, path: str = CHROMIUM):
    """A headless Chromium browser from a started ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=path,
                                      args=CHROMIUM_ARGS)


def our_tracebacks(log: str) -> List[str]:
    """The tracebacks in a demo server's log that are the demo's doing (not
    a client's: :data:`CLIENT_ERRORS`)."""
    tracebacks = log.split('Traceback (most recent call last):')[1:]
    return [t for t in tracebacks if not any(c in t for c in CLIENT_ERRORS)]


def read_rss_mb(pid: int) -> Dict[str, float]:
    """Resident memory of a Linux process from ``/proc/PID/status``.

    Returns:
        dict: ``rss`` (now) and ``hwm`` (its peak so far), in MB.
    """
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('VmRSS', 'VmHWM'):
                out['rss' if key == 'VmRSS' else 'hwm'] = \
                    int(value.split()[0]) / 1024
    return out


class DemoServer:
    """``demo/gradio_draggan.py`` in a subprocess on a free port of
    127.0.0.1 (the tiny config with random weights), its output in
    ``log_path``.

    Args:
        log_path (str): Where the server's output goes.
        args (list[str]): More command-line arguments of the demo.
        config (str): ``--config``. Defaults to the tiny config.
        device (str): ``--device``. Defaults to ``'cpu'``.
        env (dict, optional): More environment variables.
    """

    def __init__(self,
                 log_path: str,
                 args: Sequence[str] = (),
                 config: str = TINY,
                 device: str = 'cpu',
                 env: Optional[Dict[str, str]] = None):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.log_path = str(log_path)
        self.cmd = [
            sys.executable, osp.join(ROOT, 'demo', 'gradio_draggan.py'),
            '--config', config, '--random-weights', '--device', device,
            '--host', '127.0.0.1', '--port', str(self.port), *args
        ]
        self.env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False',
                        PYTHONUNBUFFERED='1', **(env or {}))
        self.proc: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        """The server's output so far."""
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start it and wait until the page answers.

        Returns:
            str: The page URL.

        Raises:
            RuntimeError: It exited or did not answer in time (with the
                log's tail).
        """
        with open(self.log_path, 'w') as log:
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env,
                                         stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f'the demo exited with '
                                   f'{self.proc.returncode}:\n'
                                   + self.log()[-3000:])
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f'the demo did not answer within '
                                   f'{timeout:.0f} s:\n' + self.log()[-3000:])
            time.sleep(0.5)

    def tab_root(self) -> Optional[str]:
        """The server's folder of tab folders (from its log)."""
        m = re.search(r'tab folders in (\S+)', self.log())
        return m.group(1) if m else None

    def stop(self, timeout: float = 30) -> Optional[int]:
        """SIGTERM, then wait (SIGKILL after ``timeout`` s).

        Returns:
            int | None: Its exit code (None when it was never started).
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> 'DemoServer':
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class DemoPage:
    """One browser tab on the demo, with the actions a person takes.

    Args:
        context: A Playwright browser context (one per tab keeps their
            cookies and storage apart).
        url (str): The demo.
        timeout (float): Default wait of every action, ms.
    """

    def __init__(self, context, url: str, timeout: float = 120_000):
        self.page = context.new_page()
        self.page.set_default_timeout(timeout)
        self.page.goto(url, wait_until='domcontentloaded')
        self.wait_status('Click a handle')
        self.image = self.page.locator('#draggan-image img')

    def status(self) -> str:
        """The status line as shown."""
        return self.page.inner_text('#draggan-status')

    def wait_status(self, pattern: str, timeout: float = 120_000) -> str:
        """Wait until the status line matches the regular expression."""
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

    def pixels(self, selector: str = '#draggan-image img') -> np.ndarray:
        """An image of the page, as served (RGB array)."""
        from PIL import Image
        src = self.page.locator(selector).get_attribute('src')
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
        """A handle and its target, in display pixels of the tiny model
        (8x enlarged)."""
        self.click_image(*handle)
        hx, hy = handle[0] // 8, handle[1] // 8  # display 8x: model pixels
        self.wait_status(rf'Handle at \({hx}, {hy}\): now click its target')
        self.click_image(*target)
        self.wait_status(r'Point \d+:')

    def open_panel(self, title: str, inside: str) -> None:
        """Open the accordion ``title`` unless ``inside`` (a selector in
        it) is visible already."""
        if not self.page.locator(inside).first.is_visible():
            self.page.get_by_text(title, exact=True).click()
            self.page.locator(inside).first.wait_for(state='visible')
            self.page.wait_for_timeout(300)  # let the opened panel settle

    def set_number(self, elem_id: str, value) -> None:
        """Type into a number box (opening "Advanced" first if needed)."""
        box = self.page.locator(f'#{elem_id} input')
        if not box.is_visible():
            self.open_panel('Advanced', f'#{elem_id} input')
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

    def upload_photo(self, path: str, expect: str = 'Press Invert photo'
                     ) -> str:
        """Upload a photo in *Your photo*; returns the status line once it
        names the file and matches ``expect`` (our reader's verdict)."""
        self.open_panel('Your photo: invert it, then drag it',
                        '#draggan-photo')
        clear = self.page.locator('#draggan-photo button[aria-label=Clear]')
        if clear.count():  # a photo is there: the file input comes back
            clear.first.click()
        self.page.locator('#draggan-photo input[type=file]').set_input_files(
            str(path))
        name = re.escape(osp.basename(str(path)))
        return self.wait_status(f'(?=.*{name})(?=.*(?:{expect}))')

    def set_inversion(self, steps: int, pti_steps: int,
                      perceptual: str = 'none') -> None:
        """Step counts and perceptual loss of the inversion."""
        self.open_panel('Your photo: invert it, then drag it',
                        '#draggan-photo')
        self.page.locator('#draggan-perceptual').get_by_label(
            perceptual).check()
        self.set_number('draggan-inv-steps', steps)
        self.set_number('draggan-pti-steps', pti_steps)

    def wait_drag_end(self, steps_before: int,
                      timeout: float = 300_000) -> str:
        """Wait until a drag that started at ``steps_before`` has ended."""
        self.page.wait_for_function(
            '([p, n]) => {'
            ' const e = document.querySelector("#draggan-status");'
            ' const s = document.querySelector("#draggan-steps input");'
            ' return !!e && !!s && Number(s.value) !== n'
            ' && new RegExp(p).test(e.innerText); }',
            arg=[DONE, steps_before], timeout=timeout)
        return self.status()

    def drag(self) -> str:
        """Start and wait for the drag's end; returns the status line."""
        before = self.steps()
        self.page.click('#draggan-start')
        return self.wait_drag_end(before)
