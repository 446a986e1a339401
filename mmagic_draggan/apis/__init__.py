from .inference import init_model, load_config, resolve_device

__all__ = ['init_model', 'load_config', 'resolve_device']
