"""Text that the demo did not write, made fit for its Markdown status line.

Error messages, file names and values from the page reach the status line
(a ``gr.Markdown``) inside our own sentences. :func:`plain` is the one home
of what such text may not bring along: ANSI colour codes (from loggers and
tools), server paths (``/tmp/gradio/<hash>/photo.png``, the tab folders,
the checkpoint folder: only base names are shown) and Markdown (an error
about ``__init__`` must not turn bold). :func:`code` shows a name as
inline code. :data:`EXPECTED_ERRORS` says which exceptions are bad input
(a status line) rather than bugs (an "Internal error", logged in full by
:func:`~mmagic_draggan.demo.guards.handler`).
"""
import os.path as osp
import re
from typing import Any

from mmagic_draggan.errors import DragGANError

__all__ = ['EXPECTED_ERRORS', 'plain', 'code', 'error_text', 'failure']

#: Exceptions that mean bad input, a missing or unreadable file, an
#: unfitting checkpoint or a failed download: ours (:class:`DragGANError`)
#: and the built-in kinds other libraries raise for the same (a config or
#: photo that cannot be read): shown as a status line. Anything else is a
#: bug.
EXPECTED_ERRORS = (DragGANError, ValueError, OSError)

# CSI sequences (colours, cursor moves) and the other two-byte escapes
_ANSI = re.compile(r'\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]')
# an absolute path: a slash that does not follow a word, a dot, a colon or
# another slash (so no URL, ratio or relative path), then path characters
_PATH = re.compile(r'(?<![\w.~:/\\<-])/[^\s\'"`<>|;,()\[\]{}]+')
# Markdown and HTML that would format a message (and Gradio's $$ LaTeX);
# a quote, heading or list mark only at the start of a line
_MARKDOWN = re.compile(r'[\\`*_\[\]<~|$]|^\s*[>#+-]', re.M)


def _base_name(match: 're.Match') -> str:
    path = match.group(0)
    tail = ''
    while path and path[-1] in '.:':  # the end of a sentence
        path, tail = path[:-1], path[-1] + tail
    return (osp.basename(path.rstrip('/')) or path) + tail


def plain(text: Any) -> str:
    """``text`` as literal words for a Markdown status line.

    Args:
        text: Anything; ``str(text)`` is shown.

    Returns:
        str: The text without ANSI escape codes, every absolute path
        replaced by its base name, and Markdown/HTML characters escaped.
    """
    out = _ANSI.sub('', str(text))
    out = _PATH.sub(_base_name, out)
    return _MARKDOWN.sub(lambda m: m.group(0)[:-1] + '\\' + m.group(0)[-1],
                         out)


def code(name: Any) -> str:
    """A name as inline code: its base name, if it is a path (a code span
    shows its text literally; only backticks need removing)."""
    text = _ANSI.sub('', str(name)).replace('`', "'").replace('\n', ' ')
    return '`' + (osp.basename(text.rstrip('/')) or text) + '`'


def error_text(err: BaseException) -> str:
    """An exception's message, :func:`plain` (its type when it has none)."""
    return plain(str(err) or type(err).__name__)


def failure(what: str, err: BaseException) -> str:
    """The status line of a run (``what``: ``'drag'``, ``'inversion'``)
    that raised ``err`` on its worker thread. Bad input says what was wrong;
    a bug (not one of :data:`EXPECTED_ERRORS`) says it is an internal error
    and names its type; the worker logs its traceback."""
    if isinstance(err, EXPECTED_ERRORS):
        return f'The {what} failed: {error_text(err)}'
    return (f'The {what} failed (internal error, logged): '
            f'{type(err).__name__}: {error_text(err)}')
