"""Shared fixtures: the tiny 64x64 config with deterministic random weights.

The tree mirrors the package (``test_models/`` for ``mmagic_draggan/models``
...); helpers shared by several folders live beside this file
(``ckpt_helpers.py``), which pytest puts on ``sys.path``. Tiers: the whole
suite (what CI runs), or ``-m "not e2e"`` for the quick tier.
"""
import os.path as osp
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Optional

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(ROOT, 'configs', 'draggan',
                       'draggan_stylegan2_tiny-64x64.py')


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'e2e: end to end through other processes (the demo '
        'server and Chromium, the tools run as scripts, torchrun, MMagic\'s '
        'tools, a built wheel); the quick tier is -m "not e2e"')


@pytest.fixture(scope='session')
def tiny_config() -> str:
    return TINY_CONFIG


@pytest.fixture(scope='session')
def tiny_model():
    """A DragGAN on the tiny config; seeded random weights. Shared: tests
    must not modify it (sessions hold their own state)."""
    from mmagic_draggan.apis import init_model
    return init_model(TINY_CONFIG, random_weights=True, device='cpu')


@pytest.fixture(scope='session')
def serve_bytes() -> Callable[..., str]:
    """Serve fixed bytes over loopback HTTP: a stand-in for the checkpoint
    host. ``serve_bytes(payload, names=None)`` starts a server and returns
    its base URL ``http://127.0.0.1:PORT/``; ``GET /NAME`` answers
    ``payload`` (200) when ``names`` is None or holds NAME, else 404. The
    servers stop at the end of the session."""
    servers = []

    def serve(payload: bytes, names: Optional[Iterable[str]] = None) -> str:
        allowed = None if names is None else set(names)

        class Handler(BaseHTTPRequestHandler):

            def log_message(self, *args):
                pass

            def do_GET(self):
                ok = allowed is None or self.path.lstrip('/') in allowed
                body = payload if ok else b'not found'
                self.send_response(200 if ok else 404)
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f'http://127.0.0.1:{httpd.server_address[1]}/'

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
