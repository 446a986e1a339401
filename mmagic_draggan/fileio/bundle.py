"""The session bundle: the one writer of a drag's files, used by the CLI,
the demo's Save and the Runner's visualization hook alike.

A bundle is a folder with fixed names (:data:`FILE_NAMES`); the session JSON
(:mod:`~mmagic_draggan.fileio.session_file`, written last) names the others
relative to the folder::

    start.png          the image before the drag
    result.png         the image after it
    latent.pt          the final W+ latent (1, L, C)
    start_latent.pt    the start latent, when the drag began from one
    mask.png           the mask (white = may change), when one was used
    inversion.pth      the photo's inversion (pivot and tuned weights), when
                       the drag edits a photo: a bundle is complete alone
    curves.png         mean distance and loss per step
    trajectory.gif     frames with points drawn (and/or trajectory.mp4)
    session.json       the record
"""
import os
import os.path as osp
import shutil
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from torch import Tensor

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.utils.visualization import (add_watermark, plot_curves,
                                                trajectory_frames,
                                                write_video)
from .latent import save_latent
from .mask import save_mask
from .session_file import SessionRecord, write_session

__all__ = ['FILE_NAMES', 'VIDEO_FORMATS', 'BundleContent', 'WrittenBundle',
           'write_bundle', 'save_png', 'check_bundle_dir']

#: File names inside a bundle, by kind.
FILE_NAMES = dict(
    start='start.png',
    result='result.png',
    latent='latent.pt',
    start_latent='start_latent.pt',
    mask='mask.png',
    inversion='inversion.pth',
    curves='curves.png',
    gif='trajectory.gif',
    mp4='trajectory.mp4',
    session='session.json')
#: Trajectory video formats (the one list; ``apis.drag`` adds its 'none').
VIDEO_FORMATS = ('gif', 'mp4')


def save_png(image: np.ndarray, path: str) -> str:
    """Write an (H, W, 3) uint8 RGB (or (H, W) grey) image as PNG."""
    from PIL import Image
    Image.fromarray(np.ascontiguousarray(image)).save(str(path))
    return str(path)


def check_bundle_dir(folder: Optional[str],
                     overwrite: bool,
                     marker: str = FILE_NAMES['session'],
                     what: str = 'a session.json',
                     flags: str = '--out-dir / --name') -> None:
    """Refuse an output folder that is a file, or that already holds the
    ``marker`` file of a finished run (a session bundle by default; an
    inversion's ``inversion.pth`` for ``tools/invert.py``), unless
    ``overwrite``.

    Raises:
        ValueError: Naming the folder and the fix.
    """
    if folder is None:
        return
    folder = str(folder)
    if osp.exists(folder) and not osp.isdir(folder):
        raise InvalidInputError(
            f'output folder {folder!r} exists and is not a '
            'folder')
    if not overwrite and osp.exists(osp.join(folder, marker)):
        raise InvalidInputError(
            f'{folder!r} already holds {what}; choose another output '
            f'folder ({flags}) or overwrite it (--overwrite, '
            'overwrite=True)')


@dataclass
class BundleContent:
    """What goes into a bundle.

    Attributes:
        record (SessionRecord): The session record
            (``DragSession.record()``; a dict of its fields is taken too);
            its file fields are filled in by :func:`write_bundle`.
        result_image (np.ndarray): (H, W, 3) uint8 RGB after the drag.
        final_latent (Tensor): (1, L, C) W+ after the drag.
        start_image (np.ndarray, optional): (H, W, 3) uint8 before it.
        start_latent (Tensor, optional): (1, L, C), when the drag began
            from a latent rather than a seed.
        mask (np.ndarray, optional): (H, W) bool, True = may change.
        frames (list): Recorded trajectory frames (``image``, ``handles``,
            ``targets``).
        inversion_file (str, optional): The inversion the drag edits (a
            photo); linked or copied into the bundle as ``inversion.pth``.
    """
    record: Union[SessionRecord, Mapping[str, Any]]
    result_image: np.ndarray
    final_latent: Tensor
    start_image: Optional[np.ndarray] = None
    start_latent: Optional[Tensor] = None
    mask: Optional[np.ndarray] = None
    frames: Sequence = ()
    inversion_file: Optional[str] = None


@dataclass
class WrittenBundle:
    """What :func:`write_bundle` wrote.

    Attributes:
        folder (str): The bundle folder.
        record (SessionRecord): The record as written.
        paths (dict[str, str]): Written files by kind (:data:`FILE_NAMES`).
        errors (dict[str, str]): Videos that could not be written, by kind.
        frames (list[np.ndarray]): The trajectory frames as drawn for the
            videos, (H, W, 3) uint8 each (before the held last frame);
            empty when no video was asked for.
    """
    folder: str
    record: SessionRecord
    paths: Dict[str, str] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
    frames: List[np.ndarray] = field(default_factory=list)


def _link_or_copy(src: str, dst: str) -> None:
    """Put ``src`` at ``dst``: a hard link where the file system allows it
    (an inversion can be 100 MB), else a copy."""
    if osp.abspath(src) == osp.abspath(dst):
        return
    if osp.lexists(dst):
        os.remove(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_bundle(folder: str,
                 content: BundleContent,
                 videos: Sequence[str] = ('gif', ),
                 fps: int = 10,
                 overlay: bool = True,
                 watermark: bool = False,
                 scale: int = 1,
                 max_video_frames: Optional[int] = None,
                 curves: bool = True,
                 clear: bool = False) -> WrittenBundle:
    """Write a bundle; the session JSON last, naming what was written.

    Args:
        folder (str): The bundle folder (created).
        content (BundleContent): Images, latents, mask, frames, record.
        videos (list[str]): Trajectory formats (``'gif'``, ``'mp4'``); none
            are written without frames.
        fps (int): Video frame rate; the last frame is held half a second.
        overlay (bool): Draw points and the fixed region on the frames.
        watermark (bool): "AI generated" on ``result.png`` and the frames.
        scale (int): Enlargement of the video frames.
        max_video_frames (int, optional): Evenly pick at most this many.
        curves (bool): Write ``curves.png`` (needs a history).
        clear (bool): Empty the folder first.

    Returns:
        WrittenBundle: The record and the written paths. A video that fails
        (e.g. no ffmpeg) is reported in ``errors``; the other files are
        still written.
    """
    bad = [v for v in videos if v not in VIDEO_FORMATS]
    if bad:
        raise InvalidInputError(f'unknown video format(s) {bad}; use '
                                f'{list(VIDEO_FORMATS)}')
    folder = str(folder)
    inversion = content.inversion_file
    keep = None
    if clear and osp.isdir(folder):
        if inversion is not None and osp.abspath(inversion).startswith(
                osp.abspath(folder) + os.sep):
            # the inversion lives in the folder being emptied: keep it
            keep = osp.abspath(folder) + '.inversion.tmp'
            _link_or_copy(inversion, keep)
            inversion = keep
        shutil.rmtree(folder)
    os.makedirs(folder, exist_ok=True)
    record = content.record
    if not isinstance(record, SessionRecord):
        record = SessionRecord.from_dict(dict(record))
    out = WrittenBundle(folder, record)
    names: Dict[str, str] = {}

    def path(kind: str) -> str:
        names[kind] = FILE_NAMES[kind]
        out.paths[kind] = osp.join(folder, FILE_NAMES[kind])
        return out.paths[kind]

    result = content.result_image
    save_png(add_watermark(result) if watermark else result, path('result'))
    if content.start_image is not None:
        save_png(content.start_image, path('start'))
    save_latent(content.final_latent, path('latent'))
    if content.start_latent is not None:
        save_latent(content.start_latent, path('start_latent'))
    if content.mask is not None:
        save_mask(content.mask, path('mask'))
    if inversion is not None:
        _link_or_copy(inversion, path('inversion'))
        if keep is not None:
            os.remove(keep)
    hist = record.history or []
    if curves and hist:
        plot_curves([h['step'] for h in hist],
                    [h['mean_distance'] for h in hist],
                    [h['loss'] for h in hist], path('curves'))
    if content.frames and videos:
        out.frames = trajectory_frames(content.frames, content.mask,
                                       overlay, watermark, scale,
                                       max_video_frames)
        # the last frame held half a second
        shown = out.frames + [out.frames[-1]] * max(1, fps // 2)
        for kind in videos:
            try:
                write_video(shown, path(kind), fps=fps)
            except Exception as err:  # e.g. no ffmpeg: keep the rest
                out.errors[kind] = f'{type(err).__name__}: {err}'
                names.pop(kind)
                out.paths.pop(kind)
    names['session'] = FILE_NAMES['session']
    out.record = replace(
        record,
        latent_file=names.get('start_latent'),
        final_latent_file=names['latent'],
        mask_file=names.get('mask'),
        inversion_file=names.get('inversion', record.inversion_file),
        files=names)
    out.paths['session'] = write_session(
        out.record, osp.join(folder, FILE_NAMES['session']))
    return out
