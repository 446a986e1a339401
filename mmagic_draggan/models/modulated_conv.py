"""StyleGAN2 modulated convolutions of MMagic's modules, computed cheaply.

MMagic's ``ModulatedConv2d`` builds a weight per sample,
``w'[n, o, i] = w[o, i] * s[n, i] * d[n, o]`` (``s``: the style of the
layer, ``d``: the demodulation coefficients) and runs a grouped convolution.
When the style needs a gradient (the optimised W+ rows of a drag) autograd
then also computes the gradient of that weight: one more convolution as
costly as the forward one. The same result is obtained by scaling the
activations instead, ``conv(x * s, w) * d``, where the shared weight ``w``
needs no gradient and ``s`` gets its gradient from an elementwise product.

This module evaluates MMagic's own layers (``ModulatedStyleConv``,
``ModulatedToRGB``) that way. Every parameter and buffer is read from the
MMagic module (the equalised-lr scale from the module's own
``EqualizedLR`` hook, the style affine, noise strength, bias, activation
and blur modules are called as they are), so checkpoints load unchanged and
the numbers equal MMagic's up to float rounding.

The equalised-lr scale of a weight is put on the styles (``conv(x * s c,
w) = conv(x * s, c w)``), so no scaled copy of the weights is held.

Two evaluation routes, chosen per layer:

* fold: for one sample whose style needs no gradient, the modulation and
  demodulation are folded into the ``(O, I, k, k)`` weight, as MMagic does;
  it is cheaper than two passes over large activations.
* activation: ``conv(x * s, w) * d`` otherwise (several samples, or a style
  that needs a gradient).

Convolutions may run in bfloat16 (``precision='bf16'``); styles,
demodulation, noise, bias and activation always stay in float32.
"""
import functools
import weakref
from contextlib import contextmanager, nullcontext
from typing import Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmagic_draggan.errors import InvalidInputError
from mmagic_draggan.structures.drag_options import PRECISIONS

# sum_{k,k} weight**2 of frozen layers and the equalised-lr scale, per module
_WSQ_CACHE: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()
_SCALE_CACHE: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def _equalized_lr_hook(conv: nn.Module):
    """The ``EqualizedLR`` forward pre-hook of ``conv`` for its ``weight``
    (None when the module was built without equalised lr)."""
    for hook in conv._forward_pre_hooks.values():
        if hasattr(hook, 'compute_weight') and \
                getattr(hook, 'name', None) == 'weight':
            return hook
    return None


def _equalized_scale(conv: nn.Module, hook, orig: Tensor) -> float:
    """The factor MMagic's ``EqualizedLR`` hook puts on ``weight_orig``
    (its gain, fan and lr_mul), read by running the hook's own
    ``compute_weight`` on ones of the weight's shape (it depends on the
    shape only)."""
    key = (hook.name, tuple(orig.shape))
    hit = _SCALE_CACHE.get(conv)
    if hit is not None and hit[0] == key:
        return hit[1]
    probe = type('Probe', (), {})()
    with torch.no_grad():
        ones = torch.ones((1, ) * orig.ndim).expand(orig.shape)
        setattr(probe, hook.name + '_orig', ones)
        scale = float(hook.compute_weight(probe).reshape(-1)[0])
    _SCALE_CACHE[conv] = (key, scale)
    return scale


def conv_weight(conv: nn.Module) -> Tuple[Tensor, Tensor, float]:
    """The weight MMagic's ``ModulatedConv2d`` convolves with, before
    modulation, as ``scale * weight``: the stored ``weight_orig`` (no copy)
    and the equalised-lr factor of the module's own ``EqualizedLR`` hook (so
    gain, fan and lr_mul are MMagic's); and ``sum_{k,k} weight**2``.

    The factor is applied to the styles by :func:`modulated_conv`
    (``conv(x * s * scale, weight) = conv(x * s, scale * weight)``), so no
    scaled copy of the generator's weights is ever held. For frozen weights
    (``requires_grad=False``) the (O, I) sums are cached per module and
    recomputed whenever the parameter is replaced or modified in place (for
    instance by ``load_state_dict``, which bumps its version counter).

    Args:
        conv (nn.Module): A MMagic ``ModulatedConv2d``.

    Returns:
        tuple[Tensor, Tensor, float]: Weight (O, I, k, k) (a view of the
        parameter), ``sum_{k,k} weight**2`` (O, I) and the scale (1 without
        equalised lr).
    """
    hook = _equalized_lr_hook(conv)
    orig = conv.weight if hook is None else getattr(conv,
                                                    hook.name + '_orig')
    scale = 1. if hook is None else _equalized_scale(conv, hook, orig)
    weight = orig[0]
    if orig.requires_grad and torch.is_grad_enabled():
        return weight, weight.square().sum(dim=(2, 3)), scale
    key = (orig.data_ptr(), orig._version, orig.device, orig.dtype,
           tuple(orig.shape))
    hit = _WSQ_CACHE.get(conv)
    if hit is None or hit[0] != key:
        with torch.no_grad():
            hit = (key, weight.square().sum(dim=(2, 3)))
        _WSQ_CACHE[conv] = hit
    return weight, hit[1], scale


def conv_styles(conv: nn.Module, w: Tensor) -> Tensor:
    """Per-input-channel styles ``s`` of a ``ModulatedConv2d``.

    Args:
        conv (nn.Module): A MMagic ``ModulatedConv2d``.
        w (Tensor): Latent rows, shape (N, style_channels).

    Returns:
        Tensor: Styles, shape (N, I), float32.
    """
    with _no_autocast(w.device):
        return conv.style_modulation(w.float()) + conv.style_bias


def demodulation(wsq: Tensor, styles: Tensor, eps: float) -> Tensor:
    """Demodulation coefficients ``d = rsqrt(sum_{i,k,k} (w s)^2 + eps)``.

    Uses ``sum_{i,k,k} (w[o,i] s[i])^2 = sum_i s[i]^2 sum_{k,k} w[o,i]^2``:
    one (N, I) x (I, O) product instead of a per-sample weight.

    Args:
        wsq (Tensor): ``sum_{k,k} weight**2``, shape (O, I).
        styles (Tensor): Styles, shape (N, I).
        eps (float): MMagic's ``eps`` (1e-8).

    Returns:
        Tensor: Coefficients, shape (N, O).
    """
    with _no_autocast(wsq.device):
        return torch.rsqrt(styles.square() @ wsq.t() + eps)


def _check_supported(conv: nn.Module) -> None:
    if getattr(conv, 'fp16_enabled', False) or \
            getattr(conv, 'downsample', False):
        raise NotImplementedError(
            'modulated_conv supports the generator layers only (no fp16, no '
            'down-sampling); use the MMagic module itself')


def modulated_conv(conv: nn.Module,
                   x: Tensor,
                   w: Tensor,
                   precision: str = 'fp32',
                   gain: float = 1.,
                   bias: Optional[Tensor] = None,
                   const_style: bool = False,
                   fold: bool = True) -> Tensor:
    """``gain * ModulatedConv2d.forward(x, w) + bias``, on activations.

    Route: for one sample whose style needs no gradient the modulation and
    demodulation are folded into the shared (O, I, k, k) weight (cheaper
    than two passes over large activations, no weight gradient is needed);
    otherwise ``conv(x * s, w) * d`` (see the module docstring).

    Args:
        conv (nn.Module): A MMagic ``ModulatedConv2d`` (no fp16, no
            down-sampling).
        x (Tensor): Input features, shape (N, I, H, W).
        w (Tensor): Latent rows of the layer, shape (N, style_channels).
        precision (str): ``'fp32'`` or ``'bf16'`` (bf16: the convolution
            runs in bfloat16 and so does its output). Default: ``'fp32'``.
        gain (float): Factor on the output (folded into the weight).
            Default: 1.
        bias (Tensor, optional): Per-output-channel bias (O,), added after
            the blur of an up-sampling conv.
        const_style (bool): The caller guarantees that ``w`` needs no
            gradient (it is detached here, so the fold route applies).
        fold (bool): Whether the fold route may be taken. False for small
            inputs (a crop around a handle), where scaling the activations
            costs less than a modulated copy of the weight.

    Returns:
        Tensor: Output features, shape (N, O, H', W') with H' = 2H after an
        up-sampling conv (transposed conv, then MMagic's blur), else H.
    """
    _check_supported(conv)
    n = x.shape[0]
    if w.shape[0] != n:
        raise InvalidInputError(f'{n} inputs but {w.shape[0]} latent rows')
    weight, wsq, scale = conv_weight(conv)  # (O, I, k, k), (O, I), float
    # the equalised-lr scale goes on the styles: no scaled weight copy
    s = conv_styles(conv, w.detach() if const_style else w) * scale  # (N, I)
    post = demodulation(wsq, s, conv.eps) if conv.demodulate else \
        s.new_ones(n, weight.shape[0])
    if gain != 1:
        post = post * gain  # (N, O)
    # the route depends on const_style only (not on the grad mode), so that
    # equal arguments give bit-equal results with and without autograd
    fold = fold and n == 1 and const_style
    lowp = precision == 'bf16'
    if fold:
        cin = x
        weight = weight * (post.view(-1, 1) * s.view(1, -1))[..., None, None]
    else:
        cin = x * s.to(x.dtype).view(n, -1, 1, 1)
    if lowp:
        cin = cin.to(torch.bfloat16)
        weight = weight.to(torch.bfloat16)
    if conv.upsample:
        # MMagic's layout: no flip; weight of conv_transpose2d is (I, O, k, k)
        out = F.conv_transpose2d(cin, weight.transpose(0, 1), stride=2,
                                 padding=0)
        if not fold:
            out = out * post.to(out.dtype).view(n, -1, 1, 1)
        # MMagic's blur (upfirdn2d) wants a float32 input like its kernel
        out = conv.blur(out.float())
        if lowp:
            out = out.to(torch.bfloat16)
        if bias is not None:
            out = out.add_(bias.to(out.dtype).view(1, -1, 1, 1))
        return out
    if fold:
        return F.conv2d(cin, weight, None if bias is None else
                        bias.to(weight.dtype), padding=conv.padding)
    out = F.conv2d(cin, weight, padding=conv.padding)
    out = out * post.to(out.dtype).view(n, -1, 1, 1)
    if bias is not None:
        out = out.add_(bias.to(out.dtype).view(1, -1, 1, 1))
    return out


def style_conv(layer: nn.Module,
               x: Tensor,
               w: Tensor,
               noise: Optional[Tensor],
               precision: str = 'fp32',
               const_style: bool = False,
               fold: bool = True) -> Tensor:
    """MMagic ``ModulatedStyleConv.forward(x, w, noise=noise)``.

    The modulated conv, then MMagic's noise injection and fused bias + leaky
    ReLU (``lrelu(y + noise_weight * noise + bias) * scale``, parameters read
    from ``layer.noise_injector`` and ``layer.activate``). As the leaky ReLU
    is positively homogeneous, ``scale`` is folded into the conv gain, the
    bias and the noise strength, and the bias of a plain conv is added by
    the convolution itself: one pass over the output for the noise and one
    for the activation, both in place.

    Args:
        layer (nn.Module): A MMagic ``ModulatedStyleConv``.
        x (Tensor): Input features, shape (N, I, H, W).
        w (Tensor): Latent rows, shape (N, style_channels).
        noise (Tensor | None): Noise map (1 or N, 1, H', W'); None draws
            fresh noise as MMagic does.
        precision (str): ``'fp32'`` or ``'bf16'``. Default: ``'fp32'``.
        const_style (bool): ``w`` needs no gradient (see
            :func:`modulated_conv`).
        fold (bool): See :func:`modulated_conv`.

    Returns:
        Tensor: Output features (N, O, H', W'), float32 (bfloat16 with
        ``precision='bf16'``).
    """
    act = layer.activate
    if getattr(layer, 'fp16_enabled', False) or not act.scale > 0:
        raise NotImplementedError('fp16 layers or a non-positive activation '
                                  'scale: use the MMagic module')
    scale = float(act.scale)
    out = modulated_conv(layer.conv, x, w, precision, gain=scale,
                         bias=act.bias * scale, const_style=const_style,
                         fold=fold)
    if noise is None:
        noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()
    strength = layer.noise_injector.weight * scale
    out = out.add_(noise.to(out.dtype) * strength.to(out.dtype))
    return F.leaky_relu(out, act.negative_slope, inplace=True)


def to_rgb(layer: nn.Module,
           x: Tensor,
           w: Tensor,
           skip: Optional[Tensor] = None,
           precision: str = 'fp32',
           const_style: bool = False) -> Tensor:
    """MMagic ``ModulatedToRGB.forward(x, w, skip)``.

    Args:
        layer (nn.Module): A MMagic ``ModulatedToRGB``.
        x (Tensor): Input features, shape (N, I, H, W).
        w (Tensor): Latent rows, shape (N, style_channels).
        skip (Tensor, optional): RGB image of the previous block,
            (N, 3, H / 2, W / 2); up-sampled by the layer's own module.
        precision (str): ``'fp32'`` or ``'bf16'``. Default: ``'fp32'``.
        const_style (bool): ``w`` needs no gradient.

    Returns:
        Tensor: RGB image (N, 3, H, W), float32.
    """
    if getattr(layer, 'fp16_enabled', False):
        raise NotImplementedError('fp16 layers: use the MMagic module')
    out = modulated_conv(layer.conv, x, w, precision,
                         bias=layer.bias.view(-1),
                         const_style=const_style).float()
    if skip is not None:
        if hasattr(layer, 'upsample'):
            skip = layer.upsample(skip)
        out = out + skip
    return out


# ----------------------------------------------------------------------
# precision
@functools.lru_cache(maxsize=None)
def _cpu_bf16_ok() -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    probe = getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def resolve_precision(name: str, device) -> str:
    """The precision actually usable for ``name`` on ``device``.

    * ``'fp32'``: always.
    * ``'bf16'``: bfloat16 convolutions. On CPU only where oneDNN (mkldnn)
      has native bf16 kernels (AVX512-BF16 / AMX); on CUDA where the GPU
      supports bf16. Otherwise ``'fp32'``.
    * ``'tf32'``: TensorFloat-32 convolutions and matmuls on CUDA Ampere or
      newer; ``'fp32'`` elsewhere (CPUs have no TF32).

    Args:
        name (str): One of :data:`PRECISIONS`.
        device (str | torch.device): The device the synthesis runs on.

    Returns:
        str: ``name`` when usable there, else ``'fp32'``.
    """
    if name not in PRECISIONS:
        raise InvalidInputError(f'precision must be one of {PRECISIONS}; '
                                f'got {name!r}')
    device = torch.device(device)
    if name == 'fp32':
        return name
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            return 'fp32'
        if name == 'bf16':
            return name if torch.cuda.is_bf16_supported() else 'fp32'
        major, _ = torch.cuda.get_device_capability(device)
        return name if major >= 8 else 'fp32'
    if device.type == 'cpu' and name == 'bf16':
        return name if _cpu_bf16_ok() else 'fp32'
    return 'fp32'


@contextmanager
def precision_context(precision: str, device) -> Iterator[None]:
    """Context for the synthesis at ``precision`` (already resolved).

    ``'tf32'`` enables TF32 for cuDNN convolutions and CUDA matmuls for the
    duration; ``'fp32'`` and ``'bf16'`` need no global state (bf16 casts are
    explicit, around each convolution).
    """
    device = torch.device(device)
    if precision == 'tf32' and device.type == 'cuda':
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            with torch.backends.cudnn.flags(
                    enabled=torch.backends.cudnn.enabled,
                    benchmark=torch.backends.cudnn.benchmark,
                    deterministic=torch.backends.cudnn.deterministic,
                    allow_tf32=True):
                yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
    else:
        yield


def _no_autocast(device: torch.device):
    """Disable autocast (styles and demodulation stay float32 even when a
    caller runs us under autocast)."""
    dev = device.type if device.type in ('cpu', 'cuda') else None
    if dev is None or not torch.is_autocast_enabled(dev):
        return nullcontext()
    return torch.autocast(dev, enabled=False)


__all__ = [
    'PRECISIONS', 'conv_weight', 'conv_styles', 'demodulation',
    'modulated_conv', 'style_conv', 'to_rgb', 'resolve_precision',
    'precision_context'
]
