"""GhostNet-family checkpoint layouts: detect, rename to ghosthub's names (V3 fused), infer the network.

A checkpoint's parameter names tell where it comes from; each source has one fixed rename into
ghosthub's (MindCV's) names, written here as explicit rules rather than fuzzy matching, so a
checkpoint either maps exactly or fails the strict key/shape check afterwards.

========================  ===============================================  ==========================
layout                    source                                           signature
========================  ===============================================  ==========================
``mindcv``                MindCV, ghosthub (native)                        ``blocks.{s}.{j}.``, ``moving_mean``
``timm``                  timm / Huawei PyTorch, GhostNet v1 and V2        ``running_mean``
``timm-v3``               timm / Huawei PyTorch GhostNetV3, training form  ``_rpr_`` branches
``modelzoo``              MindSpore model zoo ``ghostnet_1x``              flat ``blocks.0..16`` of ConvUnits
``modelzoo-v2``           MindSpore model zoo ``ghostnetv2_1x``            the same plus ``short_conv.{k}.conv``
``modelzoo-600m``         MindSpore model zoo ``ghostnet_600m`` (native)   flat ``blocks.0..19``
========================  ===============================================  ==========================

Everything here works on ``name -> numpy array`` dicts and imports no MindSpore, so a layout can
be recognised (and refused) before any network is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from ...errors import CheckpointMismatchError, WeightsError
from ...weights.state import is_training_state, split_training_state
from ..hooks import Fit, WeightLayouts
from ._channels import GHOSTNET600_BLOCKS, GHOSTNET_LAST, GHOSTNET_STAGES, ghostnet600_names, ghostnet_plan
from .v3 import fuse_v3, put_unique

__all__ = [
    "HOOKS",
    "LAYOUTS",
    "NATIVE_LAYOUTS",
    "GhostNetLayouts",
    "detect_layout",
    "infer_architecture",
    "model_options",
    "to_ghosthub",
]

LAYOUTS = ("mindcv", "timm", "timm-v3", "modelzoo", "modelzoo-v2", "modelzoo-600m")
NATIVE_LAYOUTS = ("mindcv", "modelzoo-600m")  # the networks' own names: ghosthub's checkpoints are in one of them


# The model zoo numbers bottlenecks without stages: flat index -> (stage, block) of the 1x net.
_FLAT_TO_STAGE = [(s, j) for s, stage in enumerate(GHOSTNET_STAGES) for j in range(len(stage))]
_FINAL_STAGE = len(GHOSTNET_STAGES)  # blocks.9: the last 1x1 conv + BN + ReLU
_FINAL_600M = len(GHOSTNET600_BLOCKS)  # blocks.19: GhostNet-600M's last ConvUnit
_HEAD_FEATURES = {"ghostnet": 1280, "ghostnetv2": 1280, "ghostnet600": 1400}  # conv_head's width

_BN_LEAVES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_SHOW = 8  # names quoted in an error message


def _sample(names: Iterable[str]) -> str:
    names = sorted(names)
    more = f", ... ({len(names)} in all)" if len(names) > _SHOW else ""
    return ", ".join(names[:_SHOW]) + more


# ---------------------------------------------------------------------------------------------
# Detection

_MZ_BLOCK = re.compile(r"^blocks\.(\d+)\.ghost[12]\.primary_conv\.conv\.weight$")
_MZ_FINAL = re.compile(r"^blocks\.(\d+)\.conv\.weight$")
_MZ_ATTENTION = re.compile(r"\.short_conv\.\d+\.conv\.weight$")
_STAGED_BLOCK = re.compile(r"^blocks\.\d+\.\d+\.ghost[12]\.primary_conv\.0\.weight$")


def detect_layout(names: Iterable[str]) -> str:
    """Tell which source's naming a checkpoint uses, from its parameter names alone.

    Parameters
    ----------
    names : iterable of str
        The checkpoint's entry names (training state may be included; it is ignored).

    Returns
    -------
    str
        One of :data:`LAYOUTS`.

    Raises
    ------
    WeightsError
        The names match no GhostNet layout; the message quotes some of them and says which
        known but unsupported variant (quantised) they look like, if any.

    Examples
    --------
    >>> detect_layout(["conv_stem.weight", "bn1.running_mean", "blocks.9.0.conv.weight"])
    'timm'
    >>> detect_layout(["blocks.16.conv.weight", "blocks.0.ghost1.primary_conv.conv.weight"])
    'modelzoo'
    """
    names = [n for n in names if not is_training_state(n)]
    if not names:
        raise WeightsError("the checkpoint holds no network parameters (only training state or nothing at all)")
    if any(n.endswith((".scale_w", ".scale_a", ".zp_a")) for n in names):
        raise WeightsError(
            "the checkpoint is a quantisation-aware GhostNet (QuanConv scale_w/scale_a/zp_a entries, the model "
            f"zoo's ghostnet_quant), which ghosthub cannot build; names found: {_sample(names)}"
        )
    if any("_rpr_" in n for n in names):
        return "timm-v3"
    if any(n.endswith((".running_mean", ".running_var")) for n in names):
        return "timm"
    flat = {int(m.group(1)) for m in map(_MZ_BLOCK.match, names) if m}
    if flat:
        # The model zoo's final ConvUnit sits right after the bottlenecks: blocks.16 in the 1x net.
        final = {int(m.group(1)) for m in map(_MZ_FINAL.match, names) if m}
        count = min(final) if final else max(flat) + 1
        if count == _FINAL_600M:
            return "modelzoo-600m"
        if count != len(_FLAT_TO_STAGE):
            raise WeightsError(
                f"model-zoo style names with {count} bottlenecks, but ghosthub knows GhostNet (16) and "
                f"GhostNet-600M (19) only; names found: {_sample(names)}"
            )
        return "modelzoo-v2" if any(_MZ_ATTENTION.search(n) for n in names) else "modelzoo"
    if any(_STAGED_BLOCK.match(n) for n in names) and any(n.endswith(".moving_mean") for n in names):
        return "mindcv"
    raise WeightsError(
        "the checkpoint's names match no GhostNet layout ghosthub knows (MindCV 'blocks.S.J.ghost1...moving_mean', "
        "timm/PyTorch '...running_mean', GhostNetV3 '..._rpr_...', model zoo 'blocks.N.ghost1.primary_conv.conv'); "
        f"{len(names)} names found: {_sample(names)}"
    )


# ---------------------------------------------------------------------------------------------
# Renames


_FINAL_CONV = re.compile(r"^blocks\.(\d+)\.0\.conv$")
_FINAL_BN = re.compile(r"^blocks\.(\d+)\.0\.bn1$")


def _rename_timm(params: Mapping[str, np.ndarray]) -> dict:
    """timm / Huawei PyTorch names -> ghosthub names (v1 and V2 alike)."""
    # A prefix is a BatchNorm layer exactly when it has running statistics. Deciding by sibling,
    # not by a substring such as "bn", also catches BNs named by index (shortcut.1, primary_conv.1)
    # and leaves a conv's own "weight"/"bias" alone.
    bn_prefixes = {n.rsplit(".", 1)[0] for n in params if n.endswith(".running_mean")}
    out = {}
    for name, value in params.items():
        prefix, _, leaf = name.rpartition(".")
        # BN step counters and thop's profiling counters are not parameters.
        if leaf in ("num_batches_tracked", "total_ops", "total_params"):
            continue
        if prefix in bn_prefixes:
            if leaf not in _BN_LEAVES:
                raise CheckpointMismatchError(f"unexpected BatchNorm entry {name!r} (expected weight, bias, running_*)")
            leaf = _BN_LEAVES[leaf]
        # The final 1x1 conv + BN is timm's ConvBnAct (conv, bn1) at blocks.9.0, MindCV's
        # SequentialCell at blocks.9.features.{0,1}. Bottleneck children never are "conv"/"bn1".
        if prefix.endswith((".0.conv", ".0.bn1")):  # cheap test first: the regexes cost per name
            prefix = _FINAL_CONV.sub(r"blocks.\1.features.0", prefix)
            prefix = _FINAL_BN.sub(r"blocks.\1.features.1", prefix)
        put_unique(out, f"{prefix}.{leaf}" if prefix else leaf, value, name)
    return out


# Model zoo ConvUnit children -> MindCV sequential indices, applied to the part after blocks.{i}.
_MZ_RULES = [
    (re.compile(r"^(ghost[12]\.(?:primary_conv|cheap_operation))\.conv\."), r"\1.0."),
    (re.compile(r"^(ghost[12]\.(?:primary_conv|cheap_operation))\.bn\."), r"\1.1."),
    (re.compile(r"^dw\.conv\."), "conv_dw."),
    (re.compile(r"^dw\.bn\."), "bn_dw."),
    (re.compile(r"^shortcut\.0\.conv\."), "shortcut.0."),
    (re.compile(r"^shortcut\.0\.bn\."), "shortcut.1."),
    (re.compile(r"^shortcut\.1\.conv\."), "shortcut.2."),
    (re.compile(r"^shortcut\.1\.bn\."), "shortcut.3."),
]
_MZ_SHORT_CONV = re.compile(r"^(ghost1\.short_conv)\.(\d+)\.(conv|bn)\.")


def _rename_modelzoo(params: Mapping[str, np.ndarray]) -> dict:
    """MindSpore model zoo names (flat blocks.0..16, ConvUnit conv/bn) -> ghosthub names."""
    out = {}
    for name, value in params.items():
        target = name
        m = re.match(r"^blocks\.(\d+)\.(.*)$", name)
        if m:
            index, rest = int(m.group(1)), m.group(2)
            if index == len(_FLAT_TO_STAGE):  # blocks.16: the final ConvUnit
                rest = re.sub(r"^conv\.", "features.0.", rest)
                rest = re.sub(r"^bn\.", "features.1.", rest)
                target = f"blocks.{_FINAL_STAGE}.{rest}"
            elif index < len(_FLAT_TO_STAGE):
                for pattern, repl in _MZ_RULES:
                    rest = pattern.sub(repl, rest)
                # DFC attention: ConvUnit k (conv, bn) -> sequential entries 2k, 2k+1.
                rest = _MZ_SHORT_CONV.sub(lambda g: f"{g.group(1)}.{2 * int(g.group(2)) + (g.group(3) == 'bn')}.", rest)
                stage, block = _FLAT_TO_STAGE[index]
                target = f"blocks.{stage}.{block}.{rest}"
        put_unique(out, target, value, name)
    return out


def to_ghosthub(params: Mapping[str, np.ndarray], layout: str | None = None, *, shapes_only: bool = False) -> dict:
    """Rename (and for GhostNetV3 fuse) a checkpoint into ghosthub's parameter names.

    Pure renames and drops: values are passed through untouched, except GhostNetV3's
    re-parameterisation branches, which :func:`fuse_v3` folds into the V2 topology. The result
    still has to match the network strictly (names and shapes); nothing is guessed.

    Parameters
    ----------
    params : mapping of str to numpy.ndarray
        The checkpoint as read from its file.
    layout : str, optional
        One of :data:`LAYOUTS`; detected with :func:`detect_layout` when None.
    shapes_only : bool
        Only the names and shapes matter (``params`` are stand-ins): V3 branches are checked, not fused.

    Returns
    -------
    dict of str to numpy.ndarray
        Parameters under ghosthub names. Training state (optimizer slots, step counters, BN
        ``num_batches_tracked``, EMA copies) is left out.

    Raises
    ------
    WeightsError
        Unknown layout (see :func:`detect_layout`).
    CheckpointMismatchError
        Two entries map to one name, or a V3 branch is incomplete.
    """
    layout = layout or detect_layout(params)
    if layout not in LAYOUTS:
        raise WeightsError(f"unknown weights layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    params, _ = split_training_state(params)
    if layout in NATIVE_LAYOUTS:  # GhostNet-600M's native names are the model zoo's
        return params
    if layout == "timm":
        return _rename_timm(params)
    if layout == "timm-v3":
        return _rename_timm(fuse_v3(params, shapes_only=shapes_only))
    return _rename_modelzoo(params)


# ---------------------------------------------------------------------------------------------
# Architecture from shapes


def _family(params: Mapping[str, np.ndarray]) -> str:
    if f"blocks.{_FINAL_600M}.conv.weight" in params:
        return "ghostnet600"
    return "ghostnetv2" if any(".short_conv." in n for n in params) else "ghostnet"


def infer_architecture(params: Mapping[str, np.ndarray]) -> Fit:
    """Read family, width, class count and input channels off ghosthub-named parameters.

    The width comes from the last 1x1 conv (960 x width channels): the widest layer rounds least,
    whereas the stem (16 x width) cannot tell 1.5 from 1.6. It is then checked against the stem and
    every ghost module, so a checkpoint of another topology fails here with what was found.

    Parameters
    ----------
    params : mapping of str to numpy.ndarray
        Parameters under ghosthub names (the output of :func:`to_ghosthub`).

    Returns
    -------
    Fit
        The family ("ghostnet", "ghostnetv2", also GhostNetV3's deploy form, or "ghostnet600"), the
        width rounded to 2 decimals, the class count (0 without a classifier), the input channels.

    Raises
    ------
    CheckpointMismatchError
        No stem or last conv, or channel counts that no width explains.

    Examples
    --------
    >>> import numpy as np
    >>> from ghosthub.architectures.ghostnet._channels import ghostnet_plan
    >>> p = {n: np.zeros((c, 3, 1, 1)) for n, c in ghostnet_plan(0.5)}
    >>> p["classifier.weight"] = np.zeros((10, 1280))
    >>> infer_architecture(p)
    Fit(family='ghostnet', width=0.5, num_classes=10, in_channels=3)
    """
    family = _family(params)
    if family == "ghostnet600":
        last, plan = f"blocks.{_FINAL_600M}.conv.weight", ghostnet600_names
    else:
        last, plan = f"blocks.{_FINAL_STAGE}.features.0.weight", ghostnet_plan
    missing = [n for n in ("conv_stem.weight", last) if n not in params]
    if missing:
        raise CheckpointMismatchError(
            f"cannot infer the architecture: no {' or '.join(missing)} among the {len(params)} entries "
            f"({_sample(params)})"
        )
    width = round(params[last].shape[0] / GHOSTNET_LAST, 2)
    wrong = [
        (n, c, params[n].shape[0] if n in params else None)
        for n, c in plan(width)
        if n not in params or params[n].shape[0] != c
    ]
    if wrong:
        found = "; ".join(f"{n}: expected {c} channels, found {'none' if f is None else f}" for n, c, f in wrong[:4])
        raise CheckpointMismatchError(
            f"the checkpoint is not a {family} of width {width} (read from {last} {tuple(params[last].shape)}): "
            f"{found}{' ...' if len(wrong) > 4 else ''}"
        )
    num_classes = int(params["classifier.weight"].shape[0]) if "classifier.weight" in params else 0
    return Fit(family, width, num_classes, int(params["conv_stem.weight"].shape[1]))


def model_options(params: Mapping[str, np.ndarray], layout: str) -> dict:
    """Builder keyword arguments beyond :class:`~ghosthub.architectures.hooks.Fit` that a checkpoint needs.

    Parameters
    ----------
    params : mapping of str to numpy.ndarray
        Parameters under ghosthub names.
    layout : str
        The layout they came from.

    Returns
    -------
    dict
        ``upsample`` for GhostNetV2 ("bilinear" for the model zoo's weights, "nearest" otherwise),
        ``num_features`` when the head is not as wide as the family's default (1280; 1400 for 600M).
    """
    options = {}
    if any(".short_conv." in n for n in params):
        options["upsample"] = "bilinear" if layout == "modelzoo-v2" else "nearest"
    head = params.get("conv_head.weight")
    if head is not None and head.shape[0] != _HEAD_FEATURES[_family(params)]:
        options["num_features"] = int(head.shape[0])
    return options


class GhostNetLayouts(WeightLayouts):
    """The family's hooks for :mod:`ghosthub.weights.plan`: the six layouts above, V3 fused, shapes read."""

    names = LAYOUTS
    native = NATIVE_LAYOUTS

    def detect(self, names: list[str]) -> str:
        return detect_layout(names)

    def to_network(self, params: Mapping[str, np.ndarray], layout: str, *, shapes_only: bool = False) -> dict:
        return to_ghosthub(params, layout, shapes_only=shapes_only)

    def infer(self, params: Mapping[str, np.ndarray]) -> Fit:
        return infer_architecture(params)

    def options(self, params: Mapping[str, np.ndarray], layout: str, architecture: str) -> dict:
        options = model_options(params, layout)
        if architecture not in ("ghostnetv2", "ghostnetv3"):
            # Only V2's gate upsamples: built as another family, the strict check says what differs.
            options.pop("upsample", None)
        return options


HOOKS = GhostNetLayouts()
