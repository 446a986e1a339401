"""Front-end APIs (above models, datasets and engine): build a model once
(``init_model``, ``DragGANInferencer``), then drag or invert with it, and
run batches."""
from .batch import run_batch, run_tasks
from .drag import DragOutput, drag, resume_drag
from .inference import init_model, load_config, resolve_device
from .inferencer import DragGANInferencer
from .invert import InvertOutput, invert
from .session_args import (drag_kwargs_from_file, merge_drag_kwargs,
                           merge_model_kwargs, model_kwargs_from_file,
                           resume_kwargs)

__all__ = [
    'init_model', 'load_config', 'resolve_device', 'drag', 'resume_drag',
    'DragOutput', 'run_batch', 'run_tasks', 'invert', 'InvertOutput',
    'DragGANInferencer', 'model_kwargs_from_file', 'merge_model_kwargs',
    'drag_kwargs_from_file', 'merge_drag_kwargs', 'resume_kwargs'
]
