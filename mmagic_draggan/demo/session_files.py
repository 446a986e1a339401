"""Save an edit as files, and read such files back (the demo's Save/Load).

The files follow :mod:`mmagic_draggan.apis.session_io` (the CLI's schema):
``draggan_session.json`` names the other files by base name, relative to its
own folder. In a browser upload every file lands in its own temporary
folder, so :func:`read_bundle` finds them by base name among the uploads
(and reads no other file, whatever the JSON names).
"""
import os
import os.path as osp
import shutil
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from mmagic_draggan.apis.drag_io import (load_latent_file, load_mask_file,
                                         save_latent, save_mask, save_png)
from mmagic_draggan.apis.session_io import (load_session, save_session,
                                            session_record)
from mmagic_draggan.utils.visualization import add_watermark, write_video
from .display import compose

RESULT_PNG = 'draggan_result.png'
SESSION_JSON = 'draggan_session.json'
START_LATENT = 'draggan_start_latent.pt'
FINAL_LATENT = 'draggan_final_latent.pt'
MASK_PNG = 'draggan_mask.png'
TRAJECTORY_GIF = 'draggan_trajectory.gif'
TRAJECTORY_MP4 = 'draggan_trajectory.mp4'

#: Most frames written to a trajectory video (evenly picked, last kept).
MAX_VIDEO_FRAMES = 120


def _pick(n: int, limit: int) -> List[int]:
    if n <= limit:
        return list(range(n))
    idx = np.linspace(0, n - 1, limit).round().astype(int)
    return sorted(set(idx.tolist()))


def write_bundle(folder: str,
                 session,
                 image: np.ndarray,
                 frames: Sequence = (),
                 result=None,
                 config: Optional[str] = None,
                 checkpoint: Optional[str] = None,
                 random_weights: bool = False,
                 watermark: bool = True,
                 video_scale: int = 1) -> Dict[str, str]:
    """Write the result PNG, session JSON, latents, mask and trajectory.

    Args:
        folder (str): Output folder (emptied first).
        session (DragSession): The edit.
        image (np.ndarray): Current image, (H, W, 3) uint8.
        frames (list): ``TrajectoryRecorderHook.frames``.
        result (DragResult, optional): The last finished run.
        config / checkpoint / random_weights: Recorded in the JSON.
        watermark (bool): "AI generated" on the PNG and the videos.
        video_scale (int): Enlargement of the video frames.

    Returns:
        dict: ``{'result', 'session', 'start_latent', 'final_latent',
        'mask', 'gif', 'mp4'}`` -> path, for the files written (``'errors'``
        maps a file that failed to its message).
    """
    if osp.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    out: Dict[str, str] = {}
    errors: Dict[str, str] = {}
    out['result'] = save_png(add_watermark(image) if watermark else image,
                             osp.join(folder, RESULT_PNG))
    out['start_latent'] = save_latent(session.initial_latent,
                                      osp.join(folder, START_LATENT))
    out['final_latent'] = save_latent(session.latent,
                                      osp.join(folder, FINAL_LATENT))
    mask_file = None
    if session.mask is not None:
        out['mask'] = save_mask(session.mask, osp.join(folder, MASK_PNG))
        mask_file = MASK_PNG
    record = session_record(
        session, result, config=config, checkpoint=checkpoint,
        random_weights=random_weights, latent_file=START_LATENT,
        final_latent_file=FINAL_LATENT, mask_file=mask_file)
    out['session'] = save_session(record, osp.join(folder, SESSION_JSON))
    if frames:
        shown = [
            compose(frames[i].image, frames[i].handles, frames[i].targets,
                    watermark=watermark, scale=video_scale)
            for i in _pick(len(frames), MAX_VIDEO_FRAMES)
        ]
        for key, name in (('gif', TRAJECTORY_GIF), ('mp4', TRAJECTORY_MP4)):
            try:
                out[key] = write_video(shown, osp.join(folder, name))
            except Exception as err:  # e.g. no ffmpeg: keep the other files
                errors[key] = f'{type(err).__name__}: {err}'
    if errors:
        out['errors'] = errors  # type: ignore[assignment]
    return out


@dataclass
class Bundle:
    """What :func:`read_bundle` found.

    Attributes:
        record (dict): The validated session JSON.
        latent (Tensor | None): Start latent, when its file was given.
        mask (np.ndarray | None): (H, W) bool, when its file was given.
        notes (list[str]): Files the JSON names that were not uploaded.
    """
    record: dict
    latent: Optional[torch.Tensor] = None
    mask: Optional[np.ndarray] = None
    notes: List[str] = field(default_factory=list)


def read_bundle(paths: Sequence[str]) -> Bundle:
    """Read an uploaded session: one JSON plus the files it names.

    Args:
        paths (list[str]): Uploaded files (the JSON, optionally the start
            latent ``.pt`` and the mask ``.png``; others are ignored).

    Returns:
        Bundle: The record, latent and mask.

    Raises:
        ValueError: No or several JSON files, an invalid JSON, or a latent /
            mask file that cannot be read (see
            :func:`~mmagic_draggan.apis.drag_io.load_latent_file` and
            :func:`~mmagic_draggan.apis.drag_io.load_mask_file`).
    """
    paths = [str(p) for p in (paths or []) if p]
    jsons = [p for p in paths if p.lower().endswith('.json')]
    if len(jsons) != 1:
        raise ValueError(
            'upload exactly one session JSON (draggan_session.json), '
            f'optionally with its {START_LATENT} and {MASK_PNG}; got '
            f'{len(jsons)} JSON files')
    record = load_session(jsons[0])
    by_name = {osp.basename(p): p for p in paths}
    bundle = Bundle(record)

    def find(key: str) -> Optional[str]:
        named = record.get(key)
        if not named:
            return None
        # only uploaded files: a JSON must not make the server read others
        if osp.basename(named) in by_name:
            return by_name[osp.basename(named)]
        bundle.notes.append(osp.basename(named))
        return None

    latent_path = find('latent_file')
    if latent_path is not None:
        bundle.latent = load_latent_file(latent_path)
    mask_path = find('mask_file')
    if mask_path is not None:
        bundle.mask = load_mask_file(mask_path)
    return bundle
