"""mmagic-draggan: DragGAN ("Drag Your GAN", Pan et al., SIGGRAPH 2023) for MMagic.

Importing this package registers every component into MMagic's registries
(scope ``mmagic``)::

    custom_imports = dict(imports=['mmagic_draggan'], allow_failed_imports=False)
"""
from .compat import install_aliases

install_aliases()  # must precede the first mmagic import

from .version import __version__  # noqa: E402
from . import models  # noqa: E402,F401
from . import engine  # noqa: E402,F401
from . import datasets, evaluation  # noqa: E402,F401

__all__ = ['__version__']
