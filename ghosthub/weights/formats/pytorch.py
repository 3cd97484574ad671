"""PyTorch weights (``.pth``, ``.pth.tar``, ``.bin``) into ``name -> numpy array``, through an optional torch.

PyTorch pickles need torch, which ghosthub does not require: it is imported only here, only when
such a file is read, and its absence is a :class:`~ghosthub.errors.WeightsError` saying how to
install it (``pip install 'ghosthub[torch]'``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from ...errors import WeightsError
from ._common import file_size

__all__ = ["read_torch", "unwrap_state_dict"]


def unwrap_state_dict(obj, *, ema: bool = False) -> Mapping:
    """Find the parameter dict inside a PyTorch training checkpoint.

    timm's train script saves ``{"state_dict", "state_dict_ema", "optimizer", "args", ...}``,
    other scripts ``{"model": ...}``; a bare state dict is returned as is. A ``module.`` prefix
    on every key (a model saved inside DataParallel) is removed.

    Parameters
    ----------
    obj : mapping
        What ``torch.load`` returned.
    ema : bool
        Prefer the EMA weights (``state_dict_ema``) when the checkpoint has both.

    Returns
    -------
    mapping
    """
    if not isinstance(obj, Mapping):
        raise WeightsError(f"the file holds a {type(obj).__name__}, not a dict of tensors (a whole pickled model?)")
    order = ("state_dict_ema", "state_dict", "model") if ema else ("state_dict", "state_dict_ema", "model")
    for key in order:
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if obj and all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def read_torch(path: str | os.PathLike, *, ema: bool = False) -> dict[str, np.ndarray]:
    """Read a PyTorch ``.pth`` / ``.pth.tar`` / ``.bin`` into numpy arrays (needs torch).

    Loaded with ``torch.load(weights_only=True)``, which refuses arbitrary pickled code; the
    ``argparse.Namespace`` that timm's train script stores beside the weights is allowed.

    Parameters
    ----------
    path : str or os.PathLike
    ema : bool
        Take ``state_dict_ema`` rather than ``state_dict`` when the file has both.

    Returns
    -------
    dict of str to numpy.ndarray
        Tensors only (bfloat16 widened to float32); other entries are dropped.

    Raises
    ------
    WeightsError
        torch is not installed, or the file cannot be loaded safely or holds no tensors.
    """
    path = os.fspath(path)
    file_size(path)
    try:
        import torch
    except ImportError:
        raise WeightsError(
            f"{path!r} is a PyTorch checkpoint, and reading it needs torch, which is not installed: "
            "pip install 'ghosthub[torch]' (or pip install torch), or convert it to .safetensors elsewhere"
        ) from None
    import argparse

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"cannot load {path!r} with torch.load(weights_only=True): {reason}") from None
    out = {}
    for name, value in unwrap_state_dict(obj, ema=ema).items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.dtype == torch.bfloat16:
                value = value.float()
            out[name] = value.numpy()
    if not out:
        raise WeightsError(f"{path!r} holds no tensors")
    return out
