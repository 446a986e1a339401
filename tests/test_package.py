"""The package imports, registers into MMagic's registries, and builds."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config


def test_import_registers_components():
    import mmagic_draggan  # noqa: F401
    from mmagic.registry import HOOKS, MODELS
    for name in ('DragGAN', 'MotionSupervisionLoss',
                 'NearestNeighbourTracker'):
        assert MODELS.get(name) is not None, name
        assert MODELS.scope == 'mmagic'
    assert HOOKS.get('DragVisualizationHook') is not None
    from mmagic_draggan.registry import DRAG_HOOKS
    for name in ('EarlyStopHook', 'TrajectoryRecorderHook'):
        assert DRAG_HOOKS.get(name) is not None, name
        assert HOOKS.get(name) is None, name  # not beside MMEngine's hooks


def test_custom_imports_config_builds(tmp_path, tiny_config):
    """A config that only names the package via custom_imports builds our
    components through MODELS.build (the OpenMMLab plugin path)."""
    from mmengine.utils import import_modules_from_strings
    cfg = Config.fromfile(tiny_config)
    assert cfg.custom_imports == dict(
        imports=['mmagic_draggan'], allow_failed_imports=False)
    import_modules_from_strings(**cfg.custom_imports)
    from mmagic.registry import MODELS
    loss = MODELS.build(dict(type='MotionSupervisionLoss', r1=2))
    assert loss.r1 == 2
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'DragGAN'
    assert model.image_size == 64


def test_generator_from_config_forward_backward(tiny_config):
    """The StyleGANv2Generator of our tiny config runs forward and backward
    on CPU through mmcv's ops."""
    import mmagic_draggan  # noqa: F401
    from mmagic.registry import MODELS
    cfg = Config.fromfile(tiny_config)
    torch.manual_seed(0)
    gen = MODELS.build(cfg.model.generator)
    assert type(gen).__name__ == 'StyleGAN2Generator'
    z = torch.randn(2, gen.noise_size)
    img = gen(z, randomize_noise=False)
    assert img.shape == (2, 3, 64, 64)
    assert torch.isfinite(img).all()
    img.square().mean().backward()
    grads = [p.grad for p in gen.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_mmcv_ops_are_compiled():
    """mmcv carries its real compiled extension (no stand-in module)."""
    import mmcv
    from mmcv.ops import nms
    ext = __import__('mmcv._ext', fromlist=['_ext'])
    assert osp.splitext(ext.__file__)[1] == '.so', ext.__file__
    assert mmcv.__version__ == '2.1.0'
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_mmagic_registry_locations_import():
    """Every MMagic registry location imports (DATASETS/METRICS lookups
    import mmagic.datasets / mmagic.evaluation), and MMagic's own metrics
    resolve beside ours."""
    import mmagic_draggan  # noqa: F401
    import mmagic.datasets  # noqa: F401
    import mmagic.evaluation  # noqa: F401
    from mmagic.registry import METRICS
    assert METRICS.get('PSNR') is not None
    assert METRICS.get('DragDistance') is not None


@pytest.mark.e2e
def test_built_package_runs_its_tools_from_another_folder(tmp_path):
    """A built wheel carries the configs, task files and tools
    (``mmagic_draggan/.mim``): installed into a folder of its own and run
    from an unrelated working directory, the drag tool finds the tiny
    config by name and writes a bundle that names it as shipped."""
    import json
    import subprocess
    import sys
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    wheel_dir, site, work = (tmp_path / 'whl', tmp_path / 'site',
                             tmp_path / 'elsewhere')
    work.mkdir()
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '-q']
    subprocess.run(pip + ['wheel', '--no-deps', '--no-build-isolation',
                          '-w', str(wheel_dir), root], check=True,
                   cwd=str(tmp_path))
    wheel, = wheel_dir.glob('mmagic_draggan-*.whl')
    subprocess.run(pip + ['install', '--no-deps', '--target', str(site),
                          str(wheel)], check=True)
    mim = site / 'mmagic_draggan' / '.mim'
    for sub in ('configs/draggan', 'configs/_base_/inversion',
                'data/drag_tasks', 'tools'):
        assert (mim / sub).is_dir(), sub
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run(
        [sys.executable, str(mim / 'tools' / 'drag.py'),
         'draggan_stylegan2_tiny-64x64', '--random-weights', '--device',
         'cpu', '--drag', '24,32,36,32', '--max-steps', '1', '--video',
         'none', '--no-progress', '--out-dir', 'out'],
        cwd=str(work), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads((work / 'out' / 'session.json').read_text())
    assert rec['config'] == 'configs/draggan/draggan_stylegan2_tiny-64x64.py'
    probe = subprocess.run(
        [sys.executable, '-c', 'import mmagic_draggan.utils.paths as p; '
         'print(p.repo_root(), p.checkout_root())'], cwd=str(work), env=env,
        capture_output=True, text=True, check=True)
    assert probe.stdout.split() == [str(mim), 'None']
