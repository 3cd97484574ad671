"""What training returns: per-epoch metrics and the result of a run."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["EpochMetrics", "TrainResult"]


@dataclasses.dataclass(frozen=True)
class EpochMetrics:
    """What one epoch did (``val_*`` are None without a val split, and on ranks other than 0)."""

    epoch: int
    epochs: int
    steps: int
    images: int
    train_loss: float
    lr: float
    seconds: float
    images_per_second: float
    val_top1: float | None = None
    val_top5: float | None = None
    val_loss: float | None = None
    checkpoint: str | None = None
    best: bool = False

    def line(self) -> str:
        """The epoch in one line, as the training log shows it.

        Examples
        --------
        >>> EpochMetrics(3, 10, 9, 1152, 0.41234, 0.01, 2.5, 460.0, 97.5, 100.0).line()
        'epoch 3/10  loss 0.4123  lr 0.01  val top-1  97.50  top-5 100.00  460 img/s  2.5 s'
        """
        val = f"  val top-1 {self.val_top1:6.2f}  top-5 {self.val_top5:6.2f}" if self.val_top1 is not None else ""
        return (
            f"epoch {self.epoch}/{self.epochs}  loss {self.train_loss:.4f}  lr {self.lr:.4g}{val}  "
            f"{self.images_per_second:.0f} img/s  {self.seconds:.1f} s{'  best' if self.best else ''}"
        )

    @classmethod
    def from_dict(cls, data: Any) -> EpochMetrics:
        """One epoch read back (a ``metrics.jsonl`` line, an entry of ``result.json``), checked for shape.

        Raises
        ------
        ValueError
            ``data`` is not a mapping of these fields, each of its type (the message names the field).

        Examples
        --------
        >>> EpochMetrics.from_dict({"epoch": 1, "epochs": 2, "steps": 3, "images": 4, "train_loss": 0.5, "lr": 0.1,
        ...                         "seconds": 1.0, "images_per_second": 4.0}).epoch
        1
        >>> EpochMetrics.from_dict({"epoch": "1"})
        Traceback (most recent call last):
        ...
        ValueError: epoch metrics: 'epoch' is '1', expected an integer
        """
        if not isinstance(data, dict):
            raise ValueError(f"epoch metrics: expected a mapping, found {type(data).__name__}")
        for field in dataclasses.fields(cls):
            if field.name not in data:
                if field.default is dataclasses.MISSING:
                    raise ValueError(f"epoch metrics: {field.name!r} is missing")
                continue
            kind, expected = _KINDS[field.name]
            value = data[field.name]
            if not (isinstance(value, kind) and not (isinstance(value, bool) and bool not in kind)):
                raise ValueError(f"epoch metrics: {field.name!r} is {value!r:.40}, expected {expected}")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"epoch metrics: unknown field {sorted(unknown)[0][:40]!r}")
        return cls(**data)


_INT, _NUMBER = ((int,), "an integer"), ((int, float), "a number")
_KINDS = {
    "epoch": _INT,
    "epochs": _INT,
    "steps": _INT,
    "images": _INT,
    "train_loss": _NUMBER,
    "lr": _NUMBER,
    "seconds": _NUMBER,
    "images_per_second": _NUMBER,
    "val_top1": ((int, float, type(None)), "a number or null"),
    "val_top5": ((int, float, type(None)), "a number or null"),
    "val_loss": ((int, float, type(None)), "a number or null"),
    "checkpoint": ((str, type(None)), "a path or null"),
    "best": ((bool,), "true or false"),
}


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`.

    Attributes
    ----------
    out_dir : str
        Folder holding the checkpoints, ``metrics.jsonl``, ``provenance.json``, ``result.json``.
    best_checkpoint : str
        ``best.ckpt``: the network (no optimizer state) of the epoch with the best val top-1
        (the last epoch without a val split).
    last_checkpoint : str
        The last epoch's full training state (``--resume`` takes it).
    checkpoint_sha256 : str
        SHA-256 of ``best_checkpoint``.
    weights_sha256 : str
        SHA-256 of the network's parameters in memory at the end (names, shapes, bytes); equal on
        every rank of a data-parallel run.
    epochs : list of EpochMetrics
        Every epoch so far, resumed ones included.
    images_per_second : float
        Median training throughput over the epochs (all workers together).
    provenance : dict
        See :data:`PROVENANCE_KEYS`.
    rank_weights_sha256 : list of str
        ``weights_sha256`` of every rank (data-parallel runs started by :func:`launch`).
    rank : int
        The process's rank (0 outside data-parallel runs); only rank 0 writes files.
    """

    out_dir: str
    best_checkpoint: str
    last_checkpoint: str
    checkpoint_sha256: str
    weights_sha256: str
    epochs: list
    images_per_second: float
    provenance: dict
    rank_weights_sha256: list = dataclasses.field(default_factory=list)
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``result.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainResult:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["epochs"] = [EpochMetrics.from_dict(e) for e in data.get("epochs", [])]
        return cls(**data)

    @property
    def best(self) -> EpochMetrics | None:
        """The metrics of the epoch ``best_checkpoint`` comes from."""
        return next((e for e in reversed(self.epochs) if e.best), None)
