"""The demo's Save and Load: a session bundle out, an upload back in.

Save writes the same bundle as the CLI (:func:`~mmagic_draggan.fileio.bundle.
write_bundle`: ``result.png``, ``session.json``, ``start_latent.pt``, ...).
Load reads the session JSON with :func:`~mmagic_draggan.fileio.session_file.
read_session` (v2 and v1 records, so the demo's older bundles with
``draggan_session.json`` naming ``draggan_start_latent.pt`` load too). In a
browser upload every file lands in its own temporary folder, so the files a
JSON names are found by base name among the uploads only: a JSON never makes
the server read any other file.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

import numpy as np
import torch

from mmagic_draggan.engine.hooks.trajectory_recorder_hook import Frame
from mmagic_draggan.fileio.bundle import (BundleContent, WrittenBundle,
                                          write_bundle)
from mmagic_draggan.fileio.inversion_file import InversionFile, read_inversion
from mmagic_draggan.fileio.latent import read_latent
from mmagic_draggan.fileio.mask import read_mask
from mmagic_draggan.fileio.session_file import SessionFile, read_session
from mmagic_draggan.utils.paths import is_path

__all__ = ['MAX_VIDEO_FRAMES', 'SAVED_ORDER', 'save_edit', 'Upload',
           'read_upload']

#: Most frames written to a trajectory video (evenly picked, last kept).
MAX_VIDEO_FRAMES = 120
#: Order of the saved files in the page (by bundle kind).
SAVED_ORDER = ('result', 'session', 'start', 'start_latent', 'latent',
               'mask', 'inversion', 'curves', 'gif', 'mp4')


def save_edit(folder: str,
              session,
              image: np.ndarray,
              frames: Sequence = (),
              result=None,
              watermark: bool = True,
              scale: int = 1) -> WrittenBundle:
    """Write an edit as a session bundle (the folder is emptied first).

    Args:
        folder (str): The bundle folder.
        session (DragSession): The edit; its record gives config,
            checkpoint, seed, points and hyper-parameters.
        image (np.ndarray): Current image, (H, W, 3) uint8.
        frames (list): ``TrajectoryRecorderHook.frames``.
        result (DragResult, optional): The last finished run.
        watermark (bool): "AI generated" on the result and the videos.
        scale (int): Enlargement of the video frames (the page's).

    Returns:
        WrittenBundle: Paths by kind; a video that could not be written is
        in ``errors``.
    """
    start = session.initial_image()
    record = session.record(result=result)
    frames = list(frames)
    if frames and not np.array_equal(frames[0].image, start):
        # the demo's passive recorder holds only the frames the page showed
        # and the final image (after one step: only that, with step 1):
        # open the trajectory on the start image
        frames.insert(0, Frame(0, start, record['handles'],
                               record['targets']))
    content = BundleContent(
        record=record,
        result_image=image,
        final_latent=session.latent,
        start_image=start,
        start_latent=session.initial_latent,  # a bundle loads without seed
        mask=session.mask,
        frames=frames,
        inversion_file=session.inversion_file)
    return write_bundle(folder, content, videos=('gif', 'mp4'),
                        watermark=watermark, scale=scale,
                        max_video_frames=MAX_VIDEO_FRAMES, clear=True)


@dataclass
class Upload:
    """What :func:`read_upload` found.

    Attributes:
        session (SessionFile): The validated session JSON.
        latent (Tensor | None): Start latent (1, L, C), when uploaded.
        mask (np.ndarray | None): (H, W) bool, when uploaded.
        inversion (InversionFile | None): The photo's inversion the session
            names, when uploaded (required then).
        inversion_path (str | None): The uploaded file it was read from.
        missing (list[str]): Base names of files the JSON names that were
            not uploaded.
    """
    session: SessionFile
    latent: Optional[torch.Tensor] = None
    mask: Optional[np.ndarray] = None
    inversion: Optional[InversionFile] = None
    inversion_path: Optional[str] = None
    missing: List[str] = field(default_factory=list)


def upload_paths(files: Any) -> List[str]:
    """The paths of a ``gr.File`` value (a path, file objects or a list)."""
    if is_path(files):
        files = [files]
    return [str(getattr(f, 'name', f)) for f in (files or []) if f]


def read_upload(paths: Sequence[str]) -> Upload:
    """Read an uploaded session: one JSON plus the files it names.

    Args:
        paths (list[str]): Uploaded files (the JSON, optionally its start
            latent ``.pt`` and mask ``.png``; others are ignored).

    Returns:
        Upload: The session, latent and mask.

    Raises:
        ValueError: No or several JSON files, an invalid JSON, or a latent /
            mask file that cannot be read (see
            :func:`~mmagic_draggan.fileio.latent.read_latent` and
            :func:`~mmagic_draggan.fileio.mask.read_mask`).
    """
    paths = [str(p) for p in (paths or []) if p]
    jsons = [p for p in paths if p.lower().endswith('.json')]
    if len(jsons) != 1:
        raise ValueError(
            'upload exactly one session JSON (session.json), optionally '
            f'with its start_latent.pt and mask.png; got {len(jsons)} JSON '
            'files')
    sf = read_session(jsons[0])
    by_name = {osp.basename(p): p for p in paths}
    out = Upload(sf)

    def find(named: Optional[str]) -> Optional[str]:
        if not named:
            return None
        name = osp.basename(named)
        if name in by_name:  # only uploaded files, whatever the JSON names
            return by_name[name]
        out.missing.append(name)
        return None

    latent_path = find(sf.latent_file)
    if latent_path is not None:
        out.latent = read_latent(latent_path)
    mask_path = find(sf.mask_file)
    if mask_path is not None:
        out.mask = read_mask(mask_path)
    if sf.inversion_file:
        inv_path = find(sf.inversion_file)
        if inv_path is None:
            raise ValueError(
                f'the session drags a photo: upload its '
                f'{osp.basename(sf.inversion_file)} (from tools/invert.py) '
                'together with the JSON')
        out.inversion = read_inversion(inv_path)
        out.inversion_path = inv_path
    return out
