"""mmagic-draggan: DragGAN as an MMagic/OpenMMLab plugin.

Dependencies are pinned in requirements/*.txt and installed by
tools/setup_env.sh (mmcv needs a compile step pip cannot express); this file
makes the package importable (``pip install --no-deps -e .``) and builds it
(``pip wheel --no-deps .``). A built package carries the configs, the shipped
task files and the tools under ``mmagic_draggan/.mim/`` (as MMagic does), so
it runs them from any folder (``mmagic_draggan/utils/paths.py``).
"""
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

#: Folders of the checkout that a built package carries in ``.mim/``.
PACKAGE_DATA_DIRS = ('configs', 'data', 'tools')


class BuildWithData(build_py):
    """build_py that also copies :data:`PACKAGE_DATA_DIRS` into the built
    package's ``.mim/`` (never into the source tree)."""

    def run(self):
        super().run()
        here = os.path.dirname(os.path.abspath(__file__))
        mim = os.path.join(self.build_lib, 'mmagic_draggan', '.mim')
        for name in PACKAGE_DATA_DIRS:
            dst = os.path.join(mim, name)
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            shutil.copytree(
                os.path.join(here, name), dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def version() -> str:
    scope = {}
    with open('mmagic_draggan/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmagic-draggan',
    version=version(),
    description='DragGAN (Drag Your GAN, SIGGRAPH 2023) for MMagic/OpenMMLab',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['mmagic_draggan', 'mmagic_draggan.*']),
    python_requires='>=3.9',
    # Versions that install and import together: requirements/*.txt.
    install_requires=[
        'torch', 'torchvision', 'mmengine>=0.10,<1.0', 'mmcv>=2.0.0,<2.2.0',
        'mmagic==1.2.0'
    ],
    cmdclass={'build_py': BuildWithData},
    zip_safe=False)
