"""Front-end APIs (above models, datasets and engine): build a model, drag
headlessly, run batches."""
from .batch import run_batch, run_tasks
from .drag import DragOutput, drag, resume_drag
from .inference import init_model, load_config, resolve_device
from .inferencer import DragGANInferencer
from .invert import InvertOutput, invert

__all__ = [
    'init_model', 'load_config', 'resolve_device', 'drag', 'resume_drag',
    'DragOutput', 'run_batch', 'run_tasks', 'invert', 'InvertOutput',
    'DragGANInferencer'
]
