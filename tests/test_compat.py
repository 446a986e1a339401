"""The diffusers import aliases: needed today, and flagged once they are not."""
import subprocess
import sys

import pytest

from mmagic_draggan.compat import DIFFUSERS_ALIASES


@pytest.mark.e2e
@pytest.mark.parametrize('old', sorted(DIFFUSERS_ALIASES))
def test_alias_still_needed(old):
    """Fails when diffusers imports the old path by itself again: then
    delete that alias from mmagic_draggan/compat.py (and this module once
    it is empty)."""
    proc = subprocess.run([sys.executable, '-c', f'import {old}'],
                          capture_output=True, text=True)
    assert proc.returncode != 0, (
        f'{old} imports without our alias now: remove it from '
        'mmagic_draggan/compat.py')
    assert 'ModuleNotFoundError' in proc.stderr or 'ImportError' in \
        proc.stderr


@pytest.mark.e2e
def test_mmagic_models_import_with_aliases():
    proc = subprocess.run(
        [sys.executable, '-c',
         'import mmagic_draggan, mmagic.models, sys; '
         f'print(all(k in sys.modules for k in {sorted(DIFFUSERS_ALIASES)}))'],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith('True')


@pytest.mark.e2e
def test_mmagic_fails_without_aliases():
    """Without the aliases mmagic's models do not import (why they exist)."""
    proc = subprocess.run([sys.executable, '-c', 'import mmagic.models'],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert any(old.rsplit('.', 1)[1] in proc.stderr
               for old in DIFFUSERS_ALIASES), proc.stderr[-2000:]
