"""GhostNetV3's re-parameterisation: training-form branches folded into the GhostNetV2 (deploy) topology.

Every branch of a V3 block is linear (conv + BN, 1x1 conv + BN, BN on the identity), so each group
sums to one convolution with a bias, computed here in float64 with numpy alone. GhostNetV3 therefore
needs no network of its own: the ``timm-v3`` layout (:mod:`.layouts`) folds its weights into V2's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ...errors import CheckpointMismatchError

__all__ = ["BN_EPS", "fuse_v3", "put_unique"]

BN_EPS = 1e-5  # torch's and MindSpore's BatchNorm default, used by every GhostNet source


def put_unique(out: dict, target: str, value, source: str) -> None:
    """``out[target] = value``; CheckpointMismatchError when an earlier entry mapped there too."""
    if target in out:
        raise CheckpointMismatchError(f"two checkpoint entries map to {target!r} (one of them {source!r})")
    out[target] = value


# One re-parameterisation branch entry: <owner><group>_rpr_<branch>.<leaf>, where group is primary
# or cheap (inside a ghost module) or dw (the bottleneck's strided depth-wise conv), and branch is
# conv.<i> (conv + BN), scale (1x1 conv + BN) or skip (BN on the identity).
_RPR = re.compile(r"^(?P<owner>.*?)(?P<group>primary|cheap|dw)_rpr_(?P<branch>conv\.\d+|scale|skip)\.(?P<leaf>.+)$")
# Where each group's fused conv and its bias go in the V2 topology (timm names, relative to owner).
_V3_SLOTS = {
    "primary": ("primary_conv.0", "primary_conv.1"),
    "cheap": ("cheap_operation.0", "cheap_operation.1"),
    "dw": ("conv_dw", "bn_dw"),
}


_BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def _bn_scale(bn: Mapping[str, np.ndarray], where: str, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """A BatchNorm's inference form as (scale, shift), in float64: y = scale * x + shift."""
    try:
        gamma, beta, mean, var = (np.asarray(bn[k], np.float64) for k in _BN_KEYS)
    except KeyError as e:
        raise CheckpointMismatchError(f"GhostNetV3 branch {where!r} lacks its BatchNorm {e.args[0]!r}") from None
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def _fuse_group(branches: dict, where: str, eps: float, shapes_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sum one group's branches (leaf dicts by branch name) into one kernel and bias, in float64.

    Each branch is added in place where it acts: a 1x1 branch at the kernel's centre, the identity
    branch at each channel's own centre tap, so no padded or identity kernel is ever built.
    With ``shapes_only`` the branches are checked but nothing is computed: zero-cost stand-ins.
    """
    convs = sorted((b for b in branches if b.startswith("conv.")), key=lambda b: int(b[5:]))
    if not convs or "conv.weight" not in branches[convs[0]]:
        raise CheckpointMismatchError(f"GhostNetV3 group {where!r} has no conv branch ({where}_rpr_conv.0.conv.weight)")
    shape = branches[convs[0]]["conv.weight"].shape
    folds = [(b, _bn_leaves(branches[b])) for b in (*convs, "scale") if b in branches]
    if "skip" in branches:
        folds.append(("skip", branches["skip"]))
    if shapes_only:
        for branch, bn in folds:
            missing = [k for k in _BN_KEYS if k not in bn]
            if missing:
                raise CheckpointMismatchError(
                    f"GhostNetV3 branch {where}_rpr_{branch!r} lacks its BatchNorm {missing[0]!r}"
                )
        stand_in = np.lib.stride_tricks.as_strided
        return (
            stand_in(np.zeros(1, np.float32), shape, (0,) * len(shape), writeable=False),
            stand_in(np.zeros(1, np.float32), shape[:1], (0,), writeable=False),
        )
    kernel, bias = np.zeros(shape, np.float64), np.zeros(shape[0], np.float64)
    for branch, bn in folds:
        scale, shift = _bn_scale(bn, f"{where}_rpr_{branch}", eps)
        bias += shift
        if branch == "skip":
            # A BN on the identity: 1 at the centre tap, from each channel's own input within its group.
            c = np.arange(shape[0])
            kernel[c, c % shape[1], shape[2] // 2, shape[3] // 2] += scale
            continue
        w = np.asarray(branches[branch]["conv.weight"], np.float64)
        # A 1x1 branch is a k x k kernel zero but at its centre (the k x k conv pads by (k - 1) / 2).
        top, left = (shape[2] - w.shape[2]) // 2, (shape[3] - w.shape[3]) // 2
        kernel[:, :, top : top + w.shape[2], left : left + w.shape[3]] += w * scale[:, None, None, None]
    return kernel, bias


def _bn_leaves(leaves: Mapping[str, np.ndarray]) -> dict:
    """A conv branch's BN leaves: its child is bn1 in timm, bn in Huawei's original code."""
    for child in ("bn1.", "bn."):
        found = {k[len(child) :]: v for k, v in leaves.items() if k.startswith(child)}
        if found:
            return found
    return {}


def fuse_v3(params: Mapping[str, np.ndarray], eps: float = BN_EPS, *, shapes_only: bool = False) -> dict:
    """Fold GhostNetV3 training-form weights into the GhostNetV2 (deploy) topology.

    Every re-parameterisation branch of V3 (``*_rpr_conv.{i}`` conv + BN, ``*_rpr_scale`` 1x1
    conv + BN, ``*_rpr_skip`` BN on the identity) is linear, so each group sums to one conv with a
    bias. The V2 topology has conv + BN slots where V3 deploys a biased conv: the bias is written
    as a BN with gamma=1, beta=bias, mean=0, var=1-eps, which is the identity plus the bias.
    Arithmetic is float64, rounded once to float32.

    Parameters
    ----------
    params : mapping of str to numpy.ndarray
        timm (``bn1``) or Huawei (``bn``) V3 training-form names, PyTorch BN leaves.
    eps : float
        The branches' BatchNorm epsilon (1e-5 in timm and Huawei's code).
    shapes_only : bool
        Check the branches and give zero-cost stand-ins of the fused shapes (for checking a file's
        header against a network before its tensors are read).

    Returns
    -------
    dict
        timm V2 names (``primary_conv.{0,1}``, ``cheap_operation.{0,1}``, ``conv_dw``/``bn_dw``),
        PyTorch BN leaves; every other entry passes through. Map it with the ``timm`` layout.

    Raises
    ------
    CheckpointMismatchError
        A group without a conv branch, or a branch without its BatchNorm.
    """
    out, groups = {}, {}
    # One pass over the names: branch entries are grouped, everything else passes through.
    for name, value in params.items():
        m = _RPR.match(name) if "_rpr_" in name else None  # the lazy regex is slow on every name
        if m is None:
            out[name] = value
            continue
        group = groups.setdefault((m["owner"], m["group"]), {})
        group.setdefault(m["branch"], {})[m["leaf"]] = value
    for (owner, group), branches in groups.items():
        kernel, bias = _fuse_group(branches, f"{owner}{group}", eps, shapes_only)
        conv_slot, bn_slot = _V3_SLOTS[group]
        c = kernel.shape[0]
        if shapes_only:
            fused = {f"{owner}{conv_slot}.weight": kernel}
            fused.update({f"{owner}{bn_slot}.{leaf}": bias for leaf in _BN_KEYS})
            for name, value in fused.items():
                put_unique(out, name, value, name)
            continue
        fused = {
            f"{owner}{conv_slot}.weight": kernel.astype(np.float32),
            f"{owner}{bn_slot}.weight": np.ones(c, np.float32),
            f"{owner}{bn_slot}.bias": bias.astype(np.float32),
            f"{owner}{bn_slot}.running_mean": np.zeros(c, np.float32),
            f"{owner}{bn_slot}.running_var": np.full(c, 1.0 - eps, np.float32),
        }
        for name, value in fused.items():
            put_unique(out, name, value, name)
    return out
