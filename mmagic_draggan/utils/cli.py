"""What every command-line tool does with errors and exit codes.

Each ``tools/*.py`` runs its work through :func:`run_tool`:

* our own errors (:class:`~mmagic_draggan.errors.DragGANError`: bad
  arguments, inputs, files, checkpoints) print one line,
  ``PROG: error: MESSAGE``, and exit with :data:`EXIT_ERROR` (2);
* Ctrl-C that reaches the tool (a drag stops at the first Ctrl-C and writes
  its files; the second one arrives here) exits with :data:`EXIT_ABORTED`
  (130, the shell's code for SIGINT);
* anything else is a bug and keeps its traceback.

:class:`ArgumentParser` turns argparse's own errors into the same one line;
:func:`int_type` and :func:`positive_number_type` are argparse ``type``s that
apply the package's one number rule (:mod:`mmagic_draggan.structures.
numbers`) to a flag.
"""
import argparse
import sys
from typing import Callable, Optional

from mmagic_draggan.errors import DragGANError, InvalidInputError
from mmagic_draggan.structures.numbers import check_int, check_number

__all__ = ['EXIT_OK', 'EXIT_ERROR', 'EXIT_ABORTED', 'UsageError',
           'ArgumentParser', 'int_type', 'positive_number_type', 'one_line',
           'run_tool']

#: Exit codes of the tools.
EXIT_OK, EXIT_ERROR, EXIT_ABORTED = 0, 2, 130


class UsageError(InvalidInputError):
    """A bad command line."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are :class:`UsageError` (one line, exit 2)
    instead of a usage dump and ``SystemExit``."""

    def error(self, message: str):
        raise UsageError(f'{message} (see --help)')


def int_type(low: int = 0) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low``
    (:func:`~mmagic_draggan.structures.numbers.check_int`).

    Args:
        low (int): Smallest allowed value. Defaults to 0.

    Returns:
        callable: ``text -> int``; raises ``argparse.ArgumentTypeError``
        (``'x' is not an integer`` / ``'-3' must be an integer >= 0``).
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not an integer') from None
        try:
            return check_int(value, repr(text), low)
        except InvalidInputError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


def positive_number_type(text: str) -> float:
    """An argparse ``type``: a finite number > 0
    (:func:`~mmagic_draggan.structures.numbers.check_number`).

    Raises:
        argparse.ArgumentTypeError: ``'x' is not a number`` / ``'0' must
            be a finite number > 0``.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a number') from None
    try:
        check_number(value, repr(text))
    except InvalidInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f'{text!r} must be a finite number > 0')
    return value


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
