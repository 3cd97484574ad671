"""safetensors files: read, validated header first, and written, with numpy alone.

safetensors is parsed here with numpy alone: an 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the raw
little-endian tensor bytes. The whole header is validated against the file size before any
tensor is read, so a truncated or hostile file fails with a clear message instead of a huge
allocation or a silent short read.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
from collections.abc import Mapping

import numpy as np

from ...errors import WeightsError
from ._common import file_size

__all__ = ["MAX_HEADER", "read_safetensors", "read_safetensors_header", "write_safetensors"]

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
MAX_HEADER = 100 * 2**20  # the format's own limit on the JSON header


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
    data_size = file_size(path) - data_start
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
    size = file_size(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise WeightsError(
                f"{path!r} ({size} bytes) is too short to be a safetensors file (no 8-byte header length)"
            )
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(MAX_HEADER, size - 8):
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
    from ..._utils.fs import atomic_write

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
