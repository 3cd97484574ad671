"""What every weights format shares: a declared tensor (:class:`TensorInfo`) and the file checks before reading."""

from __future__ import annotations

import os
from typing import NamedTuple

from ...errors import WeightsError

__all__ = ["TensorInfo", "file_size"]


class TensorInfo(NamedTuple):
    """One tensor as its file declares it.

    Attributes
    ----------
    dtype : str
        numpy dtype string, or "str" for a text entry; bfloat16 is ``"bf16"``.
    shape : tuple of int
    nbytes : int
        Bytes the file holds for it (equal to what the shape and dtype need).
    parts : tuple of (int, int)
        ``(offset, length)`` of its bytes in a ``.ckpt`` (several for a tensor saved in slices).
    """

    dtype: str
    shape: tuple
    nbytes: int
    parts: tuple = ()


def file_size(path: str) -> int:
    """The size of a weights file; WeightsError when it is missing, not a regular file, or empty."""
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path!r} does not exist or is not a regular file")
    size = os.path.getsize(path)
    if size == 0:
        raise WeightsError(f"weights file {path!r} is empty (0 bytes)")
    return size
