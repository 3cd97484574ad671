"""Inspecting and converting weights files: what a file holds, and the same weights in the network's names."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .._utils.hashes import file_hash
from ..architectures import find_architecture
from ..constants import CHECKPOINT_RECORD_KEY as INFO_KEY
from ..errors import WeightsError
from ..preprocessing import Preprocessing
from .formats import write_safetensors
from .plan import plan_weights, read_mapped

__all__ = ["convert_weights", "describe_weights"]


def describe_weights(
    path: str | os.PathLike, *, layout: str | None = None, architecture: str | None = None
) -> dict[str, Any]:
    """What ``ghosthub inspect`` prints: architecture (``family``), width, classes, layout, parameter count,
    SHA-256, record.

    Reads the header only (and hashes the file); no tensor is materialised and MindSpore is not imported.
    ``architecture`` names it for weights whose names do not say (another library's).
    """
    plan = plan_weights(path, layout=layout, architecture=architecture)
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
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layout: str | None = None,
    record: dict | None = None,
    architecture: str | None = None,
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
    architecture : str, optional
        The architecture, for weights whose names do not say it.

    Returns
    -------
    dict
        ``out``, ``sha256`` of the written file, ``layout`` converted from, ``architecture``.
    """
    out = os.fspath(out)
    suffix = os.path.splitext(out)[1].lower()
    if suffix not in (".ckpt", ".safetensors"):
        raise WeightsError(f"cannot write {out!r}: convert writes .ckpt or .safetensors")
    plan = plan_weights(src, layout=layout, architecture=architecture)
    params = read_mapped(plan)
    arch = plan.architecture
    spec = find_architecture(arch.family)[0]
    defaults = Preprocessing.from_record(spec.default_cfg()).record(arch.in_channels)
    info = {**defaults, **(plan.record or {}), **(record or {})}
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
