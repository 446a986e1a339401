"""Build a ready ``DragGAN`` from a config: the entry every front end uses."""
import inspect
import os.path as osp
from typing import Any, Optional, Union

import torch
from mmengine.config import Config

from mmagic_draggan.errors import ConfigNotFoundError, InvalidInputError
from mmagic_draggan.registry import MODELS
from mmagic_draggan.utils.paths import is_path


def load_config(config: Union[str, Config, dict],
                cfg_options: Optional[dict] = None) -> Config:
    """Read a config (path, :class:`Config` or dict) and apply overrides.

    A path that does not exist may name a shipped config
    (``draggan_stylegan2_lions-512x512`` or ``configs/draggan/...py``), so
    an installed package runs its own configs from any folder.

    Raises:
        ConfigNotFoundError: Neither a file nor a shipped config's name.
    """
    if is_path(config):
        path = str(config)
        if not osp.isfile(path):
            from mmagic_draggan.checkpoints.record_names import shipped_config
            path = shipped_config(path) or path
        if not osp.isfile(path):
            from mmagic_draggan.utils.paths import config_dir
            raise ConfigNotFoundError(
                f'config {path!r} not found; the shipped configs are in '
                f'{config_dir()}')
        cfg = Config.fromfile(path)
    elif isinstance(config, Config):
        cfg = config.copy()
    elif isinstance(config, dict):
        cfg = Config(config)
    else:
        raise TypeError(f'config must be a path, Config or dict; got '
                        f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def check_model_keys(model_cfg: dict) -> None:
    """Refuse unknown keys in ``cfg.model`` of a ``DragGAN`` config.

    Raises:
        ValueError: Naming the unknown keys and listing the valid ones.
    """
    from mmagic_draggan.models import DragGAN
    if model_cfg.get('type') not in ('DragGAN', DragGAN):
        return
    params = inspect.signature(DragGAN.__init__).parameters
    allowed = [p for p in params if p != 'self']
    unknown = sorted(set(model_cfg) - set(allowed) - {'type'})
    if unknown:
        raise InvalidInputError(f'unknown key(s) {unknown} in model config; '
                                f'DragGAN accepts: {allowed}')


def pretrained_init(model_cfg: dict) -> Optional[str]:
    """The checkpoint of a ``init_cfg=dict(type='Pretrained', checkpoint=...)``
    in a model config, or None."""
    init_cfg = model_cfg.get('init_cfg')
    for item in init_cfg if isinstance(init_cfg, list) else [init_cfg]:
        if isinstance(item, dict) and item.get('type') == 'Pretrained':
            return item.get('checkpoint')
    return None


def resolve_device(device: Optional[str] = None) -> torch.device:
    """``None`` -> CUDA when available, else CPU; checks that CUDA exists."""
    if device is None:
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidInputError(f"unknown device {device!r}: use 'cpu', "
                                "'cuda' or 'cuda:N'") from None
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise InvalidInputError(
            f'device {device!r} asked for, but this torch sees '
            'no CUDA GPU; use --device cpu')
    return dev


def draggan_of(model: Any, call: str = 'drag()'):
    """The ``DragGAN`` a call runs on: a built model, or a
    :class:`~.inferencer.DragGANInferencer`'s.

    Raises:
        InvalidInputError: Anything else (a config: build it first).
    """
    if hasattr(model, 'new_session'):
        return model
    if hasattr(getattr(model, 'model', None), 'new_session'):
        return model.model
    raise InvalidInputError(
        f'{call} runs a built DragGAN; got {type(model).__name__} '
        f'{model!r:.80}. Build the model first: model = init_model(CONFIG, '
        'checkpoint=..., random_weights=..., device=...) (or use a '
        'DragGANInferencer)')


def init_model(config: Union[str, Config, dict],
               checkpoint: Optional[str] = None,
               device: Optional[str] = None,
               random_weights: bool = False,
               cfg_options: Optional[dict] = None,
               seed: int = 0):
    """Build a ``DragGAN`` from a config and load its generator weights.

    Args:
        config (str | Config | dict | NamedInFile): Config file (e.g.
            ``configs/draggan/draggan_stylegan2_lions-512x512.py``), or a
            config a session file names (used only when it is a shipped
            one, see :mod:`mmagic_draggan.checkpoints.record_names`).
        checkpoint (str | NamedInFile, optional): Checkpoint path, zoo
            name (a session file's name: only a released checkpoint's) or
            ``'none'``/``'random'``; None uses the config's checkpoint (see
            :func:`~mmagic_draggan.checkpoints.resolver.resolve_weights`). A model
            config with ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``
            and no ``checkpoint`` argument loads PATH through MMEngine's
            ``init_weights()`` (the same strict loading).
        device (str, optional): ``'cpu'``, ``'cuda'``, ``'cuda:1'``; None
            picks CUDA when available.
        random_weights (bool): Skip loading: deterministic random weights
            (seeded by ``seed``, global RNG untouched). For tests and
            benchmarks.
        cfg_options (dict, optional): Config overrides
            (``{'model.lr': 2e-3}``).
        seed (int): Seed of the random weights. Defaults to 0.

    Returns:
        DragGAN: The model in eval mode on ``device``; ``model.cfg`` holds the
        config, ``model.cfg_options`` the overrides and
        ``model.checkpoint_info`` what was loaded.

    Raises:
        CheckpointError: No checkpoint where one is needed (the message gives
            the download command or says to pass one), or one that does not
            fit.
    """
    import mmagic_draggan  # noqa: F401  (registers the components)
    from mmagic_draggan.checkpoints.record_names import resolve_named
    config, checkpoint = resolve_named(config), resolve_named(checkpoint)
    cfg = load_config(config, cfg_options)
    if 'model' not in cfg:
        raise InvalidInputError('the config has no `model` dict; start from '
                                'configs/draggan/*.py')
    check_model_keys(cfg.model)
    dev = resolve_device(device)
    from mmagic_draggan.checkpoints.loader import load_generator_checkpoint
    from mmagic_draggan.checkpoints.resolver import resolve_weights
    pretrained = pretrained_init(cfg.model)
    if checkpoint is None and not random_weights and pretrained:
        path = None  # model.init_weights() loads init_cfg's checkpoint
    else:
        # find the file before building: a missing checkpoint fails fast
        path = resolve_weights(checkpoint, cfg, random_weights).require()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
    info = dict(random_weights=True, seed=seed)
    if path is None and pretrained and not random_weights:
        model.init_weights()  # DragGAN's load hook sets checkpoint_info
        info = dict(model.checkpoint_info, path=pretrained)
    elif path is not None:
        info = load_generator_checkpoint(
            model.generator, path,
            config_hint=getattr(cfg, 'filename', None))
        info = dict(info, path=path, random_weights=False)
    model.cfg = cfg
    model.cfg_options = dict(cfg_options) if cfg_options else None
    model.checkpoint_info = info
    return model.to(dev).eval()
