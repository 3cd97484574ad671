"""Checkpoint files: read .ckpt / .safetensors into arrays, tell weights from training state, write atomically.

A checkpoint written by ghosthub holds one extra entry, ``"ghosthub"``: a JSON string naming the
architecture (backbone, width, num_classes), the preprocessing (input size, crop_pct,
interpolation, mean, std), the class names and where in training it was taken. MindSpore stores
it as a string, which :func:`read_checkpoint` leaves out of the arrays, so these files load
anywhere a MindCV checkpoint does, and ``ghosthub eval CHECKPOINT`` needs no other flag.
The record holds nothing that changes between runs (no time, path or host), so equal training
gives byte-identical files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._utils.fs import atomic_path
from .._utils.hashes import file_hash
from ..constants import CHECKPOINT_RECORD_KEY as INFO_KEY
from ..errors import WeightsError
from .formats import read_safetensors_header, scan_weights, sniff
from .state import TRAINING_SCALARS, TRAINING_SLOT_PREFIXES, split_training_state

__all__ = [
    "TRAINING_SCALARS",
    "TRAINING_SLOT_PREFIXES",
    "INFO_KEY",
    "INFO_FORMAT",
    "Checkpoint",
    "read_checkpoint",
    "read_with_info",
    "read_info",
    "save_checkpoint",
    "split_training_state",
]

logger = logging.getLogger(__name__)

INFO_FORMAT = "ghosthub-checkpoint/1"


class Checkpoint(NamedTuple):
    """What one read of a checkpoint file gives: its arrays and ghosthub's record (None if it has none)."""

    params: dict
    info: dict | None


def load_raw(path: str, fmt: str) -> dict:
    """mindspore.load_checkpoint, which insists the file name ends in .ckpt / .safetensors."""
    import mindspore as ms

    if path.endswith("." + fmt):
        return ms.load_checkpoint(path, format=fmt)
    with tempfile.TemporaryDirectory(prefix="ghosthub-ckpt-") as tmp:
        alias = os.path.join(tmp, "checkpoint." + fmt)
        try:
            os.symlink(os.path.abspath(path), alias)
        except OSError:  # no symlinks (e.g. Windows without the privilege)
            shutil.copyfile(path, alias)
        return ms.load_checkpoint(alias, format=fmt)


def _to_numpy(value) -> np.ndarray:
    try:
        return value.asnumpy()
    except TypeError:  # bfloat16 has no numpy dtype
        import mindspore as ms

        return value.astype(ms.float32).asnumpy()


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a MindSpore checkpoint into a name -> array mapping (see :func:`read_with_info`).

    Examples
    --------
    >>> params = read_checkpoint("ghostnet_050-85b91860.ckpt")      # doctest: +SKIP
    >>> params["conv_stem.weight"].shape                             # doctest: +SKIP
    (8, 3, 3, 3)
    """
    return read_with_info(path).params


def read_with_info(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint once: every tensor as a numpy array, and the record ghosthub wrote into it.

    Both MindSpore's protobuf ``.ckpt`` and ``.safetensors`` are read, told apart by content
    (not by file name), through ``mindspore.load_checkpoint``.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.

    Returns
    -------
    Checkpoint
        ``params``: every tensor by parameter name, in file order (training state included;
        see :func:`split_training_state`); ``info``: the record, or None for other checkpoints.

    Raises
    ------
    WeightsError
        The file is missing, empty, not a checkpoint, truncated or corrupt.
    """
    path = os.fspath(path)
    advice = (
        "Delete it and download it again (the card's sha256 tells whether the download is "
        "complete), or pass the path of a valid MindSpore .ckpt or .safetensors checkpoint."
    )
    if not os.path.exists(path):
        raise WeightsError(f"checkpoint {path!r} does not exist: check the path, or download the model first.")
    if not os.path.isfile(path):
        raise WeightsError(f"checkpoint {path!r} is not a regular file (a directory?): pass the file itself.")
    size = os.path.getsize(path)
    if size == 0:
        raise WeightsError(f"checkpoint {path!r} is empty (0 bytes), expected a MindSpore checkpoint. {advice}")
    fmt = "safetensors" if sniff(path) == "safetensors" else "ckpt"
    # Declared shapes checked against the bytes present first: MindSpore allocates what a header
    # claims before it notices the file is short (a 43-byte file claiming 4 GiB).
    try:
        _, _, texts = scan_weights(path)
    except WeightsError as e:
        text = str(e)
        raise WeightsError(
            f"cannot read {text[0].lower()}{text[1:]}. The file is truncated, corrupt or not a "
            f"MindSpore checkpoint. {advice}"
        ) from None
    try:
        raw = load_raw(path, fmt)
    except Exception as e:  # MindSpore raises ValueError/TypeError/RuntimeError with long texts
        logger.debug("mindspore.load_checkpoint(%r) failed", path, exc_info=True)
        reason = str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"cannot read checkpoint {path!r} ({size} bytes, read as {fmt}): {reason}. "
            f"The file is truncated, corrupt or not a MindSpore checkpoint. {advice}"
        ) from None
    params = {name: _to_numpy(value) for name, value in raw.items() if hasattr(value, "asnumpy")}
    info = _record(raw.get(INFO_KEY, texts.get(INFO_KEY)))  # a .ckpt entry, or safetensors __metadata__
    if not params:
        raise WeightsError(f"checkpoint {path!r} ({size} bytes) holds no tensors. {advice}")
    return Checkpoint(params, info)


def read_info(path: str | os.PathLike) -> dict | None:
    """The record a ghosthub checkpoint carries, or None for any other checkpoint (e.g. MindCV's).

    A safetensors file's record (``ghosthub convert --out X.safetensors`` writes it into the header's
    ``__metadata__``) is read from its header alone.

    Raises
    ------
    WeightsError
        The file is missing or not a MindSpore checkpoint.

    Examples
    --------
    >>> read_info("out/best.ckpt")["backbone"]              # doctest: +SKIP
    'ghostnet'
    """
    path = os.fspath(path)
    if os.path.isfile(path) and sniff(path) == "safetensors":
        return _record(read_safetensors_header(path)[1].get(INFO_KEY))
    return read_with_info(path).info


def _record(text: Any) -> dict | None:
    try:
        info = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return info if isinstance(info, dict) and info.get("format") == INFO_FORMAT else None


def save_checkpoint(
    source: Any, path: str | os.PathLike, info: dict, *, choice: Callable[[str], bool] | None = None
) -> str:
    """Write a MindSpore checkpoint with ghosthub's record, atomically.

    The file is written under a process-unique temporary name in the same folder, synced, and moved
    into place (``_utils.fs.atomic_path``), so a crash never leaves a truncated checkpoint under ``path``.

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

    record = json.dumps({"format": INFO_FORMAT, **info}, sort_keys=True, separators=(",", ":"))
    # MindSpore appends ".ckpt" to a name without it, so the temporary name keeps the suffix.
    with atomic_path(path, suffix=".ckpt") as tmp:
        ms.save_checkpoint(source, os.fspath(tmp), append_dict={INFO_KEY: record}, choice_func=choice)
        digest = file_hash(tmp)
    return digest
