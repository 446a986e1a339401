"""Download one checkpoint file robustly (for tools/download_checkpoint.py).

* The file is written to ``<dest>.part`` and renamed onto ``<dest>`` only
  once it is complete and verified, so ``<dest>`` is never half a file.
* A broken transfer is resumed with an HTTP ``Range`` request (or restarted
  when the server ignores ranges), with bounded retries and back-off.
* A response that is not a checkpoint is refused: an HTML page (by
  ``Content-Type`` or by its first bytes), anything that does not start with
  the zip magic ``PK\\x03\\x04`` of ``torch.save`` files, or a zip whose
  CRCs do not check out.

Errors are :class:`DownloadError` with an ``exit_code``: 1 network failure
after all retries, 3 not a checkpoint, 4 HTTP error status (404, 403, ...).
"""
import http.client
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from mmagic_draggan.errors import DragGANError

#: Exit codes of tools/download_checkpoint.py.
EXIT_OK, EXIT_NETWORK, EXIT_USAGE = 0, 1, 2
EXIT_NOT_CHECKPOINT, EXIT_HTTP = 3, 4

ZIP_MAGIC = b'PK\x03\x04'
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(DragGANError, RuntimeError):
    """A download failed; ``exit_code`` says how (see the module docstring).

    Args:
        message (str): What happened and what to do.
        exit_code (int): Process exit code for the CLI.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Retry(Exception):
    """A transient failure: try again (resuming unless ``restart``)."""

    def __init__(self, message: str, restart: bool = False) -> None:
        super().__init__(message)
        self.restart = restart


def looks_like_html(head: bytes) -> bool:
    """Whether the first bytes of a file or response are an HTML page."""
    text = head.lstrip()[:512].lower()
    return text.startswith(b'<') or b'<html' in text or b'<!doctype' in text


def is_checkpoint_file(path: Path) -> bool:
    """Whether ``path`` is a complete ``torch.save`` zip (magic and CRCs).

    Args:
        path (Path): File to check.

    Returns:
        bool: True for a readable zip whose members' CRCs are right.
    """
    try:
        with open(path, 'rb') as f:
            if f.read(4) != ZIP_MAGIC:
                return False
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def _not_checkpoint(url: str, what: str) -> DownloadError:
    return DownloadError(
        f'{url} returned {what}, not a checkpoint (an error or login page, or '
        'a wrong URL); nothing was saved. Check the name, or use --base-url '
        'with a mirror.', EXIT_NOT_CHECKPOINT)


def _open(url: str, start: int, timeout: float):
    headers = {'User-Agent': 'mmagic-draggan-downloader'}
    if start:
        headers['Range'] = f'bytes={start}-'
    req = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:
            raise _Retry(
                'range not satisfiable; restarting', restart=True) from err
        if err.code in _RETRY_STATUS:
            raise _Retry(f'HTTP {err.code} {err.reason}') from err
        raise DownloadError(f'HTTP {err.code} {err.reason} for {url}',
                            EXIT_HTTP) from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise _Retry(f'{type(err).__name__}: {err}') from err


def _start_offset(resp, have: int) -> int:
    """Where the response body starts in the file (0 restarts)."""
    if not have:
        return 0
    span = resp.headers.get('Content-Range', '')
    if resp.status == 206 and span.startswith(f'bytes {have}-'):
        return have
    return 0


def _transfer(url: str, part: Path, timeout: float, chunk_size: int,
              progress: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    with _open(url, have, timeout) as resp:
        ctype = resp.headers.get('Content-Type', '') or ''
        if 'text/html' in ctype.lower():
            raise _not_checkpoint(url, f'an HTML page ({ctype})')
        have = _start_offset(resp, have)
        length = resp.headers.get('Content-Length')
        total = have + int(length) if length and length.isdigit() else None
        head = b''
        with open(part, 'ab' if have else 'wb') as f, tqdm(
                total=total,
                initial=have,
                unit='B',
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name[:-5],
                disable=not progress) as bar:
            while True:
                try:
                    chunk = resp.read(chunk_size)
                except (http.client.HTTPException, OSError) as err:
                    raise _Retry(f'transfer broke: {err!r}') from err
                if not chunk:
                    break
                if have == 0 and len(head) < 4:
                    head += chunk[:4 - len(head)]
                    if len(head) >= 4 and head != ZIP_MAGIC:
                        f.close()
                        part.unlink()
                        raise _not_checkpoint(
                            url, 'an HTML page' if looks_like_html(chunk) else
                            f'data starting with {head!r}')
                f.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size < total:
        raise _Retry(f'connection closed after {size} of {total} bytes')


def download_file(url: str,
                  dest: str,
                  retries: int = 5,
                  timeout: float = 60.,
                  backoff: float = 1.,
                  chunk_size: int = 1 << 20,
                  progress: bool = True,
                  log=print) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming on broken transfers.

    Args:
        url (str): HTTP(S) URL of a ``torch.save`` file.
        dest (str): Final path; ``dest + '.part'`` holds the partial file.
        retries (int): Transient failures tolerated. Defaults to 5.
        timeout (float): Socket timeout in seconds. Defaults to 60.
        backoff (float): First wait between tries in seconds, doubled each
            time. Defaults to 1.
        chunk_size (int): Bytes per read. Defaults to 1 MiB.
        progress (bool): Show a tqdm bar. Defaults to True.
        log (callable): Where retry notices go. Defaults to ``print``.

    Returns:
        Path: ``dest``, complete and verified.

    Raises:
        DownloadError: With ``exit_code`` 1 (retries exhausted), 3 (not a
            checkpoint) or 4 (HTTP error status).
    """
    final = Path(dest)
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + '.part')
    failures = 0
    while True:
        resumed = part.exists() and part.stat().st_size > 0
        try:
            _transfer(url, part, timeout, chunk_size, progress)
            if is_checkpoint_file(part):
                part.replace(final)
                return final
            part.unlink()
            if not resumed:
                raise _not_checkpoint(url, 'a damaged zip file')
            raise _Retry('the resumed file does not verify; restarting')
        except _Retry as why:
            if why.restart and part.exists():
                part.unlink()
            failures += 1
            if failures > retries:
                raise DownloadError(
                    f'download of {url} failed after {retries} retries '
                    f'({why}); run the command again to resume from '
                    f'{part}.', EXIT_NETWORK) from None
            wait = backoff * 2**(failures - 1)
            log(f'{why}; retry {failures}/{retries} in {wait:.0f} s')
            time.sleep(wait)


def describe_size(path: Optional[Path]) -> str:
    """Human-readable size of a file (``'12.3 MiB'``), or ``'?'``."""
    try:
        size = float(path.stat().st_size)
    except (OSError, AttributeError):
        return '?'
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if size < 1024 or unit == 'GiB':
            return f'{size:.1f} {unit}'
        size /= 1024
    return '?'
