"""GhostNet-600M (Han et al., 2020) for MindSpore, parameter-compatible with the MindSpore model zoo.

The 600 MFLOPs GhostNet of the paper's appendix, as published by the MindSpore model zoo
(``research/cv/ghostnet/src/ghostnet600.py``, ``ghostnet_600m``: width 1.75). It is not a wider
GhostNet: hard-swish everywhere, a squeeze-and-excitation in every bottleneck (reduction 10),
expansion widths from per-block ratios, 19 bottlenecks and a 1400-wide head.

No other library publishes this network, so its parameter names are the model zoo's own: flat
``blocks.0..18`` bottlenecks and ``blocks.19`` for the last 1x1 conv, each conv + BN pair a cell
with children ``conv`` and ``bn``. A model-zoo checkpoint therefore loads without renaming (after
dropping its optimizer state, see :mod:`ghosthub.architectures.ghostnet.layouts`).
"""

from __future__ import annotations

import math

from mindspore import Tensor, nn, ops

from ._channels import ghostnet600_plan
from ._head import ClassifierNet

__all__ = ["GhostNet600", "create_ghostnet600"]


class ConvUnit(nn.Cell):
    """Convolution + batch norm (+ hard swish); children ``conv`` and ``bn`` as in the model zoo."""

    def __init__(
        self, in_chs: int, out_chs: int, kernel_size: int = 1, stride: int = 1, group: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_chs,
            out_chs,
            kernel_size,
            stride,
            pad_mode="pad",
            padding=kernel_size // 2,
            group=group,
            has_bias=False,
            weight_init="he_uniform",
        )
        self.bn = nn.BatchNorm2d(out_chs)
        self.act = nn.HSwish() if act else None

    def construct(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class SqueezeExcite(nn.Cell):
    """Squeeze-and-excitation: ReLU inside, hard-sigmoid gate ``relu6(s + 3) / 6``."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, has_bias=True, weight_init="he_uniform", bias_init="zeros")
        self.conv_expand = nn.Conv2d(reduced, channels, 1, has_bias=True, weight_init="he_uniform", bias_init="zeros")

    def construct(self, x: Tensor) -> Tensor:
        s = ops.mean(x, (2, 3), True)
        return x * ops.hardsigmoid(self.conv_expand(ops.relu(self.conv_reduce(s))))


class GhostModule(nn.Cell):
    """Half the outputs from a 1x1 conv, the other half from a depth-wise 3x3 conv on them."""

    def __init__(self, in_chs: int, out_chs: int, act: bool = True) -> None:
        super().__init__()
        init_chs = math.ceil(out_chs / 2)
        self.primary_conv = ConvUnit(in_chs, init_chs, 1, act=act)
        self.cheap_operation = ConvUnit(init_chs, init_chs, 3, group=init_chs, act=act)

    def construct(self, x: Tensor) -> Tensor:
        x1 = self.primary_conv(x)
        return ops.concat((x1, self.cheap_operation(x1)), 1)


class GhostBottleneck600(nn.Cell):
    """Ghost bottleneck with SE in every block; model-zoo child names (``dw``, ``shortcut.{0,1}``)."""

    def __init__(self, in_chs: int, mid_chs: int, out_chs: int, se_chs: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.ghost1 = GhostModule(in_chs, mid_chs, act=True)
        if stride > 1:
            self.dw = ConvUnit(mid_chs, mid_chs, kernel_size, stride, group=mid_chs, act=False)
        self.se = SqueezeExcite(mid_chs, se_chs)
        self.ghost2 = GhostModule(mid_chs, out_chs, act=False)
        self.identity = in_chs == out_chs and stride == 1
        if not self.identity:
            self.shortcut = nn.SequentialCell(
                [
                    ConvUnit(in_chs, in_chs, kernel_size, stride, group=in_chs, act=False),
                    ConvUnit(in_chs, out_chs, 1, act=False),
                ]
            )

    def construct(self, x: Tensor) -> Tensor:
        y = self.ghost1(x)
        if self.stride > 1:
            y = self.dw(y)
        y = self.ghost2(self.se(y))
        if self.identity:
            return y + x
        return y + self.shortcut(x)


class GhostNet600(ClassifierNet):
    """GhostNet-600M image classifier.

    Parameters
    ----------
    width : float
        Channel width multiplier; the published network is 1.75.
    num_classes : int
        Classifier outputs; 0 replaces the classifier by an identity (pooled features out).
    in_channels : int
        Channels of the input image.
    drop_rate : float
        Dropout probability before the classifier, active in training mode only.
    num_features : int
        Channels of the head's 1x1 conv (1400), the classifier's input.
    """

    def __init__(
        self,
        width: float = 1.75,
        num_classes: int = 1000,
        in_channels: int = 3,
        drop_rate: float = 0.2,
        num_features: int = 1400,
    ) -> None:
        super().__init__()
        self.width = width
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.drop_rate = drop_rate
        self.num_features = num_features
        stem, plan, last = ghostnet600_plan(width)
        self.conv_stem = nn.Conv2d(
            in_channels, stem, 3, 2, pad_mode="pad", padding=1, has_bias=False, weight_init="he_uniform"
        )
        self.bn1 = nn.BatchNorm2d(stem)
        self.act1 = nn.HSwish()
        blocks = [GhostBottleneck600(i, m, o, se, k, s) for i, m, o, se, k, s in plan]
        blocks.append(ConvUnit(plan[-1][2], last, 1, act=True))
        self.blocks = nn.SequentialCell(blocks)
        conv_head = nn.Conv2d(last, num_features, 1, has_bias=True, weight_init="he_uniform", bias_init="zeros")
        self._build_head(conv_head, nn.HSwish(), drop_rate, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and bottlenecks: (N, C, H, W) image -> (N, C', H/32, W/32) feature map."""
        return self.blocks(self.act1(self.bn1(self.conv_stem(x))))


def create_ghostnet600(width: float, **kwargs) -> GhostNet600:
    """Build a GhostNet-600M of any width (the model zoo's is 1.75); ``kwargs`` go to :class:`GhostNet600`."""
    return GhostNet600(width=width, **kwargs)
