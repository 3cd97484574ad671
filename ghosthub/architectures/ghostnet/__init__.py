"""The GhostNet family, ghosthub's built-in architectures: GhostNet, GhostNetV2, GhostNetV3, GhostNet-600M.

Registered here without importing MindSpore; each builder imports its network module when called.
Everything the family needs beyond its networks is a hook of its architectures: the weight layouts
it maps (:mod:`.layouts`: timm, the MindSpore model zoo, GhostNetV3's re-parameterisation in
:mod:`.v3`), ONNX's spelling of its hard-sigmoid gate, and the conv / BatchNorm pairs its
``construct`` chains directly. Each family takes a width: ``ghostnet_050`` is GhostNet at 0.5.
"""

from __future__ import annotations

from ...constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from ..registry import register_architecture

__all__ = ["PREPROCESSING", "onnx_form"]

# The eval preprocessing of the published ImageNet-1k weights (MindCV's pipeline, statistics on the 0-255 scale).
PREPROCESSING = {
    "input_size": (3, 224, 224),
    "crop_pct": 0.875,
    "interpolation": "bilinear",
    "mean": IMAGENET_DEFAULT_MEAN,
    "std": IMAGENET_DEFAULT_STD,
}
# timm's ghostnetv2_*.in1k pretrained_cfg: bicubic.
_V2_PREPROCESSING = {**PREPROCESSING, "interpolation": "bicubic"}
# The model zoo's evaluation of ghostnet_600m: 240 x 240 inputs (its Hub card's input-shape).
_600M_PREPROCESSING = {**PREPROCESSING, "input_size": (3, 240, 240)}
# The stem and the strided depth-wise conv of down-sampling bottlenecks: construct() calls bn(conv(x)).
_BN_PAIRS = (("conv_stem", "bn1"), ("conv_dw", "bn_dw"))


class _Layouts:
    """The family's weight-layout hooks (:class:`.layouts.GhostNetLayouts`), imported on first use: registering
    the family stays pure Python (``ghosthub list`` asks what is registered and imports no numpy)."""

    def __getattr__(self, name: str):
        from .layouts import HOOKS

        return getattr(HOOKS, name)


def onnx_form(net, on: bool) -> None:
    """Spell the squeeze-excite gate as relu6(s + 3) / 6 for ONNX (no HSigmoid there), or back in one kernel."""
    for _, cell in net.cells_and_names():
        if hasattr(cell, "set_onnx_compatible"):
            cell.set_onnx_compatible(on)


_FAMILY = dict(
    classifier="classifier",
    first_conv="conv_stem",
    width=True,
    layouts=_Layouts(),
    bn_pairs=_BN_PAIRS,
    onnx_form=onnx_form,
)


@register_architecture("ghostnet", preprocessing=PREPROCESSING, options=("drop_rate", "num_features"), **_FAMILY)
def ghostnet(width: float, **kwargs):
    """GhostNet (CVPR 2020) at any width, parameter-compatible with MindCV's ``ghostnet_050/100/130``."""
    from .ghostnet import create_ghostnet

    return create_ghostnet(width, **kwargs)


_V2_OPTIONS = ("drop_rate", "num_features", "upsample")


@register_architecture("ghostnetv2", preprocessing=_V2_PREPROCESSING, options=_V2_OPTIONS, **_FAMILY)
def ghostnetv2(width: float, **kwargs):
    """GhostNetV2 (NeurIPS 2022): GhostNet with DFC attention, timm's or the model zoo's gate upsampling."""
    from .ghostnetv2 import create_ghostnetv2

    return create_ghostnetv2(width, **kwargs)


@register_architecture("ghostnetv3", preprocessing=_V2_PREPROCESSING, options=_V2_OPTIONS, **_FAMILY)
def ghostnetv3(width: float, **kwargs):
    """GhostNetV3 in deploy form: the V2 network, which V3's fused training-form weights fill (:mod:`.v3`)."""
    from .ghostnetv2 import create_ghostnetv2

    return create_ghostnetv2(width, **kwargs)


@register_architecture(
    "ghostnet600", preprocessing=_600M_PREPROCESSING, options=("drop_rate", "num_features"), **_FAMILY
)
def ghostnet600(width: float, **kwargs):
    """GhostNet-600M of the MindSpore model zoo (hard-swish, SE everywhere, ``ghostnet600_175``)."""
    from .ghostnet600 import create_ghostnet600

    return create_ghostnet600(width, **kwargs)
