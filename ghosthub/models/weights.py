"""Any GhostNet weights file -> a network: scan, detect the layout, map, infer the architecture, strict load.

The order is the point: a file's header (safetensors JSON, the ``.ckpt`` protobuf fields) gives every
tensor's name, dtype and shape without reading a tensor (:mod:`ghosthub.models.scan`); the names give
the layout, the mapped names and shapes give the architecture, and the network built from it is
checked against those shapes. Only then are the tensors read, at a cost capped by the file's size.
A file that fits nothing fails before any tensor is read or any MindSpore import, naming what it holds.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from ..errors import CheckpointMismatchError, WeightsError
from .layouts import (
    LAYOUTS,
    Architecture,
    detect_layout,
    infer_architecture,
    model_options,
    split_training_state,
    to_ghosthub,
)
from .scan import TensorInfo, read_ckpt_arrays, record_text, scan_weights, stubs

__all__ = ["WeightsPlan", "plan_tensors", "plan_weights", "read_mapped", "describe_weights", "convert_weights"]

INFO_KEY = "ghosthub"  # the record's entry (checkpoint.INFO_KEY; that module imports MindSpore-side helpers)
NATIVE = ("mindcv", "modelzoo-600m")  # layouts whose names are ghosthub's own
# Backbones that build the same topology as an inferred family (GhostNetV3 deploys as GhostNetV2).
_SAME_TOPOLOGY = {"ghostnetv3": "ghostnetv2"}


class WeightsPlan(NamedTuple):
    """What a weights file is, read from its header alone.

    Attributes
    ----------
    path : str
    format : str
        "ckpt", "safetensors" or "torch".
    layout : str
        One of :data:`ghosthub.models.layouts.LAYOUTS`.
    architecture : Architecture
        Family (or the backbone the caller named), width, classes, input channels.
    options : dict
        Builder options the weights need (``upsample``, ``num_features``).
    record : dict or None
        The record a ghosthub checkpoint carries.
    tensors : dict of str to TensorInfo
        Every tensor the file declares (training state included).
    mapped : dict of str to numpy.ndarray
        Zero-memory stand-ins under ghosthub's names, with the checkpoint's shapes.
    params : dict or None
        The arrays themselves when reading was unavoidable (a PyTorch pickle), else None.
    inferred : Architecture or None
        What the shapes alone say (None when they match no GhostNet).
    """

    path: str
    format: str
    layout: str
    architecture: Architecture
    options: dict
    record: dict | None
    tensors: dict
    mapped: dict
    params: dict | None
    inferred: Architecture | None = None

    @property
    def dropped(self) -> list[str]:
        """Training-state entries (optimizer slots, step counters) the load leaves out."""
        return split_training_state(self.tensors)[1]

    @property
    def parameter_count(self) -> int:
        """Trainable values of the network (BatchNorm running statistics excluded, as timm counts)."""
        return sum(
            int(np.prod(v.shape))
            for n, v in self.mapped.items()
            if not n.endswith((".moving_mean", ".moving_variance"))
        )


def plan_weights(
    path: str | os.PathLike, *, layout: str | None = None, backbone: str | None = None, width: float | None = None
) -> WeightsPlan:
    """Read a weights file's header and decide how it loads: layout, architecture, builder options.

    Parameters
    ----------
    path : str or os.PathLike
        ``.ckpt`` (MindSpore), ``.safetensors``, or ``.pth``/``.pth.tar`` (needs torch).
    layout : str, optional
        The layout a card names (``weights-layout:``); detected from the names otherwise, and a
        named one that the names contradict is an error.
    backbone, width : optional
        What a card or the caller says; the weights must agree. Missing ones come from the
        checkpoint's record, else from its shapes.

    Returns
    -------
    WeightsPlan

    Raises
    ------
    WeightsError
        Unreadable file, unknown layout, a non-float parameter.
    CheckpointMismatchError
        Shapes no GhostNet explains, or that contradict ``backbone``/``width``.
    """
    path = os.fspath(path)
    fmt, tensors, texts = scan_weights(path)
    params = None
    if tensors is None:  # a PyTorch pickle has no header: read it (torch.load, weights only)
        from .readers import read_torch

        params = read_torch(path)
        tensors = {
            n: TensorInfo(np.asarray(v).dtype.str, tuple(v.shape), int(np.asarray(v).nbytes)) for n, v in params.items()
        }
    return plan_tensors(
        tensors,
        path=path,
        fmt=fmt,
        record=record_text(texts, INFO_KEY),
        layout=layout,
        backbone=backbone,
        width=width,
        params=params,
    )


def plan_tensors(
    tensors: dict[str, TensorInfo],
    *,
    path: str = "<weights>",
    fmt: str = "ckpt",
    record: dict | None = None,
    layout: str | None = None,
    backbone: str | None = None,
    width: float | None = None,
    params: dict | None = None,
) -> WeightsPlan:
    """:func:`plan_weights` for declared tensors (names, dtypes, shapes) without a file.

    Lets a card's layout and architecture be checked against a network from a name/shape listing.
    """
    names = [n for n in tensors if n != INFO_KEY]
    try:
        found = detect_layout(names)
    except WeightsError as exc:
        raise WeightsError(f"{path!r}: {exc}") from None
    if layout is not None:
        if layout not in LAYOUTS:
            raise WeightsError(f"unknown weights layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
        if layout != found:
            raise WeightsError(
                f"{path!r}: the card says weights-layout {layout!r} but the parameter names are "
                f"{found!r}; fix or remove the card's weights-layout"
            )
    layout = found
    network, _ = split_training_state({n: tensors[n] for n in names})
    mapped = to_ghosthub(stubs(network), layout, shapes_only=True)
    wrong = [f"{n} ({v.dtype})" for n, v in mapped.items() if v.dtype.kind != "f"]
    if wrong:
        raise WeightsError(f"{path!r}: network parameters must be floating point; found {', '.join(wrong[:5])}")
    arch, inferred = _architecture(path, mapped, record if layout in NATIVE else None, backbone, width)
    options = model_options(mapped, layout)
    if layout in NATIVE and record and isinstance(record.get("model_options"), dict):
        options.update(record["model_options"])  # e.g. a converted model-zoo V2's bilinear gate
    return WeightsPlan(path, fmt, layout, arch, options, record, tensors, mapped, params, inferred)


def _architecture(
    path: str, mapped: dict, record: dict | None, backbone: str | None, width: float | None
) -> tuple[Architecture, Architecture | None]:
    """(what to build, what the shapes say): the card's or caller's backbone and width, else the record's,
    else the shapes'. A contradiction is left to the strict shape check, which names every difference."""
    try:
        inferred, problem = infer_architecture(mapped), None
    except CheckpointMismatchError as exc:
        inferred, problem = None, exc
    record = record or {}
    family = (backbone or record.get("backbone") or (inferred.family if inferred else None) or "").lower() or None
    if width is None:
        width = record.get("width") if record.get("width") is not None else (inferred.width if inferred else None)
    if family is None or width is None:
        raise CheckpointMismatchError(f"{path!r}: {problem}") from None
    head = mapped.get("classifier.weight")
    classes = int(head.shape[0]) if head is not None else (inferred.num_classes if inferred else 0)
    stem = mapped.get("conv_stem.weight")
    channels = int(stem.shape[1]) if stem is not None and stem.ndim == 4 else 3
    return Architecture(family, float(width), classes, channels), inferred


def _variant(name: str) -> bool:
    """A variant name (ghostnet_050) fixes its own width; check_model compares it."""
    return "_" in name


def read_mapped(plan: WeightsPlan) -> dict[str, np.ndarray]:
    """The file's tensors under ghosthub's names (training state dropped, V3 fused): read once, now."""
    params = plan.params
    if params is None:
        if plan.format == "safetensors":
            from .readers import read_safetensors

            params = read_safetensors(plan.path)
        else:
            params = read_ckpt_arrays(plan.path, plan.tensors)
    params.pop(INFO_KEY, None)
    return to_ghosthub(params, plan.layout)


def describe_weights(path: str | os.PathLike, *, layout: str | None = None) -> dict[str, Any]:
    """What ``ghosthub inspect`` prints: family, width, classes, layout, parameter count, SHA-256, record.

    Reads the header only (and hashes the file); no tensor is materialised and MindSpore is not imported.
    """
    from .._utils.hashes import file_hash

    plan = plan_weights(path, layout=layout)
    arch = plan.architecture
    return {
        "file": plan.path,
        "format": plan.format,
        "size": os.path.getsize(plan.path),
        "sha256": file_hash(plan.path),
        "family": arch.family,
        "width": arch.width,
        "num_classes": arch.num_classes,
        "in_channels": arch.in_channels,
        "layout": plan.layout,
        "options": plan.options,
        "parameters": plan.parameter_count,
        "tensors": len(plan.mapped),
        "training_state": len(plan.dropped),
        "record": plan.record,
    }


def convert_weights(
    src: str | os.PathLike, out: str | os.PathLike, *, layout: str | None = None, record: dict | None = None
) -> dict[str, Any]:
    """Write a weights file of any supported layout in ghosthub's names, with ghosthub's record.

    Parameters
    ----------
    src : str or os.PathLike
        The source file.
    out : str or os.PathLike
        ``.ckpt`` (MindSpore protobuf, imports MindSpore) or ``.safetensors`` (the record in
        ``__metadata__["ghosthub"]``).
    layout : str, optional
        The source's layout, checked against its names.
    record : dict, optional
        Extra record entries (preprocessing, classes, dataset); the source's own record is kept.

    Returns
    -------
    dict
        ``out``, ``sha256`` of the written file, ``layout`` converted from, ``architecture``.
    """
    import json

    from .._utils.hashes import file_hash
    from ..preprocessing import Preprocessing

    out = os.fspath(out)
    suffix = os.path.splitext(out)[1].lower()
    if suffix not in (".ckpt", ".safetensors"):
        raise WeightsError(f"cannot write {out!r}: convert writes .ckpt or .safetensors")
    plan = plan_weights(src, layout=layout)
    params = read_mapped(plan)
    arch = plan.architecture
    info = {**Preprocessing().record(arch.in_channels), **(plan.record or {}), **(record or {})}
    info.update(
        backbone=arch.family,
        width=arch.width,
        num_classes=arch.num_classes,
        converted_from={"layout": plan.layout, "sha256": file_hash(plan.path)},
    )
    if plan.options:
        info["model_options"] = plan.options
    if suffix == ".safetensors":
        from .checkpoint import INFO_FORMAT
        from .readers import write_safetensors

        text = json.dumps({"format": INFO_FORMAT, **info}, sort_keys=True, separators=(",", ":"))
        write_safetensors(out, {n: np.asarray(v, np.float32) for n, v in params.items()}, {INFO_KEY: text})
        digest = file_hash(out)
    else:
        import mindspore as ms

        from .checkpoint import save_checkpoint

        digest = save_checkpoint(
            [{"name": n, "data": ms.Tensor(np.asarray(v, np.float32))} for n, v in params.items()],
            out,
            {k: v for k, v in info.items() if k != "format"},
        )
    return {"out": out, "sha256": digest, "layout": plan.layout, "architecture": arch._asdict(), "record": info}
