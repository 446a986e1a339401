"""LPIPS distance for inversion (a wrapper over the ``lpips`` package).

"The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
Zhang et al., CVPR 2018 (arXiv 1801.03924).

The ``lpips`` package ships only its linear heads; the VGG16 / AlexNet trunk
is torchvision's ImageNet weights, downloaded on first use into
``torch.hub.get_dir()/checkpoints/``. Offline that download fails: this
wrapper turns the failure into :class:`PerceptualWeightsError` naming the
file and the folder to put it in.
"""
import os.path as osp
import warnings
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmagic_draggan.errors import DragGANError, InvalidInputError
from mmagic_draggan.registry import MODELS

__all__ = ['PerceptualWeightsError', 'LPIPSPerceptualLoss', 'PerceptualLoss',
           'TRUNK_FILES', 'trunk_weights_path']

#: torchvision weight files of the LPIPS trunks (fallback names; the URL of
#: the installed torchvision is preferred).
TRUNK_FILES = {'vgg': 'vgg16-397923af.pth',
               'alex': 'alexnet-owt-7be5be79.pth'}


class PerceptualWeightsError(DragGANError, FileNotFoundError):
    """The LPIPS trunk weights are not on disk and cannot be downloaded."""


def _trunk_file(net: str) -> str:
    try:
        from torchvision.models import AlexNet_Weights, VGG16_Weights
        url = (VGG16_Weights if net == 'vgg' else
               AlexNet_Weights).IMAGENET1K_V1.url
        return url.rsplit('/', 1)[-1]
    except (ImportError, AttributeError):
        return TRUNK_FILES[net]


def trunk_weights_path(net: str) -> str:
    """Where torchvision keeps the trunk of ``net`` (``'vgg'``/``'alex'``):
    ``torch.hub.get_dir()/checkpoints/<file>``."""
    return osp.join(torch.hub.get_dir(), 'checkpoints', _trunk_file(net))


@MODELS.register_module()
class LPIPSPerceptualLoss(nn.Module):
    """LPIPS distance between images in [-1, 1], frozen, for optimisation.

    Registered as ``LPIPSPerceptualLoss`` (MMagic already has a
    ``PerceptualLoss``). Images larger than ``resize`` pixels are
    area-downsampled to ``resize`` first (as the StyleGAN2 projector does
    with 256). The target's trunk features can be cached with
    :meth:`target_features`, which halves the cost per step.

    Args:
        net (str): Trunk, ``'vgg'`` (default; the StyleGAN2 projector's
            choice) or ``'alex'`` (PTI's).
        pnet_rand (bool): Random trunk, no download (plumbing tests only;
            not a perceptual metric). Defaults to False.
        resize (int | None): Side above which images are downsampled.
            Defaults to 256.
    """

    def __init__(self,
                 net: str = 'vgg',
                 pnet_rand: bool = False,
                 resize: Optional[int] = 256) -> None:
        super().__init__()
        if net not in TRUNK_FILES:
            raise InvalidInputError(
                f"perceptual net must be 'vgg' or 'alex'; got "
                f'{net!r}')
        self.net_name = net
        self.pnet_rand = bool(pnet_rand)
        self.resize = None if resize is None else int(resize)
        self.lpips = self._build(net, self.pnet_rand)
        self.lpips.eval().requires_grad_(False)

    @staticmethod
    def _build(net: str, pnet_rand: bool) -> nn.Module:
        import urllib.error

        import lpips
        path = trunk_weights_path(net)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', UserWarning)
                return lpips.LPIPS(net=net, pnet_rand=pnet_rand,
                                   verbose=False)
        except (urllib.error.URLError, OSError, RuntimeError) as e:
            if pnet_rand:
                raise
            raise PerceptualWeightsError(
                f'the LPIPS-{net} trunk weights {osp.basename(path)} are not '
                f'in {osp.dirname(path)} and could not be downloaded '
                f'({type(e).__name__}: {e}); copy {osp.basename(path)} '
                f'(torchvision ImageNet weights) into {osp.dirname(path)} '
                '(set TORCH_HOME to use another folder), or run with '
                "perceptual='none' (--perceptual none: pixel losses only)"
            ) from None

    def train(self, mode: bool = True) -> 'LPIPSPerceptualLoss':
        super().train(mode)
        self.lpips.eval()  # dropout stays off
        return self

    def _prepare(self, img: Tensor) -> Tensor:
        if img.ndim != 4 or img.shape[1] != 3:
            raise InvalidInputError(f'images must be (N, 3, H, W); got '
                                    f'{tuple(img.shape)}')
        img = img.float()
        if self.resize is not None and img.shape[-1] > self.resize:
            img = F.interpolate(img, size=(self.resize, self.resize),
                                mode='area')
        return img

    def target_features(self, target: Tensor) -> List[Tensor]:
        """Normalised trunk features of a target, for :meth:`distance`.

        Args:
            target (Tensor): Images (N, 3, H, W) in [-1, 1].

        Returns:
            list[Tensor]: One (N, C_k, h_k, w_k) map per LPIPS layer.
        """
        with torch.no_grad():
            return self._features(self._prepare(target))

    def _features(self, img: Tensor) -> List[Tensor]:
        import lpips
        outs = self.lpips.net.forward(self.lpips.scaling_layer(img))
        return [lpips.normalize_tensor(outs[k]) for k in range(self.lpips.L)]

    def distance(self, img: Tensor, target_feats: List[Tensor]) -> Tensor:
        """LPIPS between images and cached target features.

        Args:
            img (Tensor): Images (N, 3, H, W) in [-1, 1].
            target_feats (list[Tensor]): From :meth:`target_features`.

        Returns:
            Tensor: Distances, shape (N,).
        """
        feats = self._features(self._prepare(img))
        total = 0.
        for k, (a, b) in enumerate(zip(feats, target_feats)):
            diff = (a - b).square()
            total = total + self.lpips.lins[k](diff).mean(dim=(1, 2, 3))
        return total

    def forward(self, img: Tensor, target: Tensor) -> Tensor:
        """LPIPS distance of two image batches in [-1, 1].

        Args:
            img (Tensor): (N, 3, H, W).
            target (Tensor): (N, 3, H, W).

        Returns:
            Tensor: Distances, shape (N,).
        """
        return self.distance(img, self._features(self._prepare(target)))


#: The Python name the inversion code uses.
PerceptualLoss = LPIPSPerceptualLoss
