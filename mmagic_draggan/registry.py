"""Registries used by mmagic-draggan.

Runner components are registered in MMagic's own registries (scope
``mmagic``), so configs and ``MODELS.build`` from any OpenMMLab pipeline find
them:

* ``MODELS``: the ``DragGAN`` editor, the motion-supervision losses and the
  point trackers.
* ``HOOKS``: Runner hooks (subclasses of :class:`mmengine.hooks.Hook`), e.g.
  ``DragVisualizationHook``.
* ``DATASETS`` / ``METRICS``: the drag-task dataset and its metrics.

Per-step drag hooks (subclasses of
:class:`mmagic_draggan.engine.hooks.DragHook`, called by a
:class:`~mmagic_draggan.models.DragSession` once per step) have a registry of
their own, ``DRAG_HOOKS``, so they never mix with the Runner's hooks; the
model's ``drag_hooks=[dict(type=...)]`` config builds from it.
"""
from mmagic.registry import DATASETS, HOOKS, METRICS, MODELS
from mmengine.registry import Registry

DRAG_HOOKS = Registry(
    'drag hook', scope='mmagic_draggan',
    locations=['mmagic_draggan.engine.hooks'])

__all__ = ['MODELS', 'HOOKS', 'DATASETS', 'METRICS', 'DRAG_HOOKS']
