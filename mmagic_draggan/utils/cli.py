"""What every command-line tool does with errors and exit codes.

Each ``tools/*.py`` runs its work through :func:`run_tool`:

* our own errors (:class:`~mmagic_draggan.errors.DragGANError`: bad
  arguments, inputs, files, checkpoints) print one line,
  ``PROG: error: MESSAGE``, and exit with :data:`EXIT_ERROR` (2);
* Ctrl-C that reaches the tool (a drag stops at the first Ctrl-C and writes
  its files; the second one arrives here) exits with :data:`EXIT_ABORTED`
  (130, the shell's code for SIGINT);
* anything else is a bug and keeps its traceback.

:class:`ArgumentParser` turns argparse's own errors into the same one line.
"""
import argparse
import sys
from typing import Callable, Optional

from mmagic_draggan.errors import DragGANError, InvalidInputError

__all__ = ['EXIT_OK', 'EXIT_ERROR', 'EXIT_ABORTED', 'UsageError',
           'ArgumentParser', 'one_line', 'run_tool']

#: Exit codes of the tools.
EXIT_OK, EXIT_ERROR, EXIT_ABORTED = 0, 2, 130


class UsageError(InvalidInputError):
    """A bad command line."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are :class:`UsageError` (one line, exit 2)
    instead of a usage dump and ``SystemExit``."""

    def error(self, message: str):
        raise UsageError(f'{message} (see --help)')


def one_line(err: BaseException) -> str:
    """An error's message folded into one line."""
    return ' '.join(str(err).split()) or type(err).__name__


def run_tool(work: Callable[[], Optional[int]],
             prog: str,
             aborted: str = 'aborted by Ctrl-C') -> int:
    """Run a tool's work and turn its errors into an exit code.

    Args:
        work (callable): The tool's work; returns an exit code or None (0).
        prog (str): The tool's name in messages, e.g. ``'tools/drag.py'``.
        aborted (str): What to say after a Ctrl-C that reached the tool.

    Returns:
        int: :data:`EXIT_OK` (or what ``work`` returned),
        :data:`EXIT_ERROR` after one of our errors, :data:`EXIT_ABORTED`
        after Ctrl-C.
    """
    try:
        code = work()
    except DragGANError as err:
        print(f'{prog}: error: {one_line(err)}', file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f'\n{prog}: {aborted}', file=sys.stderr)
        return EXIT_ABORTED
    return EXIT_OK if code is None else int(code)
