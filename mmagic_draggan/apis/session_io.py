"""The session JSON shared by the CLI, the demo and batch runs.

Schema (``format: mmagic-draggan/session``, ``version: 1``); points are
``[[x, y], ...]`` image pixels::

    {
      "format": "mmagic-draggan/session", "version": 1,
      "config": "configs/draggan/....py", "checkpoint": "path" | null,
      "random_weights": false,
      "seed": 42 | null, "latent_file": "latent.pt" | null,  # start latent
      "final_latent_file": "latent.pt" | null,               # end latent
      "mask_file": "mask.png" | null,
      "handles": [[x, y], ...],        # initial handles
      "targets": [[x, y], ...],
      "final_handles": [[x, y], ...],
      "steps": 57, "converged": true, "stop_reason": "converged",
      "mean_distance": 1.4, "initial_mean_distance": 40.2, "seconds": 12.3,
      "hyper_parameters": {"lr": ..., "latent_space": ..., ...},
      "history": [{"step": 1, "mean_distance": ..., "loss": ...}, ...]
    }

File names inside are relative to the JSON file's folder.
"""
import json
import math
import os.path as osp
from typing import Any, Dict, Optional

import numpy as np

FORMAT = 'mmagic-draggan/session'
VERSION = 1


def session_hyper_parameters(session) -> Dict[str, Any]:
    """Every hyper-parameter a session used (auto values resolved)."""
    model = session.model
    H = model.image_size
    return dict(
        **{k: session.options[k] for k in ('latent_space', 'num_opt_latents',
                                           'lr', 'max_steps', 'mode')},
        stop_distance=session.stop_distance,
        r1=session.motion_loss.radius(H),
        lambda_mask=session.motion_loss.lambda_mask,
        r2=session.tracker.radius(H),
        metric=session.tracker.metric,
        truncation=session.truncation,
        feat_idx=model.feat_idx,
        image_size=H)


def session_record(session,
                   result=None,
                   config: Optional[str] = None,
                   checkpoint: Optional[str] = None,
                   random_weights: bool = False,
                   latent_file: Optional[str] = None,
                   final_latent_file: Optional[str] = None,
                   mask_file: Optional[str] = None,
                   initial_handles=None,
                   seconds: Optional[float] = None) -> Dict[str, Any]:
    """Build the JSON record of a session (and its last run result)."""
    history = [
        dict(step=h.step, mean_distance=h.mean_distance, loss=h.loss)
        for h in session.history
    ]
    handles0 = initial_handles if initial_handles is not None else \
        session.initial_handles
    d0 = [math.dist(h, t) for h, t in zip(handles0, session.targets)]
    return dict(
        format=FORMAT,
        version=VERSION,
        config=config,
        checkpoint=checkpoint,
        random_weights=bool(random_weights),
        seed=session.seed,
        latent_file=latent_file,
        final_latent_file=final_latent_file,
        mask_file=mask_file,
        handles=[list(map(float, p)) for p in handles0],
        targets=session.targets,
        final_handles=session.handles,
        steps=session.steps_taken,
        converged=bool(result.converged) if result is not None else False,
        stop_reason=result.stop_reason if result is not None else None,
        mean_distance=float(np.mean(
            [math.dist(h, t) for h, t in zip(session.handles,
                                              session.targets)]))
        if session.targets else 0.,
        initial_mean_distance=float(np.mean(d0)) if d0 else 0.,
        seconds=seconds if seconds is not None else (
            result.seconds if result is not None else None),
        hyper_parameters=session_hyper_parameters(session),
        history=history)


def save_session(record: Dict[str, Any], path: str) -> str:
    """Write a session record as indented JSON."""
    with open(path, 'w') as f:
        json.dump(record, f, indent=2)
    return path


def load_session(path: str) -> Dict[str, Any]:
    """Read a session JSON or a plain points file and validate it.

    A points file needs only ``handles`` and ``targets`` (``[[x, y], ...]``);
    ``seed``, ``latent_file``, ``mask_file`` and ``hyper_parameters`` are
    optional. Relative file names are made absolute (against the JSON's
    folder).

    Raises:
        ValueError: Unreadable JSON or missing/ill-formed fields, naming them.
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ValueError(f'points/session file {path!r} does not exist')
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f'{path!r} is not valid JSON: {e}') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path!r} must hold a JSON object with "handles" '
                         'and "targets"')
    for key in ('handles', 'targets'):
        if key not in data:
            raise ValueError(f'{path!r} has no "{key}" list ([[x, y], ...])')
        pts = data[key]
        if not isinstance(pts, list) or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 for p in pts):
            raise ValueError(f'"{key}" in {path!r} must be [[x, y], ...]; '
                             f'got {pts!r}')
    if len(data['handles']) != len(data['targets']):
        raise ValueError(
            f'{path!r} has {len(data["handles"])} handles but '
            f'{len(data["targets"])} targets: every handle needs a target')
    folder = osp.dirname(osp.abspath(path))
    for key in ('latent_file', 'final_latent_file', 'mask_file'):
        if data.get(key):
            data[key] = osp.join(folder, data[key])
    return data
