"""The package's own exceptions.

Every error raised for something the user can fix (a bad argument, value or
file, a missing or unfitting checkpoint, a failed download) is a
:class:`DragGANError`, so that a front end turns exactly these into one line
(``mmagic_draggan.utils.cli``, the demo's status line) and lets anything else
surface as the bug it is. The kinds keep the built-in class they always had
(``ValueError``, ``RuntimeError``, ``FileNotFoundError``), so existing
``except ValueError`` code keeps working.

* :class:`InvalidInputError` (``ValueError``): an argument, option, point,
  image, latent, mask, session, inversion or task that is wrong;
* :class:`ConfigNotFoundError` (``FileNotFoundError``): no such config;
* ``CheckpointError`` (``RuntimeError``; ``OfficialPickleError`` under it),
  ``DownloadError`` (``RuntimeError``) and ``PerceptualWeightsError``
  (``FileNotFoundError``) live with the code that raises them and derive
  from :class:`DragGANError` too.
"""

__all__ = ['DragGANError', 'InvalidInputError', 'ConfigNotFoundError']


class DragGANError(Exception):
    """Base of every error mmagic-draggan raises for the user to fix."""


class InvalidInputError(DragGANError, ValueError):
    """A bad argument, option value or file content (the message names it
    and the fix)."""


class ConfigNotFoundError(DragGANError, FileNotFoundError):
    """A config file that does not exist."""
