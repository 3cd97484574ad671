"""Weights file formats: told apart by content, scanned without reading a tensor, read into numpy arrays.

One module per format: :mod:`.ckpt` (MindSpore's protobuf, walked field by field),
:mod:`.safetensors` (validated JSON header) and :mod:`.pytorch` (``torch.load``, optional). This
module tells them apart and gives one answer to "what does this file declare?"
(:func:`scan_weights`), so that names and shapes are checked against a network before any
tensor is read. Nothing here imports MindSpore.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

from ...errors import WeightsError
from ._common import TensorInfo, file_size
from .ckpt import CKPT_DTYPES, read_ckpt_arrays, scan_ckpt
from .pytorch import read_torch, unwrap_state_dict
from .safetensors import MAX_HEADER, read_safetensors, read_safetensors_header, write_safetensors

__all__ = [
    "CKPT_DTYPES",
    "TensorInfo",
    "read_arrays",
    "read_ckpt_arrays",
    "read_foreign",
    "read_safetensors",
    "read_safetensors_header",
    "read_torch",
    "record_text",
    "scan_ckpt",
    "scan_weights",
    "sniff",
    "stubs",
    "unwrap_state_dict",
    "write_safetensors",
]


def sniff(path: str | os.PathLike) -> str:
    """Tell a weights file's format from its first bytes.

    Returns
    -------
    str
        "safetensors", "torch" (a zip archive, as ``torch.save`` writes since 1.6, or a legacy
        pickle) or "ckpt" (anything else is read as MindSpore's protobuf, which has no magic number).
    """
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors: an 8-byte little-endian header length (at most 100 MiB by its spec), then a
    # JSON object. A protobuf .ckpt starts with a field tag and a parameter name instead.
    if len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= MAX_HEADER:
        return "safetensors"
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":  # zip, or pickle protocol >= 2
        return "torch"
    return "ckpt"


def scan_weights(path: str | os.PathLike) -> tuple[str, dict[str, TensorInfo] | None, dict[str, str]]:
    """Format, declared tensors and text entries of a weights file, read without materialising a tensor.

    Returns
    -------
    format : str
        "ckpt", "safetensors" or "torch".
    tensors : dict of str to TensorInfo, or None
        None for a PyTorch pickle, which cannot be scanned without unpickling it.
    texts : dict of str to str
        ckpt string entries, or the safetensors ``__metadata__``.

    Raises
    ------
    WeightsError
        Missing, empty, truncated or corrupt, or a tensor that declares more bytes than the file holds.
    """
    path = os.fspath(path)
    file_size(path)
    kind = sniff(path)
    if kind == "safetensors":
        entries, metadata, _ = read_safetensors_header(path)
        tensors = {
            name: TensorInfo("bf16" if dtype == "BF16" else np.dtype(np_dtype).str, shape, end - begin)
            for name, dtype, np_dtype, shape, begin, end in entries
        }
        return "safetensors", tensors, metadata
    if kind == "torch":
        return "torch", None, {}
    tensors, texts = scan_ckpt(path)
    return "ckpt", tensors, texts


def read_arrays(path: str | os.PathLike, fmt: str, tensors: dict[str, TensorInfo]) -> dict[str, np.ndarray]:
    """Every tensor of a scanned ``.ckpt`` or ``.safetensors`` file as a numpy array (bfloat16 widened)."""
    if fmt == "safetensors":
        return read_safetensors(path)
    return read_ckpt_arrays(path, tensors)


def stubs(tensors: dict[str, TensorInfo]) -> dict[str, np.ndarray]:
    """Arrays of the declared shapes that cost no memory (zero strides), for mapping names and checking shapes."""
    out, zeros = {}, {}
    for name, info in tensors.items():
        dtype = "<f4" if info.dtype == "bf16" else info.dtype
        if dtype not in zeros:
            zeros[dtype] = np.zeros((), dtype)
        out[name] = np.broadcast_to(zeros[dtype], info.shape)  # read-only, zero strides
    return out


def record_text(texts: dict[str, str], key: str) -> dict | None:
    """A JSON object stored as text under ``key`` (ghosthub's record), or None."""
    try:
        value = json.loads(texts[key])
    except (KeyError, ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def read_foreign(path: str | os.PathLike, *, ema: bool = False) -> dict[str, np.ndarray]:
    """Read a safetensors or PyTorch weights file, told apart by content.

    Parameters
    ----------
    path : str or os.PathLike
    ema : bool
        For PyTorch training checkpoints: take the EMA weights.

    Returns
    -------
    dict of str to numpy.ndarray

    Raises
    ------
    WeightsError
        Neither format (a MindSpore ``.ckpt`` is read by ghosthub's checkpoint reader instead), or
        the file is unreadable.
    """
    path = os.fspath(path)
    file_size(path)
    kind = sniff(path)
    if kind == "safetensors":
        return read_safetensors(path)
    if kind == "torch":
        return read_torch(path, ema=ema)
    raise WeightsError(
        f"{path!r} is neither safetensors nor a PyTorch checkpoint (a MindSpore .ckpt is read with "
        "ghosthub.weights.checkpoint.read_checkpoint)"
    )
