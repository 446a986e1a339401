"""Shared fixtures: the tiny 64x64 config with deterministic random weights.

The tree mirrors the package (``test_models/`` for ``mmagic_draggan/models``
...); helpers shared by several folders live beside this file
(``ckpt_helpers.py``), which pytest puts on ``sys.path``. Tiers: the whole
suite (what CI runs), or ``-m "not e2e"`` for the quick tier.
"""
import os.path as osp

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(ROOT, 'configs', 'draggan',
                       'draggan_stylegan2_tiny-64x64.py')


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'e2e: end to end through other processes (the demo '
        'server and Chromium, the tools run as scripts, torchrun, MMagic\'s '
        'tools, a built wheel); the quick tier is -m "not e2e"')


@pytest.fixture(scope='session')
def tiny_config() -> str:
    return TINY_CONFIG


@pytest.fixture(scope='session')
def tiny_model():
    """A DragGAN on the tiny config; seeded random weights. Shared: tests
    must not modify it (sessions hold their own state)."""
    from mmagic_draggan.apis import init_model
    return init_model(TINY_CONFIG, random_weights=True, device='cpu')
