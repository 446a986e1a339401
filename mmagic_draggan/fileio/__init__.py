"""File formats, each with one reader and one writer (bottom layer: imports
nothing above ``structures`` and ``utils``).

* W+ latents (:mod:`.latent`), masks (:mod:`.mask`),
* the session JSON (:mod:`.session_file`) and the session bundle
  (:mod:`.bundle`) that the CLI, the demo and batch runs write.
"""
from .bundle import (FILE_NAMES, VIDEO_FORMATS, BundleContent, WrittenBundle,
                     check_bundle_dir, save_png, write_bundle)
from .latent import LATENT_SUFFIXES, check_latent, read_latent, save_latent
from .mask import check_mask, check_mask_file, read_mask, save_mask
from .session_file import (FORMAT, VERSION, ResumeInfo, SessionFile,
                           SessionRecord, read_session, write_session)

__all__ = [
    'FILE_NAMES', 'VIDEO_FORMATS', 'BundleContent', 'WrittenBundle',
    'check_bundle_dir', 'save_png', 'write_bundle', 'LATENT_SUFFIXES',
    'check_latent', 'read_latent', 'save_latent', 'check_mask',
    'check_mask_file', 'read_mask', 'save_mask', 'FORMAT', 'VERSION',
    'SessionRecord', 'ResumeInfo', 'SessionFile', 'read_session',
    'write_session'
]
