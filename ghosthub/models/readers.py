"""Read foreign weight files (safetensors, PyTorch .pth / .pth.tar) into ``name -> numpy array``.

safetensors is parsed here with numpy alone: an 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the raw
little-endian tensor bytes. The whole header is validated against the file size before any
tensor is read, so a truncated or hostile file fails with a clear message instead of a huge
allocation or a silent short read.

PyTorch pickles need torch, which ghosthub does not require: it is imported only here, only when
such a file is read, and its absence is a :class:`~ghosthub.errors.WeightsError` saying how to
install it (``pip install 'ghosthub[torch]'``).
"""

from __future__ import annotations

import itertools
import json
import os
import struct
from collections.abc import Mapping

import numpy as np

from ..errors import WeightsError

__all__ = [
    "read_foreign",
    "read_safetensors",
    "read_safetensors_header",
    "read_torch",
    "sniff",
    "unwrap_state_dict",
    "write_safetensors",
]

# safetensors dtype -> numpy dtype (little-endian, as the format stores). BF16 has no numpy
# dtype: it is widened to float32, exactly (bfloat16 is the top half of a float32).
_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}
_MAX_HEADER = 100 * 2**20  # the format's own limit on the JSON header


def sniff(path: str | os.PathLike) -> str:
    """Tell a weights file's format from its first bytes.

    Returns
    -------
    str
        "safetensors", "torch" (a zip archive, as ``torch.save`` writes since 1.6, or a legacy
        pickle) or "unknown" (e.g. a MindSpore protobuf ``.ckpt``).
    """
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= _MAX_HEADER:
        return "safetensors"
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":  # zip, or pickle protocol >= 2
        return "torch"
    return "unknown"


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a .safetensors file into numpy arrays, without torch, safetensors or MindSpore.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict of str to numpy.ndarray
        Every tensor, by name, in the order of their data in the file. BF16 comes back as float32.

    Raises
    ------
    WeightsError
        Missing or empty file, a header longer than the file or than 100 MiB, invalid JSON,
        an unknown dtype, a bad shape, offsets that do not match the shape or lie outside the
        file, or overlapping tensors. All checked before any tensor is read.
    """
    path = os.fspath(path)
    entries, _, data_start = read_safetensors_header(path)
    data_size = _file_size(path) - data_start
    with open(path, "rb") as f:
        f.seek(data_start)
        # One read of the data section; every array is a view of it (no second copy).
        data = bytearray(data_size)
        if f.readinto(data) != data_size:
            raise WeightsError(f"{path!r}: the file ended while reading its tensor data (truncated)")
    out = {}
    for name, dtype, np_dtype, shape, begin, end in entries:
        array = np.frombuffer(
            data, dtype=np_dtype, count=(end - begin) // np.dtype(np_dtype).itemsize, offset=begin
        ).reshape(shape)
        if dtype == "BF16":
            array = (array.astype("<u4") << 16).view("<f4")
        out[name] = array
    return out


def read_safetensors_header(path: str | os.PathLike) -> tuple[list[tuple], dict[str, str], int]:
    """A safetensors file's validated header, read without its tensor data.

    Returns
    -------
    entries : list of tuple
        ``(name, dtype, numpy dtype, shape, begin, end)`` by offset; every entry's byte count
        matches its shape and lies inside the file.
    metadata : dict of str to str
        The header's ``__metadata__`` (empty when absent).
    data_start : int
        Where the data section begins in the file.

    Raises
    ------
    WeightsError
        As :func:`read_safetensors`.
    """
    path = os.fspath(path)
    size = _file_size(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise WeightsError(
                f"{path!r} ({size} bytes) is too short to be a safetensors file (no 8-byte header length)"
            )
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(_MAX_HEADER, size - 8):
            raise WeightsError(
                f"{path!r}: the safetensors header claims {header_len} bytes but the file has {size - 8} after "
                "the length field (truncated, or not a safetensors file)"
            )
        try:
            header = json.loads(f.read(header_len).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise WeightsError(f"{path!r}: the safetensors header is not valid JSON ({e})") from None
    entries = _validate_header(path, header, size - 8 - header_len)
    metadata = header.get("__metadata__")
    metadata = {str(k): v for k, v in metadata.items() if isinstance(v, str)} if isinstance(metadata, dict) else {}
    return [(n, d, _DTYPES[d], s, b, e) for n, d, s, b, e in entries], metadata, 8 + header_len


def write_safetensors(
    path: str | os.PathLike, params: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> None:
    """Write arrays as a .safetensors file (atomically), without torch or MindSpore.

    Parameters
    ----------
    path : str or os.PathLike
    params : mapping of str to numpy.ndarray
        float16/32/64 and integer arrays; written little-endian, C order, in the mapping's order.
    metadata : mapping of str to str, optional
        Stored as the header's ``__metadata__``.
    """
    from .._utils.fs import atomic_write

    names = {np.dtype(v).str: k for k, v in _DTYPES.items() if k != "BF16"}
    header, offset, blobs = {}, 0, []
    for name, value in params.items():
        value = np.ascontiguousarray(value)
        dtype = value.dtype.newbyteorder("<") if value.dtype.byteorder == ">" else value.dtype
        value = value.astype(dtype, copy=False)
        if dtype.str not in names:
            raise WeightsError(f"cannot write {name!r} to safetensors: dtype {dtype} has no safetensors type")
        blob = value.tobytes()
        header[name] = {
            "dtype": names[dtype.str],
            "shape": list(value.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned, as safetensors writes it
    atomic_write(path, struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _validate_header(path: str, header, data_size: int) -> list[tuple]:
    """Check every header entry; return (name, dtype, shape, begin, end) sorted by offset."""
    if not isinstance(header, dict):
        raise WeightsError(f"{path!r}: the safetensors header is a JSON {type(header).__name__}, not an object")
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        where = f"{path!r}: tensor {name!r}"
        if not name or not isinstance(info, dict):
            raise WeightsError(f"{where}: header entry is not an object with dtype, shape and data_offsets")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPES:
            raise WeightsError(f"{where}: unknown dtype {dtype!r} (known: {', '.join(_DTYPES)})")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise WeightsError(f"{where}: shape {shape!r} is not a list of non-negative integers")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise WeightsError(f"{where}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(_DTYPES[dtype]).itemsize
        if not 0 <= begin <= end <= data_size:
            raise WeightsError(
                f"{where}: data_offsets [{begin}, {end}] outside the {data_size}-byte data section (truncated file?)"
            )
        if end - begin != nbytes:
            raise WeightsError(f"{where}: {end - begin} bytes for a {dtype} tensor of shape {shape} ({nbytes} bytes)")
        entries.append((name, dtype, tuple(shape), begin, end))
    entries.sort(key=lambda e: (e[3], e[4]))
    for a, b in itertools.pairwise(entries):
        if b[3] < a[4]:
            raise WeightsError(f"{path!r}: tensors {a[0]!r} and {b[0]!r} overlap in the data section")
    return entries


def _file_size(path: str) -> int:
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path!r} does not exist or is not a regular file")
    size = os.path.getsize(path)
    if size == 0:
        raise WeightsError(f"weights file {path!r} is empty (0 bytes)")
    return size


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
    _file_size(path)
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
    _file_size(path)
    kind = sniff(path)
    if kind == "safetensors":
        return read_safetensors(path)
    if kind == "torch":
        return read_torch(path, ema=ema)
    raise WeightsError(
        f"{path!r} is neither safetensors nor a PyTorch checkpoint (a MindSpore .ckpt is read with "
        "ghosthub's checkpoint reader)"
    )
