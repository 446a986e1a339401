"""Registries used by mmagic-draggan.

Every component is registered in MMagic's own registries (scope ``mmagic``), so
configs and ``MODELS.build`` from any OpenMMLab pipeline find them:

* ``MODELS``: the ``DragGAN`` editor, the motion-supervision losses and the
  point trackers.
* ``HOOKS``: Runner hooks (subclasses of :class:`mmengine.hooks.Hook`) and drag
  hooks (subclasses of :class:`mmagic_draggan.engine.hooks.DragHook`, called by
  a :class:`~mmagic_draggan.models.DragSession` once per step).
* ``DATASETS`` / ``METRICS``: the drag-task dataset and its metrics.
"""
from mmagic.registry import DATASETS, HOOKS, METRICS, MODELS

__all__ = ['MODELS', 'HOOKS', 'DATASETS', 'METRICS']
