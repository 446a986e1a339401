"""The files panel: Save the edit as a session bundle, Load one back."""
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple

from mmagic_draggan.checkpoints.record_names import config_from_record
from .guards import handler, reply_refresh, reply_saved
from .messages import EXPECTED_ERRORS, code, error_text, plain
from .session_files import SAVED_ORDER, read_upload, save_edit, upload_paths
from .state import DemoState
from .views import Refresh, View

__all__ = ['FilesPanel', 'known_config']


def known_config(name: Optional[str], source: str,
                 allowed: Sequence[Optional[str]] = ()) -> Optional[str]:
    """The config a loaded session names, as a config this server trusts:
    a shipped config, or one of ``allowed`` (the running model's and the
    one the demo was started with). Nothing named in the file is opened:
    reading a Python config runs it.

    Args:
        name (str | None): The session's ``config`` field.
        source (str): The uploaded file's base name, for the message.
        allowed (list[str]): Config files of this server.

    Returns:
        str | None: The config path; None when the session names none.

    Raises:
        UntrustedNameError: Neither shipped nor allowed.
    """
    if not name:
        return None
    return config_from_record(name, source, [a for a in allowed if a])


class FilesPanel:
    """Save/Load handlers of :class:`~.handlers.DemoHandlers`."""

    @handler(reply_saved)
    def save(self, state: DemoState) -> Tuple[View, List[str]]:
        """Write the session bundle (result and start PNG, session JSON,
        latents, mask, curves, trajectory GIF/MP4) into
        ``<state.out_dir>/saved``; returns the view and the file paths."""
        with state.lock:
            frames = list(state.recorder.frames) if state.recorder else []
            written = save_edit(
                osp.join(state.out_dir, 'saved'), state.session, state.image,
                frames, result=state.last_result, watermark=state.watermark,
                scale=state.scale)
        # the bundle holds the photo's inversion.pth too: Load needs it
        paths = [written.paths[k] for k in SAVED_ORDER if k in written.paths]
        msg = f'Saved {len(paths)} files (download them below).'
        if not frames:
            msg += ' No trajectory yet: run a drag to get the GIF/MP4.'
        for kind, err in written.errors.items():
            msg += (f' The {kind.upper()} could not be written: '
                    f'{plain(err)}.')
        return self.view(state, msg), paths

    @handler(reply_refresh, needs_session=False)
    def load(self, state: DemoState, files: Any) -> Refresh:
        """Restore a saved session: model, start latent (or seed), points,
        mask and drag options, from an upload of its JSON (plus its start
        latent ``.pt`` and mask ``.png``, found by base name)."""
        paths = upload_paths(files)
        if not paths:
            return self.refresh(state, 'Upload a session JSON first.',
                                settings=False, editor=False)
        try:
            up = read_upload(paths)
            sf = up.session
            config = known_config(
                sf.config, osp.basename(sf.path),
                (state.config, self.default_config)) or state.config
            if config is None:
                raise ValueError('the session names no config')
            if up.latent is None and sf.seed is None and \
                    up.inversion is None:
                missing = ', '.join(up.missing) or 'the start latent'
                raise ValueError(
                    f'the session has no seed, so its start latent is '
                    f'needed: upload {missing} together with the JSON')
            if up.inversion is not None:  # a tuned copy: within the cap
                full = self.tabs.reserve_tuned(state)
                if full is not None:
                    return self.refresh(state, full, settings=False,
                                        editor=False)
            built = self._build(
                config, sf.random_weights,
                seed=None if up.latent is not None else sf.seed,
                truncation=sf.truncation, latent=up.latent,
                inversion=up.inversion,
                inversion_file=up.inversion_path,  # the upload, for Save
                **sf.options)
            session = built[2]
            session.set_points(sf.handles, sf.targets)
            if up.mask is not None:
                session.set_mask(up.mask)
            if up.latent is not None:  # keep what it was made from
                if sf.seed is not None:
                    session.seed = sf.seed
                if sf.truncation is not None:
                    session.truncation = sf.truncation
        except EXPECTED_ERRORS as err:  # anything else is a bug (guard)
            return self.refresh(
                state, f'Cannot load the session: {error_text(err)}',
                settings=False, editor=False)
        finally:  # built (or not): the session itself counts from now on
            state.tuning = False
        with state.lock:
            try:
                state.attach(config, *built)
            except RuntimeError as err:  # a drag started meanwhile
                return self.refresh(state, str(err), settings=False,
                                    editor=False)
            state.show_mask = up.mask is not None
        msg = (f'Loaded the session: {len(sf.handles)} point(s) on '
               f'{code(config)}. Press **Start** to drag.')
        seeded = osp.basename(sf.latent_file or '') if sf.seed is not None \
            else None  # the seed stands in for the start latent
        notes = [n for n in up.missing if n != seeded]
        if notes:
            msg += f' Not uploaded (skipped): {plain(", ".join(notes))}.'
        return self.refresh(state, msg)
