"""Import-path aliases that let MMagic 1.2.0 import beside today's packages.

MMagic 1.2.0 (Dec 2023) imports two diffusers modules by paths that diffusers
moved later:

* ``diffusers.models.unet_2d_condition`` -> ``diffusers.models.unets.unet_2d_condition``
* ``diffusers.pipelines.paint_by_example`` ->
  ``diffusers.pipelines.deprecated.paint_by_example``

The diffusers that fits Gradio 6 (huggingface_hub >= 1.x) only has the new
paths. :func:`install_aliases` registers the old names in ``sys.modules`` so
``import mmagic.models`` succeeds; nothing else is patched. It must run before
MMagic is imported, which ``mmagic_draggan/__init__.py`` does.

``tests/test_compat.py`` fails as soon as an alias is no longer needed (the old
path imports on its own) so this module can then be deleted.
"""
import importlib
import sys
from typing import Dict

#: old module path (what mmagic imports) -> new module path (where it lives now)
DIFFUSERS_ALIASES: Dict[str, str] = {
    'diffusers.models.unet_2d_condition':
    'diffusers.models.unets.unet_2d_condition',
    'diffusers.pipelines.paint_by_example':
    'diffusers.pipelines.deprecated.paint_by_example',
}


def install_aliases() -> Dict[str, str]:
    """Register every alias whose old path does not import by itself.

    Returns:
        dict: The aliases that were installed (old path -> new path).
    """
    installed = {}
    for old, new in DIFFUSERS_ALIASES.items():
        if old in sys.modules:
            continue
        try:
            importlib.import_module(old)
            continue  # still importable: no alias needed
        except ImportError:
            pass
        try:
            module = importlib.import_module(new)
        except ImportError:
            continue  # neither path: let mmagic raise its own clear error
        module.__draggan_alias__ = True
        sys.modules[old] = module
        parent, _, child = old.rpartition('.')
        setattr(importlib.import_module(parent), child, module)
        installed[old] = new
    return installed
