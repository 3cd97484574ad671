"""Trainer checkpoints: atomic writes, and the architecture record they carry inside.

A checkpoint written by ghosthub holds one extra entry, ``"ghosthub"``: a JSON string naming the
architecture (backbone, width, num_classes), the preprocessing (input size, crop_pct,
interpolation, mean, std), the class names and where in training it was taken. MindSpore stores
it as a string, which :func:`ghosthub.weights.read_checkpoint` leaves out, so these files load
anywhere a MindCV checkpoint does, and ``ghosthub eval CHECKPOINT`` needs no other flag.
The record holds nothing that changes between runs (no time, path or host), so equal training
gives byte-identical files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from .errors import WeightsError
from .hashes import file_hash

__all__ = ["INFO_KEY", "INFO_FORMAT", "save_checkpoint", "read_info", "read_with_info"]

INFO_KEY = "ghosthub"
INFO_FORMAT = "ghosthub-checkpoint/1"


def save_checkpoint(source: Any, path: str | os.PathLike, info: dict, *,
                    choice: Callable[[str], bool] | None = None) -> str:
    """Write a MindSpore checkpoint with ghosthub's record, atomically.

    The file is written under a process-unique temporary name in the same folder and moved into
    place with ``os.replace``, so a crash never leaves a truncated checkpoint under ``path``.

    Parameters
    ----------
    source : mindspore.nn.Cell or list
        What ``mindspore.save_checkpoint`` accepts: a cell (its parameters) or a list of
        ``{"name": ..., "data": ...}``.
    path : str or os.PathLike
        Destination; should end in ``.ckpt``.
    info : dict
        JSON-serialisable record stored under :data:`INFO_KEY` (``format`` is added).
    choice : callable, optional
        ``choice(name) -> bool``: keep only the parameters it accepts.

    Returns
    -------
    str
        SHA-256 of the written file.
    """
    import mindspore as ms

    path = Path(path)
    record = json.dumps({"format": INFO_FORMAT, **info}, sort_keys=True, separators=(",", ":"))
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.ckpt")
    try:
        ms.save_checkpoint(source, os.fspath(tmp), append_dict={INFO_KEY: record}, choice_func=choice)
        digest = file_hash(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return digest


def read_info(path: str | os.PathLike) -> dict | None:
    """The record a ghosthub checkpoint carries, or None for any other checkpoint (e.g. MindCV's).

    Raises
    ------
    WeightsError
        The file is missing or not a MindSpore checkpoint.

    Examples
    --------
    >>> read_info("out/best.ckpt")["backbone"]              # doctest: +SKIP
    'ghostnet'
    """
    return read_with_info(path)[1]


def read_with_info(path: str | os.PathLike) -> tuple[dict, dict | None]:
    """``(what mindspore.load_checkpoint gives, the record or None)``, reading the file once.

    A safetensors file gives ``({}, None)`` without being read: ghosthub writes its record
    into .ckpt files only.

    Raises
    ------
    WeightsError
        The file is missing or not a MindSpore checkpoint.
    """
    from .weights import load_raw, sniff_format

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"checkpoint {path!r} does not exist or is not a file: check the path.")
    if sniff_format(path) == "safetensors":
        return {}, None
    try:
        raw = load_raw(path, "ckpt")
    except Exception as exc:  # MindSpore raises ValueError/RuntimeError with long texts
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"cannot read checkpoint {path!r}: {reason}. Is it a MindSpore .ckpt file?") from None
    text = raw.get(INFO_KEY)
    try:
        info = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        info = None
    return raw, info if isinstance(info, dict) and info.get("format") == INFO_FORMAT else None
