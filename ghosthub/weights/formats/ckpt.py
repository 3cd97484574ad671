"""MindSpore's protobuf ``.ckpt``: every tensor's declared name, dtype and shape, read without materialising one.

A checkpoint's sizes come from its own header, and a hostile or corrupt one can claim any shape:
MindSpore's reader allocates ``prod(dims)`` before it compares with the bytes present (a 43-byte
``.ckpt`` claiming dims [10^9] costs 4 GiB). So every file is scanned first: each declared tensor
must be exactly as large as the bytes the file holds for it, which caps what reading it can cost
by the file's real size, and the names and shapes can be checked against the network before any
tensor is read.

MindSpore's ``.ckpt`` is protobuf (``checkpoint.proto``)::

    message Checkpoint { message Value { required string tag = 1; TensorProto tensor = 2;
                                         MapTensorProto maptensor = 3; }
                         repeated Value value = 1; }
    message TensorProto { repeated int64 dims = 1; required string tensor_type = 2;
                          required bytes tensor_content = 3; }

It is walked here field by field, seeking over ``tensor_content``; a large tensor is written as
consecutive values with the same tag whose contents add up.
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import WeightsError
from ._common import TensorInfo

__all__ = ["CKPT_DTYPES", "read_ckpt_arrays", "scan_ckpt"]

# MindSpore tensor_type -> numpy dtype ("str" holds UTF-32 text, e.g. ghosthub's record).
CKPT_DTYPES = {
    "Int8": "i1",
    "UInt8": "u1",
    "Int16": "<i2",
    "UInt16": "<u2",
    "Int32": "<i4",
    "UInt32": "<u4",
    "Int64": "<i8",
    "UInt64": "<u8",
    "Float16": "<f2",
    "Float32": "<f4",
    "Float64": "<f8",
    "Bool": "?",
    "BFloat16": "<u2",
}
_MAX_TEXT = 1 << 20  # a string entry (a record) read into memory at most


def _varint(f, where: str) -> int:
    shift = result = 0
    while True:
        byte = f.read(1)
        if not byte:
            raise WeightsError(f"{where}: the file ends inside a protobuf field (truncated)")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise WeightsError(f"{where}: a protobuf varint longer than 10 bytes (corrupt)")


def _fields(f, end: int, where: str):
    """(field number, wire type, value or (offset, length)) of each field up to ``end``."""
    while f.tell() < end:
        key = _varint(f, where)
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, _varint(f, where)
        elif wire == 2:
            length = _varint(f, where)
            start = f.tell()
            if start + length > end:
                raise WeightsError(
                    f"{where}: field {number} claims {length} bytes but only {end - start} remain "
                    "(truncated or not a MindSpore checkpoint)"
                )
            yield number, wire, (start, length)
            f.seek(start + length)
        elif wire == 1:
            f.seek(8, os.SEEK_CUR)
            yield number, wire, None
        elif wire == 5:
            f.seek(4, os.SEEK_CUR)
            yield number, wire, None
        else:
            raise WeightsError(f"{where}: protobuf wire type {wire} at byte {f.tell()} (not a MindSpore checkpoint)")
    if f.tell() != end:
        raise WeightsError(f"{where}: a protobuf field runs past its message (corrupt)")


def _tensor(f, start: int, length: int, where: str) -> tuple[list, str, int, int]:
    """(dims, tensor_type, content offset, content length) of one TensorProto."""
    dims, dtype, content = [], None, None
    f.seek(start)
    for number, wire, value in _fields(f, start + length, where):
        if number == 1 and wire == 0:
            dims.append(value)
        elif number == 1 and wire == 2:  # packed dims
            offset, size = value
            f.seek(offset)
            while f.tell() < offset + size:
                dims.append(_varint(f, where))
        elif number == 2 and wire == 2:
            f.seek(value[0])
            dtype = f.read(min(value[1], 64)).decode("ascii", "replace")
            f.seek(value[0] + value[1])
        elif number == 3 and wire == 2:
            content = value
    if dtype is None or content is None:
        raise WeightsError(f"{where}: a tensor without its type or content (not a MindSpore checkpoint)")
    return dims, dtype, content[0], content[1]


def scan_ckpt(path: str | os.PathLike) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Walk a MindSpore protobuf ``.ckpt``: every tensor's declared dtype and shape, checked against its bytes.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    tensors : dict of str to TensorInfo
        In file order.
    texts : dict of str to str
        String entries (``append_dict`` values such as ghosthub's record), up to 1 MiB each.

    Raises
    ------
    WeightsError
        Not a protobuf checkpoint, truncated, an unknown tensor type, a negative dimension, or a
        tensor whose shape needs more (or fewer) bytes than the file holds for it.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    where = f"checkpoint {path!r} ({size} bytes)"
    tensors, texts, parts = {}, {}, {}
    with open(path, "rb", buffering=1 << 16) as f:
        end = size
        if size >= 17:  # MindSpore's crc_check=True appends b"crc_num" and a 10-byte CRC after the message
            f.seek(size - 17)
            if f.read(7) == b"crc_num":
                end = size - 17
            f.seek(0)
        for number, wire, value in _fields(f, end, where):
            if number != 1 or wire != 2:
                continue  # not a Checkpoint.value: skipped, as protobuf does
            start, length = value
            tag, tensor = None, None
            f.seek(start)
            for n, w, v in _fields(f, start + length, where):
                if n == 1 and w == 2:
                    f.seek(v[0])
                    tag = f.read(v[1]).decode("utf-8", "replace")
                    f.seek(v[0] + v[1])
                elif n == 2 and w == 2:
                    tensor = v
            f.seek(start + length)
            if tag is None or tensor is None:
                continue  # a map tensor (parameter server embeddings): not a network weight
            dims, dtype, offset, nbytes = _tensor(f, *tensor, f"{where}: tensor {tag!r}")
            f.seek(start + length)
            if dtype == "str":
                if nbytes <= _MAX_TEXT:
                    f.seek(offset)
                    raw = f.read(nbytes)
                    f.seek(start + length)
                    texts[tag] = raw.decode("utf-32-le", "replace").rstrip("\x00")
                continue
            if dtype not in CKPT_DTYPES:
                raise WeightsError(f"{where}: tensor {tag!r} has unknown type {dtype!r}")
            previous = parts.get(tag)
            if previous is not None and previous[0] == (tuple(dims), dtype):
                # one more slice of a large tensor
                parts[tag] = (previous[0], previous[1] + nbytes, previous[2] + ((offset, nbytes),))
            else:
                parts[tag] = ((tuple(dims), dtype), nbytes, ((offset, nbytes),))
    for tag, ((dims, dtype), nbytes, spans) in parts.items():
        shape = () if dims == (0,) else dims  # MindSpore writes a scalar as dims [0]
        if any(d < 0 or d >= 1 << 62 for d in shape):
            raise WeightsError(f"{where}: tensor {tag!r} declares dims {list(dims)}")
        need = int(np.prod(shape, dtype=object)) * np.dtype(CKPT_DTYPES[dtype]).itemsize
        if need != nbytes:
            raise WeightsError(
                f"{where}: tensor {tag!r} declares {dtype} {list(dims)} ({need} bytes) but the file holds "
                f"{nbytes} bytes for it: corrupt or hostile, not read"
            )
        tensors[tag] = TensorInfo(
            "bf16" if dtype == "BFloat16" else np.dtype(CKPT_DTYPES[dtype]).str, shape, nbytes, spans
        )
    return tensors, texts


def read_ckpt_arrays(path: str | os.PathLike, tensors: dict[str, TensorInfo]) -> dict[str, np.ndarray]:
    """Read scanned ``.ckpt`` tensors straight into numpy arrays (bfloat16 widened to float32).

    Each array costs exactly the bytes the file holds for it (checked by :func:`scan_ckpt`).
    """
    out = {}
    with open(path, "rb") as f:
        for name, info in tensors.items():
            if not info.parts:
                continue
            buffer = bytearray(info.nbytes)
            view, at = memoryview(buffer), 0
            for offset, length in info.parts:
                f.seek(offset)
                if f.readinto(view[at : at + length]) != length:
                    raise WeightsError(
                        f"checkpoint {os.fspath(path)!r} ended while reading {name!r} (changed on disk?)"
                    )
                at += length
            dtype = "<u2" if info.dtype == "bf16" else info.dtype
            array = np.frombuffer(buffer, dtype=dtype).reshape(info.shape)
            if info.dtype == "bf16":
                array = (array.astype("<u4") << 16).view("<f4")
            out[name] = array
    return out
