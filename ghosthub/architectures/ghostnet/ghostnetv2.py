"""GhostNetV2 (Tang et al., NeurIPS 2022) for MindSpore: GhostNet with DFC attention.

Paper: "GhostNetV2: Enhance Cheap Operation with Long-Range Attention",
https://arxiv.org/abs/2211.12905

The network is GhostNet (see :mod:`ghosthub.architectures.ghostnet.ghostnet`) where the expansion ghost module of
every bottleneck after the second gets a "decoupled fully connected" (DFC) attention branch: the
input is average-pooled by 2, passed through a 1x1 conv, a 1x5 and a 5x1 depth-wise conv (each with
batch norm), squashed by a sigmoid, upsampled back and multiplied with the ghost output.

Parameter names follow MindCV's GhostNet (``blocks.{stage}.{block}...``, BN ``gamma/beta/
moving_mean/moving_variance``); the attention branch is ``ghost1.short_conv.{0..5}`` (conv, BN,
conv, BN, conv, BN) as in timm, so a timm or Huawei checkpoint maps by the same renames as v1
(:mod:`ghosthub.architectures.ghostnet.layouts`).

The gate upsampling differs between sources, and the logits with it (1e-3 on random weights):
timm and Huawei's PyTorch code use nearest neighbour, the MindSpore model zoo bilinear with
aligned corners. ``upsample`` selects which one the network reproduces.
"""

from __future__ import annotations

from mindspore import Tensor, nn, ops

from ._channels import GHOSTNET_STAGES
from .ghostnet import GhostModule, GhostNetBody, _conv

__all__ = ["UPSAMPLE_MODES", "GhostNetV2", "create_ghostnetv2"]

# "nearest": timm / Huawei PyTorch; "bilinear": MindSpore model zoo (align_corners=True).
UPSAMPLE_MODES = ("nearest", "bilinear")

# Bottlenecks before this index keep the plain ghost module (no attention), as in the paper.
_FIRST_ATTENTION_LAYER = 2


class GhostModuleV2(GhostModule):
    """Ghost module with DFC attention (``short_conv``), the V2 expansion module.

    Parameters
    ----------
    in_chs, out_chs : int
        Input and output channels.
    upsample : {"nearest", "bilinear"}
        How the half-resolution gate is brought back to the ghost output's size: "nearest" as in
        timm / Huawei, "bilinear" with aligned corners as in the MindSpore model zoo.
    """

    def __init__(self, in_chs: int, out_chs: int, upsample: str = "nearest") -> None:
        super().__init__(in_chs, out_chs, relu=True)
        self.upsample = upsample
        # Decoupled fully connected attention: a 1x1 conv, then long-range horizontal and vertical
        # depth-wise convs, on a 2x down-sampled input (the paper's cost saving).
        self.short_conv = nn.SequentialCell(
            [
                _conv(in_chs, out_chs, 1),
                nn.BatchNorm2d(out_chs),
                _conv(out_chs, out_chs, (1, 5), group=out_chs),
                nn.BatchNorm2d(out_chs),
                _conv(out_chs, out_chs, (5, 1), group=out_chs),
                nn.BatchNorm2d(out_chs),
            ]
        )
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)  # floors odd sizes, as torch's avg_pool2d

    def construct(self, x: Tensor) -> Tensor:
        gate = ops.sigmoid(self.short_conv(self.pool(x)))
        out = self.ghost(x)
        size = (out.shape[2], out.shape[3])
        if self.upsample == "nearest":
            gate = ops.interpolate(gate, size=size, mode="nearest")
        else:
            # The model zoo's ops.interpolate(..., sizes=(W, W), mode="bilinear") aligns corners
            # (MindSpore 1.x default) and assumes square maps; (H, W) equals it on square inputs.
            gate = ops.interpolate(gate, size=size, mode="bilinear", align_corners=True)
        return out * gate


class GhostNetV2(GhostNetBody):
    """GhostNetV2 image classifier (also the deploy form of GhostNetV3 after fusion).

    Parameters
    ----------
    width : float
        Channel width multiplier (1.0, 1.3, 1.6 for the published weights; any positive value).
    num_classes : int
        Classifier outputs; 0 replaces the classifier by an identity (pooled features out).
    in_channels : int
        Channels of the input image.
    drop_rate : float
        Dropout probability before the classifier, active in training mode only.
    num_features : int
        Channels of the head's 1x1 conv, the classifier's input.
    upsample : {"nearest", "bilinear"}
        Gate upsampling: "nearest" reproduces timm / Huawei weights, "bilinear" (aligned corners)
        the MindSpore model zoo's ``ghostnetv2_1x``.
    """

    def __init__(
        self,
        width: float = 1.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        drop_rate: float = 0.2,
        num_features: int = 1280,
        upsample: str = "nearest",
    ) -> None:
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample={upsample!r}: expected one of {', '.join(UPSAMPLE_MODES)}")
        self.upsample = upsample

        def expansion(layer: int, in_chs: int, mid_chs: int):
            # Layers from the third on expand with DFC attention; the rest is GhostNet's bottleneck.
            return GhostModuleV2(in_chs, mid_chs, upsample) if layer >= _FIRST_ATTENTION_LAYER else None

        self._build_body(GHOSTNET_STAGES, width, num_classes, in_channels, drop_rate, num_features, expansion)


def create_ghostnetv2(width: float, **kwargs) -> GhostNetV2:
    """Build a GhostNetV2 of any width, also GhostNetV3's deploy form; ``kwargs`` go to :class:`GhostNetV2`.

    Every re-parameterisation branch of V3 is a linear conv + BN, so after fusion
    (:func:`ghosthub.architectures.ghostnet.v3.fuse_v3`) the network is exactly GhostNetV2.
    """
    return GhostNetV2(width=width, **kwargs)
