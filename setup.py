"""mmagic-draggan: DragGAN as an MMagic/OpenMMLab plugin.

Dependencies are pinned in requirements/*.txt and installed by
tools/setup_env.sh (mmcv needs a compile step pip cannot express); this file
only makes the package importable (``pip install --no-deps -e .``).
"""
from setuptools import find_packages, setup


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
    zip_safe=False)
