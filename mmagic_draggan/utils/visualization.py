"""Drawing points, writing trajectories and curves (no model logic)."""
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np

#: RGB colours of the overlays
HANDLE_COLOR = (230, 40, 40)
TARGET_COLOR = (40, 90, 230)


def draw_points(image: np.ndarray,
                handles: Sequence[Sequence[float]],
                targets: Sequence[Sequence[float]],
                radius: Optional[int] = None) -> np.ndarray:
    """Draw handles (red), targets (blue) and handle->target arrows.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB; not modified.
        handles (list): [[x, y], ...] pixels. A handle without a target
            (``len(targets) < len(handles)``) is drawn alone.
        targets (list): [[x, y], ...] pixels.
        radius (int, optional): Dot radius; default scales with the image.

    Returns:
        np.ndarray: A new (H, W, 3) uint8 RGB image.
    """
    out = np.ascontiguousarray(image.copy())
    H = out.shape[0]
    r = radius or max(2, round(H / 100))
    thick = max(1, round(H / 256))
    for i, h in enumerate(handles):
        hp = (int(round(h[0])), int(round(h[1])))
        if i < len(targets):
            tp = (int(round(targets[i][0])), int(round(targets[i][1])))
            cv2.arrowedLine(
                out,
                hp,
                tp, (255, 255, 255),
                thick + 1,
                cv2.LINE_AA,
                tipLength=0.2)
            cv2.arrowedLine(
                out, hp, tp, (0, 0, 0), thick, cv2.LINE_AA, tipLength=0.2)
            cv2.circle(out, tp, r, TARGET_COLOR, -1, cv2.LINE_AA)
        cv2.circle(out, hp, r, HANDLE_COLOR, -1, cv2.LINE_AA)
    return out


def overlay_mask(image: np.ndarray,
                 mask: Optional[np.ndarray],
                 alpha: float = 0.35) -> np.ndarray:
    """Tint the pixels *outside* the editable mask (the fixed region) grey.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB.
        mask (np.ndarray | None): (H, W) bool, True = may change.
    """
    if mask is None:
        return image
    out = image.astype(np.float32)
    fixed = ~mask.astype(bool)
    out[fixed] = out[fixed] * (1 - alpha) + 90 * alpha
    return out.round().astype(np.uint8)


#: Widest share of the image a watermark may take.
WATERMARK_WIDTH = 0.3


def add_watermark(image: np.ndarray, text: str = 'AI generated') -> np.ndarray:
    """Write ``text`` in the bottom-right corner (a new image).

    The mark scales with the image (its height is about 2% of the image's
    from 512 px up) and never takes more than :data:`WATERMARK_WIDTH` of the
    width: where the whole text would not fit at a readable size (images
    under about 256 px), only its first word is written ("AI"), small.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB; not modified.
        text (str): The mark. Defaults to ``'AI generated'``.

    Returns:
        np.ndarray: A new (H, W, 3) uint8 RGB image.
    """
    out = np.ascontiguousarray(image.copy())
    H, W = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    thick = max(1, round(H / 400))
    scale = max(0.3, H / 1024)
    room = WATERMARK_WIDTH * W
    if cv2.getTextSize(text, font, scale, thick)[0][0] > room:
        text = text.split()[0] if text.split() else text
        scale = min(max(0.25, H / 256), 0.5)
        width = cv2.getTextSize(text, font, 1., thick)[0][0]
        scale = min(scale, room / max(width, 1))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    margin = max(2, round(min(H, W) / 100))
    org = (W - tw - margin, H - base - margin)
    outline = thick + (2 if scale >= 0.5 else 1)
    cv2.putText(out, text, org, font, scale, (0, 0, 0), outline, cv2.LINE_AA)
    cv2.putText(out, text, org, font, scale, (255, 255, 255), thick,
                cv2.LINE_AA)
    return out


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an (H, W[, C]) array by ``scale``."""
    if scale == 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def to_display_xy(points_xy: Sequence[Sequence[float]],
                  scale: int) -> List[List[float]]:
    """Model (x, y) pixels -> display (x, y) pixels (block centres)."""
    off = (scale - 1) / 2
    return [[p[0] * scale + off, p[1] * scale + off] for p in points_xy]


def compose(image: np.ndarray,
            handles: Sequence[Sequence[float]] = (),
            targets: Sequence[Sequence[float]] = (),
            mask: Optional[np.ndarray] = None,
            show_mask: bool = False,
            watermark: bool = True,
            scale: int = 1) -> np.ndarray:
    """The display image: enlarged, fixed region tinted, points, watermark.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB at model resolution.
        handles (list): [[x, y], ...] model pixels; a handle beyond
            ``len(targets)`` is drawn without a target.
        targets (list): [[x, y], ...] model pixels.
        mask (np.ndarray, optional): (H, W) bool, True = may change.
        show_mask (bool): Tint the region outside ``mask``.
        watermark (bool): Write "AI generated" in the corner.
        scale (int): Display enlargement.

    Returns:
        np.ndarray: (H * scale, W * scale, 3) uint8 RGB.
    """
    out = enlarge(image, scale)
    if show_mask and mask is not None:
        out = overlay_mask(out, enlarge(mask, scale))
    if len(handles):
        out = draw_points(out, to_display_xy(handles, scale),
                          to_display_xy(targets, scale))
    if watermark:
        out = add_watermark(out)
    return out


def trajectory_frames(frames: Sequence,
                      mask: Optional[np.ndarray] = None,
                      overlay: bool = True,
                      watermark: bool = False,
                      scale: int = 1,
                      max_frames: Optional[int] = None) -> List[np.ndarray]:
    """The frames of a trajectory video, the one way every front end draws
    them.

    Args:
        frames (list): Recorded frames with ``image`` ((H, W, 3) uint8),
            ``handles`` and ``targets`` ([[x, y], ...]), e.g. those of a
            ``TrajectoryRecorderHook``.
        mask (np.ndarray, optional): (H, W) bool, True = may change; the
            fixed region is tinted when ``overlay``.
        overlay (bool): Draw points, arrows and the fixed region.
        watermark (bool): Write "AI generated" in the corner.
        scale (int): Integer enlargement (nearest neighbour).
        max_frames (int, optional): Keep at most this many frames, evenly
            picked (the first and last kept).

    Returns:
        list[np.ndarray]: (H * scale, W * scale, 3) uint8 RGB frames.
    """
    idx = list(range(len(frames)))
    if max_frames is not None and len(idx) > max_frames:
        idx = sorted(set(np.linspace(0, len(idx) - 1, max_frames).round()
                         .astype(int).tolist()))
    out = []
    for i in idx:
        f = frames[i]
        if overlay:
            out.append(compose(f.image, f.handles, f.targets, mask=mask,
                               show_mask=mask is not None,
                               watermark=watermark, scale=scale))
        else:
            out.append(compose(f.image, watermark=watermark, scale=scale))
    return out


def write_video(frames: List[np.ndarray], path: str, fps: int = 10) -> str:
    """Write (H, W, 3) uint8 frames as a GIF or MP4 (by the extension).

    GIF uses Pillow; MP4 (H.264) uses imageio-ffmpeg's bundled ffmpeg.

    Returns:
        str: ``path``.
    """
    if not frames:
        raise ValueError('no frames to write')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    ext = osp.splitext(path)[1].lower()
    if ext == '.gif':
        from PIL import Image
        imgs = [Image.fromarray(f) for f in frames]
        imgs[0].save(
            path,
            save_all=True,
            append_images=imgs[1:],
            duration=int(1000 / fps),
            loop=0)
    elif ext == '.mp4':
        import imageio.v2 as imageio
        # H.264 wants even sides; macro_block_size=1 keeps the size as is
        with imageio.get_writer(
                path,
                fps=fps,
                codec='libx264',
                macro_block_size=1,
                quality=8,
                pixelformat='yuv420p') as w:
            for f in frames:
                h, w_ = f.shape[:2]
                w.append_data(f[:h - h % 2, :w_ - w_ % 2])
    else:
        raise ValueError(f'unknown video format {ext!r}: use .gif or .mp4')
    return path


def plot_curves(steps: Sequence[int], distances: Sequence[float],
                losses: Sequence[Optional[float]], path: str) -> str:
    """Plot mean handle-target distance and loss per step to a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax1 = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax1.plot(steps, distances, color='tab:red', label='mean distance (px)')
    ax1.set_xlabel('step')
    ax1.set_ylabel('mean handle-target distance (px)', color='tab:red')
    ax2 = ax1.twinx()
    pts = [(s, v) for s, v in zip(steps, losses) if v is not None]
    if pts:
        ax2.plot(*zip(*pts), color='tab:blue', label='loss')
    ax2.set_ylabel('loss', color='tab:blue')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
