"""GhostNet (Han et al., CVPR 2020) for MindSpore, parameter-compatible with MindCV's checkpoints.

Paper: "GhostNet: More Features from Cheap Operations", https://arxiv.org/abs/1911.11907

Parameter names and shapes equal those of MindCV's ``GhostNet`` (432 tensors), so every
published MindCV GhostNet checkpoint (ghostnet_050, ghostnet_100, ghostnet_130) loads strictly.
"""

from __future__ import annotations

import math

from mindspore import Tensor, nn, ops

from ._channels import GHOSTNET_STAGES, make_divisible
from ._head import ClassifierNet

__all__ = ["GhostNet", "GhostNetBody", "create_ghostnet", "make_divisible"]


def _conv(in_chs: int, out_chs: int, kernel_size, stride: int = 1, group: int = 1, has_bias: bool = False) -> nn.Conv2d:
    """A convolution with 'same' zero padding for odd kernels (k or ``(kh, kw)``), He-uniform initialised."""
    if isinstance(kernel_size, int):
        padding = (kernel_size - 1) // 2
    else:  # GhostNetV2's (1, 5) and (5, 1) attention convolutions
        (kh, kw), kernel_size = kernel_size, tuple(kernel_size)
        padding = ((kh - 1) // 2, (kh - 1) // 2, (kw - 1) // 2, (kw - 1) // 2)
    return nn.Conv2d(
        in_chs,
        out_chs,
        kernel_size,
        stride,
        pad_mode="pad",
        padding=padding,
        group=group,
        has_bias=has_bias,
        weight_init="he_uniform",
        bias_init="zeros" if has_bias else None,
    )


class ConvBnAct(nn.Cell):
    """Convolution, batch norm, ReLU; the cells live in ``features`` (checkpoint names)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 1) -> None:
        super().__init__()
        self.features = nn.SequentialCell([_conv(in_chs, out_chs, kernel_size), nn.BatchNorm2d(out_chs), nn.ReLU()])

    def construct(self, x: Tensor) -> Tensor:
        return self.features(x)


class SqueezeExcite(nn.Cell):
    """Squeeze-and-excitation: gate each channel by a function of its global average."""

    def __init__(self, channels: int, ratio: float = 0.25, divisor: int = 4) -> None:
        super().__init__()
        reduced = make_divisible(channels * ratio, divisor)
        self.conv_reduce = _conv(channels, reduced, 1, has_bias=True)
        self.conv_expand = _conv(reduced, channels, 1, has_bias=True)
        self.fused_gate = True

    def set_onnx_compatible(self, on: bool) -> None:
        """ONNX has no HSigmoid: spell the gate out as relu6(s + 3) / 6 (the same numbers) while exporting."""
        self.fused_gate = not on

    def construct(self, x: Tensor) -> Tensor:
        s = ops.mean(x, (2, 3), True)
        s = self.conv_expand(ops.relu(self.conv_reduce(s)))
        # Hard sigmoid gate, relu6(s + 3) / 6 as in the paper's code, in one kernel.
        if self.fused_gate:
            return x * ops.hardsigmoid(s)
        return x * (ops.relu6(s + 3.0) / 6.0)


class GhostModule(nn.Cell):
    """Ghost module: half the outputs from a 1x1 conv, the other half "cheaply" from them."""

    def __init__(self, in_chs: int, out_chs: int, relu: bool = True) -> None:
        super().__init__()
        self.out_chs = out_chs
        init_chs = math.ceil(out_chs / 2)
        act = [nn.ReLU()] if relu else []
        # Primary convolution: the intrinsic feature maps.
        self.primary_conv = nn.SequentialCell([_conv(in_chs, init_chs, 1), nn.BatchNorm2d(init_chs)] + act)
        # Cheap operation: a depth-wise 3x3 conv makes one "ghost" map per intrinsic map.
        self.cheap_operation = nn.SequentialCell(
            [_conv(init_chs, init_chs, 3, group=init_chs), nn.BatchNorm2d(init_chs)] + act
        )
        # Only an odd out_chs needs the extra ghost map cut off (make_divisible widths never do).
        # Skipping the no-op slice matters: on CPU it made graph mode 2-4x slower (MindCV slices).
        self.trim = 2 * init_chs != out_chs

    def ghost(self, x: Tensor) -> Tensor:
        """The ghost output: intrinsic and cheap maps (GhostNetV2's attention multiplies it)."""
        x1 = self.primary_conv(x)
        out = ops.concat((x1, self.cheap_operation(x1)), 1)
        if self.trim:
            out = out[:, : self.out_chs]
        return out

    def construct(self, x: Tensor) -> Tensor:
        return self.ghost(x)


class GhostBottleneck(nn.Cell):
    """Ghost bottleneck: ghost expansion, optional strided depth-wise conv and SE, ghost projection."""

    def __init__(
        self,
        in_chs: int,
        mid_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        se_ratio: float = 0.0,
        ghost1: nn.Cell | None = None,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.has_se = se_ratio > 0
        # Point-wise expansion (GhostNetV2 passes its module with DFC attention).
        self.ghost1 = ghost1 if ghost1 is not None else GhostModule(in_chs, mid_chs, relu=True)
        # Depth-wise convolution (down-sampling blocks only).
        if stride > 1:
            self.conv_dw = _conv(mid_chs, mid_chs, kernel_size, stride, group=mid_chs)
            self.bn_dw = nn.BatchNorm2d(mid_chs)
        # Squeeze-and-excitation.
        if self.has_se:
            self.se = SqueezeExcite(mid_chs, se_ratio)
        # Point-wise linear projection.
        self.ghost2 = GhostModule(mid_chs, out_chs, relu=False)
        # Shortcut: identity, or depth-wise + point-wise conv where the shape changes.
        self.identity = in_chs == out_chs and stride == 1
        if not self.identity:
            self.shortcut = nn.SequentialCell(
                [
                    _conv(in_chs, in_chs, kernel_size, stride, group=in_chs),
                    nn.BatchNorm2d(in_chs),
                    _conv(in_chs, out_chs, 1),
                    nn.BatchNorm2d(out_chs),
                ]
            )

    def construct(self, x: Tensor) -> Tensor:
        y = self.ghost1(x)
        if self.stride > 1:
            y = self.bn_dw(self.conv_dw(y))
        if self.has_se:
            y = self.se(y)
        y = self.ghost2(y)
        if self.identity:
            return y + x
        return y + self.shortcut(x)


# One row per bottleneck, one inner list per stage (the blocks.{stage}.{block} names); columns:
# kernel, expansion (mid) channels, output channels, SE ratio, stride. Shared with the weight layouts.
_STAGES = GHOSTNET_STAGES


class GhostNetBody(ClassifierNet):
    """What GhostNet and GhostNetV2 share: the stem, the ghost-bottleneck stages and the head."""

    def _build_body(
        self,
        stages: list,
        width: float,
        num_classes: int,
        in_channels: int,
        drop_rate: float,
        num_features: int,
        expansion=None,
    ) -> None:
        """The model's attributes, then stem, ghost bottlenecks and head, in the order that names the parameters.

        ``expansion(layer, in_chs, mid_chs)`` may give a bottleneck its own first ghost module
        (GhostNetV2's DFC attention) or None for GhostNet's.
        """
        self.width = width
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.drop_rate = drop_rate
        self.num_features = num_features

        # Stem: 3x3 stride-2 convolution.
        stem_chs = make_divisible(16 * width)
        self.conv_stem = _conv(in_channels, stem_chs, 3, 2)
        self.bn1 = nn.BatchNorm2d(stem_chs)
        self.act1 = nn.ReLU()

        # Ghost bottlenecks, then a 1x1 conv to the last expansion width.
        blocks, prev_chs, layer = [], stem_chs, 0
        for stage in stages:
            layers = []
            for k, exp, c, se, s in stage:
                out_chs, mid_chs = make_divisible(c * width), make_divisible(exp * width)
                ghost1 = expansion(layer, prev_chs, mid_chs) if expansion else None
                layers.append(GhostBottleneck(prev_chs, mid_chs, out_chs, k, s, se, ghost1=ghost1))
                prev_chs, layer = out_chs, layer + 1
            blocks.append(nn.SequentialCell(layers))
        last_chs = make_divisible(stages[-1][-1][1] * width)
        blocks.append(ConvBnAct(prev_chs, last_chs, 1))
        self.blocks = nn.SequentialCell(blocks)

        # Head: global average pool, 1x1 conv with bias (no BN), ReLU, dropout, linear classifier.
        self._build_head(_conv(last_chs, num_features, 1, has_bias=True), nn.ReLU(), drop_rate, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and bottlenecks: (N, C, H, W) image -> (N, C', H/32, W/32) feature map."""
        x = self.act1(self.bn1(self.conv_stem(x)))
        return self.blocks(x)


class GhostNet(GhostNetBody):
    """GhostNet image classifier.

    Parameters
    ----------
    stages : list of list of [k, exp, c, se, s]
        The bottleneck table (see ``_STAGES``).
    width : float
        Channel width multiplier (0.5, 1.0, 1.3 for the published weights).
    num_classes : int
        Classifier outputs; 0 replaces the classifier by an identity (pooled features out).
    in_channels : int
        Channels of the input image.
    drop_rate : float
        Dropout probability before the classifier, active in training mode only.
    num_features : int
        Channels of the head's 1x1 conv, the classifier's input.
    """

    def __init__(
        self,
        stages: list,
        width: float = 1.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        drop_rate: float = 0.2,
        num_features: int = 1280,
    ) -> None:
        super().__init__()
        self._build_body(stages, width, num_classes, in_channels, drop_rate, num_features)


def create_ghostnet(width: float, **kwargs) -> GhostNet:
    """Build a GhostNet of any width (0.5: 2.60 M parameters); ``kwargs`` go to :class:`GhostNet`."""
    return GhostNet(_STAGES, width=width, **kwargs)
