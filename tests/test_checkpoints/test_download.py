"""tools/download_checkpoint.py against a local HTTP server on 127.0.0.1:
resume after a broken transfer, restart when ranges are ignored, refusal of
HTML pages and non-checkpoints, HTTP errors, bounded retries, exit codes."""
import importlib.util
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from mmagic_draggan.checkpoints.download import (EXIT_HTTP, EXIT_NETWORK,
                                                 EXIT_NOT_CHECKPOINT, EXIT_OK,
                                                 EXIT_USAGE, DownloadError,
                                                 download_file,
                                                 is_checkpoint_file)
from mmagic_draggan.checkpoints.zoo import DEFAULT_BASE_URL, checkpoint_url

ROOT = Path(__file__).resolve().parents[2]
HTML = b'<!DOCTYPE html><html><body>Please log in</body></html>'


def _payload() -> bytes:
    buf = io.BytesIO()
    rng = torch.Generator().manual_seed(0)
    torch.save({'state_dict': {'w': torch.randn(64, 256, generator=rng)}}, buf)
    return buf.getvalue()


PAYLOAD = _payload()


class Handler(BaseHTTPRequestHandler):
    """Serves PAYLOAD under behaviours chosen by the path's first segment."""

    log: list = []
    broken_once: set = set()

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self,
              status,
              body,
              ctype='application/octet-stream',
              headers=None,
              cut=None):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()

    def do_GET(self):
        mode = self.path.strip('/').split('/')[0]
        rng = self.headers.get('Range')
        Handler.log.append((self.path, rng))
        start = int(rng[6:-1]) if rng else 0
        if mode == 'html':
            return self._send(200, HTML, 'text/html; charset=utf-8')
        if mode == 'html-as-binary':
            return self._send(200, HTML)
        if mode == 'junk':
            return self._send(200, b'\x00\x01not a checkpoint' * 10)
        if mode == 'missing':
            return self._send(404, b'not found', 'text/plain')
        if mode == 'always-broken':
            return self._send(200, PAYLOAD, cut=len(PAYLOAD) // 3)
        first = self.path not in Handler.broken_once
        if mode in ('flaky', 'flaky-norange') and first:
            Handler.broken_once.add(self.path)
            return self._send(200, PAYLOAD, cut=len(PAYLOAD) // 2)
        if start and mode != 'flaky-norange':
            part = PAYLOAD[start:]
            return self._send(
                206,
                part,
                headers={
                    'Content-Range':
                    f'bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}'
                })
        return self._send(200, PAYLOAD)


@pytest.fixture(scope='module')
def server():
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def _get(url, dest, **kw):
    kw = {
        'retries': 3,
        'backoff': 0,
        'progress': False,
        'timeout': 10,
        'chunk_size': 4096,
        'log': lambda *_: None,
        **kw
    }
    return download_file(url, str(dest), **kw)


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir())


def test_plain_download(server, tmp_path):
    dest = _get(f'{server}/ok/x', tmp_path / 'a.pth')
    assert dest.read_bytes() == PAYLOAD
    assert is_checkpoint_file(dest)
    assert _leftovers(tmp_path) == ['a.pth']


def test_resume_after_broken_transfer(server, tmp_path):
    Handler.log.clear()
    dest = _get(f'{server}/flaky/resume', tmp_path / 'b.pth')
    assert dest.read_bytes() == PAYLOAD
    ranges = [r for p, r in Handler.log if p == '/flaky/resume']
    assert ranges == [None, f'bytes={len(PAYLOAD) // 2}-']
    assert _leftovers(tmp_path) == ['b.pth']


def test_restart_when_server_ignores_range(server, tmp_path):
    dest = _get(f'{server}/flaky-norange/x', tmp_path / 'c.pth')
    assert dest.read_bytes() == PAYLOAD


def test_retries_are_bounded(server, tmp_path):
    Handler.log.clear()
    with pytest.raises(DownloadError) as err:
        _get(f'{server}/always-broken/x', tmp_path / 'd.pth', retries=2)
    assert err.value.exit_code == EXIT_NETWORK
    assert len(Handler.log) == 3  # first try + 2 retries
    assert not (tmp_path / 'd.pth').exists()  # never a half file


@pytest.mark.parametrize('mode', ['html', 'html-as-binary', 'junk'])
def test_non_checkpoints_refused(server, tmp_path, mode):
    with pytest.raises(DownloadError) as err:
        _get(f'{server}/{mode}/x', tmp_path / 'e.pth')
    assert err.value.exit_code == EXIT_NOT_CHECKPOINT
    assert 'not a checkpoint' in str(err.value)
    assert _leftovers(tmp_path) == []


def test_http_error(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        _get(f'{server}/missing/x', tmp_path / 'f.pth')
    assert err.value.exit_code == EXIT_HTTP and '404' in str(err.value)


def test_damaged_zip_refused(tmp_path):
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(PAYLOAD[:-40])
    assert not is_checkpoint_file(bad)


# ---------------------------------------------------------------- CLI ----
def _tool():
    spec = importlib.util.spec_from_file_location(
        'download_checkpoint', ROOT / 'tools' / 'download_checkpoint.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_names_dir_base_url_and_skip(server, tmp_path, capsys):
    tool = _tool()
    args = [
        'stylegan2-ffhq', '--dir',
        str(tmp_path), '--base-url', f'{server}/ok', '--quiet', '--backoff',
        '0'
    ]
    assert tool.main(args) == EXIT_OK
    dest = tmp_path / 'stylegan2_face_512_pytorch_mmagic.pth'
    assert dest.read_bytes() == PAYLOAD
    assert tool.main(args) == EXIT_OK
    assert 'already present' in capsys.readouterr().out


def test_cli_exit_codes(server, tmp_path, capsys):
    tool = _tool()
    common = ['--dir', str(tmp_path), '--quiet', '--backoff', '0']
    assert tool.main(['no-such-name'] + common) == EXIT_USAGE
    assert 'StyleGAN2-FFHQ' in capsys.readouterr().err
    assert tool.main(common) == EXIT_USAGE
    assert tool.main(['StyleGAN2-FFHQ', '--base-url', f'{server}/html'] +
                     common) == EXIT_NOT_CHECKPOINT
    assert tool.main(['StyleGAN2-FFHQ', '--base-url', f'{server}/missing'] +
                     common) == EXIT_HTTP
    assert tool.main([
        'StyleGAN2-FFHQ', '--base-url', f'{server}/always-broken', '--retries',
        '1'
    ] + common) == EXIT_NETWORK
    assert tool.main(['--list']) == EXIT_OK
    assert 'stylegan2_dogs_1024_pytorch_mmagic.pth' in capsys.readouterr().out


def test_cli_all_downloads_every_checkpoint(server, tmp_path):
    tool = _tool()
    assert tool.main([
        '--all', '--dir',
        str(tmp_path), '--base-url', f'{server}/ok/', '--quiet'
    ]) == EXIT_OK
    assert len(list(tmp_path.glob('*.pth'))) == 8
    names = {p for p, _ in Handler.log}
    assert '/ok/StyleGAN2-cat-official' in names


def test_url_is_base_plus_name(monkeypatch):
    monkeypatch.delenv('DRAGGAN_CHECKPOINT_BASE_URL', raising=False)
    assert checkpoint_url('StyleGAN2-FFHQ') == DEFAULT_BASE_URL + \
        'StyleGAN2-FFHQ'
    assert checkpoint_url('X', 'http://mirror/a') == 'http://mirror/a/X'
    monkeypatch.setenv('DRAGGAN_CHECKPOINT_BASE_URL', 'http://m2/')
    assert checkpoint_url('X') == 'http://m2/X'
