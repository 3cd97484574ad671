"""The trainer: recipe + ImageFolder -> checkpoints, metrics and provenance (one process or msrun).

What it does per epoch: SGD with momentum on a cosine schedule with warm-up (per step), label
smoothing, dropout, weight decay; evaluates on ``val``; writes ``epoch-NNNN.ckpt`` (full training
state, the last ``keep_checkpoint_max`` kept) and ``best.ckpt`` (the network with the best val
top-1, what gets published). Every file is written atomically.

Exactness: everything random is a function of ``(seed, epoch, step, rank)`` -- the data order
and augmentation (see :mod:`ghosthub.imagefolder`) and the dropout masks, which the trainer draws
itself rather than through MindSpore's stateful dropout kernel. An epoch checkpoint therefore holds
all the state there is, and a resumed run ends with the same bytes as an uninterrupted one.

Reproducibility: the CPU kernel thread count changes floating-point summation order, so it is
pinned from the recipe (``threads``; null resolves to the CPUs available) and recorded, as is the
pipeline worker count (MindSpore's random augmentations depend on it). Same recipe, data and seed
on the same kind of machine give a byte-identical ``best.ckpt``.

Data parallel: under MindSpore's launcher (``msrun``; :func:`launch` starts it) each rank reads its
shard, gradients are averaged across ranks, batch-norm statistics are averaged at the end of
every epoch, and only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .checkpoint import read_info, read_with_info, save_checkpoint
from .hashes import file_hash
from .errors import GhostHubError
from .recipe import Recipe, load_recipe

__all__ = [
    "TrainError",
    "EpochMetrics",
    "TrainResult",
    "RebuildResult",
    "train",
    "launch",
    "rebuild",
    "lr_schedule",
    "PROVENANCE_KEYS",
]

logger = logging.getLogger(__name__)

BEST = "best.ckpt"
_EPOCH_FILE = re.compile(r"epoch-(\d{4,})\.ckpt")
# Recipe keys that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = ("epoch_size", "keep_checkpoint_max", "val_while_train")
# What provenance() records; the lead's publish writes these into the card.
PROVENANCE_KEYS = (
    "recipe", "recipe_digest", "recipe_source", "dataset", "dataset_digest", "train_images", "val_images",
    "classes", "seed", "threads", "data_workers", "workers", "amp_level", "mode", "epochs", "best_epoch",
    "metrics", "checkpoint_sha256", "images_per_second", "ghosthub_version", "mindspore_version",
    "numpy_version", "python_version", "device",
)


class TrainError(GhostHubError):
    """Training cannot start or continue: bad resume checkpoint, diverged loss, failed workers."""


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
    def from_dict(cls, data: dict) -> "TrainResult":
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["epochs"] = [EpochMetrics(**e) for e in data.get("epochs", [])]
        return cls(**data)

    @property
    def best(self) -> EpochMetrics | None:
        """The metrics of the epoch ``best_checkpoint`` comes from."""
        return next((e for e in reversed(self.epochs) if e.best), None)


@dataclasses.dataclass(frozen=True)
class RebuildResult:
    """The outcome of :func:`rebuild`: the recorded and the rebuilt checkpoint digests."""

    expected_sha256: str
    actual_sha256: str
    result: TrainResult

    @property
    def matches(self) -> bool:
        """True when the rebuilt checkpoint has the recorded digest (compared as a prefix)."""
        return self.actual_sha256.lower().startswith(self.expected_sha256.lower())


# ---------------------------------------------------------------------------- schedule


def lr_schedule(recipe: Recipe, steps_per_epoch: int, total_steps: int) -> np.ndarray:
    """Learning rate of every step: linear warm-up, then cosine decay to ``min_lr`` (MindCV's).

    Step ``s`` is at epoch ``e = s / steps_per_epoch`` (``floor`` of it with ``lr_epoch_stair``).
    Warm-up goes from ``lr * warmup_factor`` to ``lr`` over ``warmup_epochs``; cosine decay then
    takes ``decay_epochs`` to reach ``min_lr``, which holds after. The values depend on the step
    only, not on ``epoch_size``, so a shorter run's schedule is a prefix of a longer one's.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(total_steps,)``.

    Examples
    --------
    >>> r = Recipe.from_dict(dict(model="ghostnet_050", epoch_size=3, lr=0.3, batch_size=8,
    ...                           warmup_epochs=1, min_lr=0.0))
    >>> lr_schedule(r, 2, 6).round(3).tolist()
    [0.0, 0.15, 0.3, 0.256, 0.15, 0.044]
    """
    steps = np.arange(total_steps, dtype=np.float64)
    epochs = steps / steps_per_epoch
    if recipe.lr_epoch_stair:
        epochs = np.floor(epochs)
    lr = np.full(total_steps, recipe.lr, dtype=np.float64)
    if recipe.scheduler == "cosine_decay":
        decay = recipe.effective_decay_epochs
        t = np.clip(epochs - recipe.warmup_epochs, 0, decay)
        lr = recipe.min_lr + 0.5 * (recipe.lr - recipe.min_lr) * (1 + np.cos(np.pi * t / decay))
    if recipe.warmup_epochs > 0:
        warm = epochs < recipe.warmup_epochs
        start = recipe.lr * recipe.warmup_factor
        lr[warm] = start + (recipe.lr - start) * epochs[warm] / recipe.warmup_epochs
    return lr.astype(np.float32)


# ---------------------------------------------------------------------------- environment


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_PINNED_THREADS: int | None = None


def _pin_threads(threads: int) -> None:
    """Set MindSpore's CPU kernel thread count, which MindSpore allows once per process."""
    global _PINNED_THREADS
    import mindspore as ms
    from mindspore._c_expression import RuntimeConf

    if _PINNED_THREADS == threads:
        return
    if _PINNED_THREADS is not None or RuntimeConf.get_instance().is_op_threads_num_configured():
        raise TrainError(
            f"this process already runs MindSpore's CPU kernels with {_PINNED_THREADS or 'another number of'} "
            f"threads and MindSpore cannot change that, but the recipe asks for threads: {threads}. "
            "Train in a fresh process (e.g. the ghosthub train command)."
        )
    ms.device_context.cpu.op_tuning.threads_num(threads)
    _PINNED_THREADS = threads


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises MindSpore's communication when started by msrun."""
    role = os.environ.get("MS_ROLE")
    if role not in ("MS_WORKER", "MS_SCHED"):
        return 0, 1
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    init()  # msrun runs the task as its scheduler too: there init() serves the cluster until it ends
    if role == "MS_SCHED":
        raise SystemExit(0)
    rank, world = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=world)
    return rank, world


def _device_description(target: str) -> str:
    """'CPU x86_64, Intel(R) Xeon(R) ...' -- what "the same kind of machine" means for a digest."""
    if target != "CPU":
        return target
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"CPU {platform.machine()}" + (f", {model}" if model else "")


def _effective(recipe: Recipe, device_target: str) -> Recipe:
    """The recipe with what the machine decides made explicit: thread and worker counts, CPU amp."""
    from .imagefolder import workers_for

    changes: dict[str, Any] = {
        # null: the CPUs available, at most MindSpore's default of 25 (more threads only add overhead).
        "threads": recipe.threads or min(_available_cpus(), 25),
        "num_parallel_workers": workers_for(recipe.num_parallel_workers),
    }
    if device_target == "CPU" and recipe.amp_level != "O0":
        warnings.warn(f"amp_level {recipe.amp_level} needs a GPU or Ascend device; training in O0 (float32) on CPU",
                      stacklevel=3)
        changes["amp_level"] = "O0"
    return recipe.replace(**changes)


# ---------------------------------------------------------------------------- network pieces


def _cells():
    """The MindSpore cells of the trainer (defined here so importing this module stays light)."""
    import mindspore as ms
    from mindspore import nn, ops

    class NetWithLoss(nn.Cell):
        """Network + cross entropy; dropout before the classifier with a mask the trainer supplies."""

        def __init__(self, net, label_smoothing: float) -> None:
            super().__init__(auto_prefix=False)  # keep the network's parameter names (checkpoint keys)
            self.net = net
            self.loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

        def construct(self, images, labels, keep):
            features = self.net.forward_head(self.net.forward_features(images), pre_logits=True)
            logits = self.net.get_classifier()(features * ops.cast(keep, features.dtype))
            return self.loss(ops.cast(logits, ms.float32), labels)  # the loss in float32 under amp too

    class AllReduceMean(nn.Cell):
        """Average a tensor over the data-parallel ranks."""

        def __init__(self, world: int) -> None:
            super().__init__()
            self.all_reduce = ops.AllReduce()
            self.world = float(world)

        def construct(self, x):
            return self.all_reduce(x) / self.world

    return NetWithLoss, AllReduceMean


def _optimizer(net, recipe: Recipe, lr: np.ndarray):
    """SGD with momentum; like MindCV, no weight decay on biases and batch-norm gamma/beta."""
    import mindspore as ms
    from mindspore import nn

    params = net.trainable_params()
    if recipe.filter_bias_and_bn:
        exempt = lambda p: any(key in p.name for key in ("gamma", "beta", "bias"))  # noqa: E731
        groups = [{"params": [p for p in params if not exempt(p)], "weight_decay": recipe.weight_decay},
                  {"params": [p for p in params if exempt(p)], "weight_decay": 0.0},
                  {"order_params": params}]
    else:
        groups = [{"params": params, "weight_decay": recipe.weight_decay}, {"order_params": params}]
    learning_rate = ms.Tensor(lr)
    if recipe.opt == "sgd":
        return nn.SGD(groups, learning_rate=learning_rate, momentum=recipe.momentum, nesterov=recipe.use_nesterov)
    return nn.Momentum(groups, learning_rate=learning_rate, momentum=recipe.momentum,
                       use_nesterov=recipe.use_nesterov)


def _train_step(loss_net, optimizer, recipe: Recipe):
    """TrainOneStepCell, with loss scaling when training in reduced precision."""
    from mindspore import nn

    if recipe.amp_level == "O0":
        return nn.TrainOneStepCell(loss_net, optimizer)
    if recipe.loss_scale_type == "dynamic":
        scale = nn.DynamicLossScaleUpdateCell(loss_scale_value=recipe.loss_scale, scale_factor=2, scale_window=2000)
    else:
        scale = nn.FixedLossScaleUpdateCell(loss_scale_value=recipe.loss_scale)
    return nn.TrainOneStepWithLossScaleCell(loss_net, optimizer, scale_sense=scale)


def _build(recipe: Recipe, num_classes: int, lr: np.ndarray):
    """The network (initialised from the seed) and its training step."""
    import mindspore as ms

    from .models import create_model

    ms.set_seed(recipe.seed)
    # Dropout is the trainer's (a mask per step), so the network is built without its own.
    net = create_model(recipe.backbone, recipe.width, num_classes=num_classes, drop_rate=0.0)
    if recipe.amp_level != "O0":
        ms.amp.auto_mixed_precision(net, recipe.amp_level)
    net_with_loss = _cells()[0](net, recipe.label_smoothing)
    return net, _train_step(net_with_loss, _optimizer(net, recipe, lr), recipe)


def _dropout_keep(recipe: Recipe, shape: tuple, *, epoch: int, step: int, rank: int) -> np.ndarray:
    """Inverted-dropout keep mask of one step, a function of (seed, epoch, step, rank) only."""
    if recipe.drop_rate <= 0:
        return np.ones(shape, np.float32)
    rng = np.random.default_rng([recipe.seed, epoch, step, rank, 1])
    keep = rng.random(shape, dtype=np.float32) >= recipe.drop_rate
    return keep.astype(np.float32) * np.float32(1.0 / (1.0 - recipe.drop_rate))


def _weights_sha256(net) -> str:
    h = hashlib.sha256()
    for name, param in sorted(net.parameters_and_names(), key=lambda item: item[0]):
        value = param.asnumpy()
        h.update(f"{name}\0{value.dtype}\0{value.shape}\0".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def _sync_batchnorm(net, reduce_mean) -> None:
    """Average BN moving statistics over the ranks, so every rank (and the checkpoint) agrees."""
    import mindspore as ms

    stats = [p for p in net.get_parameters() if p.name.endswith(("moving_mean", "moving_variance"))]
    if not stats:
        return
    flat = np.concatenate([p.asnumpy().reshape(-1) for p in stats])
    averaged = reduce_mean(ms.Tensor(flat)).asnumpy()
    offset = 0
    for p in stats:
        p.set_data(ms.Tensor(averaged[offset:offset + p.size].reshape(p.shape), p.dtype))
        offset += p.size


def _check_out_dir(out_dir: Path, resume) -> None:
    """Create the output folder; refuse one holding another run's checkpoints unless resuming."""
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = sorted(p.name for p in out_dir.iterdir() if _EPOCH_FILE.fullmatch(p.name))
    if resume is None and (earlier or (out_dir / BEST).exists()):
        advice = f"continue it with --resume {out_dir / earlier[-1]}, or " if earlier else ""
        raise TrainError(f"{out_dir} holds the checkpoints of an earlier run: {advice}pass another --out "
                         "(or delete them) to start afresh.")


def _load_data(recipe: Recipe, data_dir: Path, expect_digest: str | None):
    """Scan the train and val splits (every image read and checked once); their combined digest."""
    from .imagefolder import DataError, combined_digest, find_splits, scan_splits

    train_dir, val_dir = find_splits(data_dir, recipe.train_split, recipe.val_split)
    if train_dir is None:
        raise DataError(f"data dir {str(data_dir)!r} has no {recipe.train_split!r} folder: expected "
                        f"{data_dir}/{recipe.train_split}/<class>/<image> (and optionally {recipe.val_split}/).")
    train_folder, val_folder = scan_splits(train_dir, val_dir)
    digest = combined_digest(train_folder, val_folder)
    if expect_digest and not digest.startswith(expect_digest.lower()):
        raise DataError(f"the data in {str(data_dir)!r} is not what the model was trained on: dataset digest "
                        f"{digest[:16]}..., expected {expect_digest[:16]}... (files, labels or bytes differ).")
    if recipe.num_classes is not None and recipe.num_classes != len(train_folder.classes):
        raise DataError(f"{recipe.source}: recipe key 'num_classes' is {recipe.num_classes} but {train_dir} has "
                        f"{len(train_folder.classes)} class folders. Set num_classes: null to take it from the data.")
    return train_folder, val_folder, digest


def _run_epoch(train_step, data, recipe: Recipe, *, epoch: int, rank: int, world: int, num_features: int,
               lr: np.ndarray, steps: int, bar, timing: dict) -> tuple[list[float], int]:
    """Train one epoch; returns the step losses and the images this rank saw.

    ``timing`` accumulates ``images`` and ``seconds`` over steps after the run's first, which
    also compiles the graph; data loading is included.
    """
    import mindspore as ms

    losses, images = [], 0
    previous = time.perf_counter()
    for step, (x, y) in enumerate(data.create_tuple_iterator(num_epochs=1)):
        keep = _dropout_keep(recipe, (x.shape[0], num_features), epoch=epoch, step=step, rank=rank)
        out = train_step(x, y, ms.Tensor(keep))
        loss = float((out[0] if isinstance(out, tuple) else out).asnumpy())
        now = time.perf_counter()
        if not math.isfinite(loss):
            raise TrainError(f"the loss became {loss} at epoch {epoch + 1}, step {step + 1} "
                             f"(lr {lr[epoch * steps + step]:.3g}): lower lr or raise warmup_epochs in the recipe.")
        losses.append(loss)
        images += x.shape[0]
        if timing["started"]:
            timing["images"] += x.shape[0]
            timing["seconds"] += now - previous
        timing["started"], previous = True, now
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", img_s=f"{world * timing['images'] / max(timing['seconds'], 1e-9):.0f}",
                        refresh=False)
    return losses, images


# ---------------------------------------------------------------------------- resume


def _resume_state(path: str | os.PathLike, recipe: Recipe, train_step) -> dict:
    """Load an epoch checkpoint into the training cell; its record (epoch, best so far) is returned."""
    import mindspore as ms

    stored, info = read_with_info(path)
    if not info or info.get("kind") != "training":
        raise TrainError(
            f"cannot resume from {os.fspath(path)!r}: it is not a ghosthub epoch checkpoint (epoch-NNNN.ckpt) "
            "with training state. best.ckpt holds the network only; resume from the last epoch-NNNN.ckpt."
        )
    before = Recipe.from_dict(info["recipe"], source=os.fspath(path))
    mine, theirs = _resume_view(recipe), _resume_view(before)
    changed = sorted(k for k in mine if mine[k] != theirs.get(k))
    if changed:
        detail = ", ".join(f"{k}: {theirs.get(k)!r} -> {mine[k]!r}" for k in changed[:6])
        raise TrainError(
            f"cannot resume from {os.fspath(path)!r}: the recipe differs from the one it was trained with "
            f"({detail}). Only {', '.join(_RESUMABLE_CHANGES)} may change; to train longer, keep decay_epochs "
            "fixed in the recipe (null follows epoch_size and changes the schedule)."
        )
    if info["epoch"] >= recipe.epoch_size:
        raise TrainError(f"{os.fspath(path)!r} is from epoch {info['epoch']}, and the recipe trains "
                         f"{recipe.epoch_size} epochs: nothing left to do (pass --epochs N to train longer).")
    missing = []
    for param in train_step.get_parameters():
        if param.name == "learning_rate":  # recomputed from the recipe
            continue
        value = stored.get(param.name)
        if value is None or tuple(value.shape) != tuple(param.shape):
            missing.append(param.name)
            continue
        param.set_data(ms.Tensor(value.asnumpy(), param.dtype))
    if missing:
        raise TrainError(f"cannot resume from {os.fspath(path)!r}: {len(missing)} training-state entries are "
                         f"missing or have another shape ({', '.join(missing[:5])}).")
    return info


def _save_best(net, out_dir: Path, arch: dict, epoch: int, metrics: dict | None) -> None:
    """Write best.ckpt: the network alone, with the record a resumed run must reproduce byte for byte."""
    save_checkpoint(net, out_dir / BEST, {**arch, "kind": "network", "epoch": epoch, "metrics": metrics})


def _best_metrics(best: dict | None) -> dict | None:
    """The val metrics of the best epoch so far (None without val numbers)."""
    if not best or best.get("top1") is None:
        return None
    return {k: best[k] for k in ("top1", "top5", "loss")}


def _carry_best(resume: Path, out_dir: Path, best_epoch: int, start_epoch: int, save_restored: Callable) -> None:
    """Make sure a resumed run has the best network so far in ``out_dir``, so it still ends with one.

    It is there already when resuming in place; it is the restored network when the
    resume epoch was the best (``save_restored`` writes the bytes the first run wrote);
    else it is copied from beside the resume checkpoint.
    """
    target, source = out_dir / BEST, resume.parent / BEST
    if _best_epoch(target) == best_epoch:
        return
    if best_epoch == start_epoch:
        save_restored()
    elif _best_epoch(source) == best_epoch:
        tmp = target.with_name(f".{BEST}.{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    elif not target.exists():
        raise TrainError(
            f"cannot resume into {out_dir}: the best network so far (epoch {best_epoch}) should be {source}, "
            "which is missing or of another epoch. Resume into the folder of the resume checkpoint, or copy "
            f"that run's best.ckpt into {out_dir}."
        )


def _best_epoch(path: Path) -> int | None:
    if not path.is_file():
        return None
    info = read_info(path) or {}
    return info.get("epoch")


def _resume_view(recipe: Recipe) -> dict:
    view = recipe.to_dict()
    view["decay_epochs"] = recipe.effective_decay_epochs
    for key in _RESUMABLE_CHANGES:
        view.pop(key)
    return view


# ---------------------------------------------------------------------------- files


def _prune(out_dir: Path, keep: int) -> None:
    """Delete epoch checkpoints beyond the newest ``keep``."""
    found = sorted((int(m.group(1)), p) for p in out_dir.iterdir() if (m := _EPOCH_FILE.fullmatch(p.name)))
    for _, path in found[:-keep]:
        path.unlink(missing_ok=True)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_history(out_dir: Path, until_epoch: int) -> list[EpochMetrics]:
    path = out_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    history = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = EpochMetrics(**json.loads(line))
        except (ValueError, TypeError):
            continue
        if item.epoch <= until_epoch:
            history.append(item)
    return history


def _versions() -> dict[str, str]:
    import mindspore as ms

    from ._version import __version__

    return {"ghosthub_version": __version__, "mindspore_version": ms.__version__, "numpy_version": np.__version__,
            "python_version": platform.python_version()}


# ---------------------------------------------------------------------------- train


def train(recipe: str | os.PathLike | Recipe, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
          epochs: int | None = None, resume: str | os.PathLike | None = None, workers: int = 1,
          progress: bool | None = None, callback: Callable[[EpochMetrics], None] | None = None,
          expect_dataset_digest: str | None = None) -> TrainResult:
    """Train a model from a recipe on an ImageFolder.

    Parameters
    ----------
    recipe : str, os.PathLike or Recipe
        A recipe file, a bundled recipe's name (``"digits_demo"``) or a :class:`Recipe`.
    data_dir : str or os.PathLike
        ``DIR/train/<class>/<image>`` and optionally ``DIR/val/<class>/<image>``.
    out_dir : str or os.PathLike
        Where checkpoints, ``metrics.jsonl``, ``provenance.json`` and ``result.json`` go (created).
    epochs : int, optional
        Override the recipe's ``epoch_size``.
    resume : str or os.PathLike, optional
        An ``epoch-NNNN.ckpt`` to continue from; the result is the same as never stopping.
    workers : int
        Data-parallel worker processes; more than 1 starts them with msrun (:func:`launch`).
    progress : bool, optional
        Progress bar on stderr (default: unless ``GHOSTHUB_NO_PROGRESS=1``; rank 0 only).
    callback : callable, optional
        Called (on rank 0) with each epoch's :class:`EpochMetrics` after its checkpoint is written.
    expect_dataset_digest : str, optional
        Fail before training if the data's digest differs (used by :func:`rebuild`).

    Returns
    -------
    TrainResult

    Raises
    ------
    RecipeError, DataError, TrainError, UnsupportedBackboneError

    Examples
    --------
    >>> from ghosthub.digits import write_digits
    >>> write_digits("digits")                                      # doctest: +SKIP
    >>> result = train("digits_demo", "digits", "runs/digits")      # doctest: +SKIP
    >>> result.best.val_top1 >= 95                                  # doctest: +SKIP
    True
    """
    recipe = load_recipe(recipe, **({"epoch_size": epochs} if epochs else {}))
    if workers > 1 and os.environ.get("MS_ROLE") != "MS_WORKER":
        return launch(recipe, data_dir, out_dir, workers=workers, resume=resume, progress=progress,
                      expect_dataset_digest=expect_dataset_digest)
    import mindspore as ms

    previous_mode = ms.get_context("mode")
    try:
        return _train(recipe, Path(data_dir), Path(out_dir), resume=resume, progress=progress, callback=callback,
                      expect_dataset_digest=expect_dataset_digest)
    finally:
        ms.set_context(mode=previous_mode)


def _train(recipe: Recipe, data_dir: Path, out_dir: Path, *, resume, progress, callback,
           expect_dataset_digest) -> TrainResult:
    import mindspore as ms
    from tqdm import tqdm

    from . import config
    from .evaluate import evaluate_folder
    from .imagefolder import epoch_order, train_dataset

    source = recipe.source
    ms.set_context(mode=ms.GRAPH_MODE if recipe.mode == 0 else ms.PYNATIVE_MODE)
    rank, world = _distributed()
    device_target = ms.get_context("device_target")
    recipe = _effective(recipe, device_target)
    _pin_threads(recipe.threads)
    if rank == 0 and recipe.devices != world:
        warnings.warn(
            f"the recipe's values are for {recipe.devices} workers x batch_size {recipe.batch_size} = "
            f"{recipe.devices * recipe.batch_size} images per step; this run uses {world} x {recipe.batch_size} = "
            f"{world * recipe.batch_size}, and lr {recipe.lr:g} is not rescaled", stacklevel=3)

    if rank == 0:
        _check_out_dir(out_dir, resume)
    train_folder, val_folder, data_digest = _load_data(recipe, data_dir, expect_dataset_digest)
    num_classes = len(train_folder.classes)
    if recipe.width is None:
        raise TrainError(f"{source}: recipe key 'model' is {recipe.model!r}, without a width: name a variant such "
                         "as ghostnet_050 (the last three digits are the width in hundredths).")

    per_worker = len(epoch_order(len(train_folder), seed=recipe.seed, epoch=0, rank=rank, world=world,
                                 shuffle=False, repeats=recipe.aug_repeats))
    steps_per_epoch = per_worker // recipe.batch_size if recipe.drop_remainder else math.ceil(per_worker / recipe.batch_size)
    if steps_per_epoch == 0:
        raise TrainError(f"{train_folder.root} has {len(train_folder)} images, {per_worker} per worker: fewer than one "
                         f"batch of {recipe.batch_size}. Lower batch_size or set drop_remainder: false.")
    lr = lr_schedule(recipe, steps_per_epoch, steps_per_epoch * recipe.epoch_size)
    net, train_step = _build(recipe, num_classes, lr)
    reduce_mean = _cells()[1](world) if world > 1 else None

    arch = {
        "model": recipe.model, "backbone": recipe.backbone, "width": recipe.width, "num_classes": num_classes,
        "in_channels": 3, "input_size": [3, recipe.image_resize, recipe.image_resize], "crop_pct": recipe.crop_pct,
        "interpolation": recipe.interpolation, "mean": list(recipe.mean), "std": list(recipe.std),
        "classes": list(train_folder.classes), "dataset": recipe.dataset,
        "recipe_digest": recipe.digest(), "dataset_digest": data_digest, "seed": recipe.seed,
    }
    start_epoch, best = 0, None
    if resume is not None:
        info = _resume_state(resume, recipe, train_step)
        start_epoch, best = int(info["epoch"]), info.get("best")
        if rank == 0 and best:
            _carry_best(Path(resume), out_dir, best["epoch"], start_epoch,
                        lambda: _save_best(net, out_dir, arch, start_epoch, _best_metrics(best)))
    history = _read_history(out_dir, start_epoch) if resume is not None and rank == 0 else []
    if rank == 0:  # recipe.yaml: what ran; metrics.jsonl: the epochs before a resume point, then one line per epoch
        (out_dir / "recipe.yaml").write_text(recipe.to_yaml(), encoding="utf-8")
        (out_dir / "metrics.jsonl").write_text("".join(json.dumps(dataclasses.asdict(e)) + "\n" for e in history),
                                               encoding="utf-8")
    progress = config.show_progress(progress) and rank == 0
    eval_cfg = {"image_size": recipe.image_resize, "crop_pct": recipe.crop_pct, "interpolation": recipe.interpolation,
                "mean": recipe.mean, "std": recipe.std, "batch_size": recipe.batch_size,
                "workers": recipe.num_parallel_workers}
    last_checkpoint = str(resume) if resume is not None else ""

    for epoch in range(start_epoch, recipe.epoch_size):
        data = train_dataset(train_folder, recipe, epoch=epoch, rank=rank, world=world)
        train_step.set_train(True)
        timing = {"started": epoch > start_epoch, "images": 0, "seconds": 0.0}
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{recipe.epoch_size}", unit="step",
                   disable=not progress, leave=False, file=sys.stderr, dynamic_ncols=True)
        began = time.perf_counter()
        try:
            losses, images = _run_epoch(train_step, data, recipe, epoch=epoch, rank=rank, world=world,
                                        num_features=net.num_features, lr=lr, steps=steps_per_epoch, bar=bar,
                                        timing=timing)
        finally:
            bar.close()
        seconds = time.perf_counter() - began
        if reduce_mean is not None:
            _sync_batchnorm(net, reduce_mean)

        metrics = None
        if rank == 0 and val_folder is not None and recipe.val_while_train:
            metrics = evaluate_folder(net, val_folder, **eval_cfg)
        record = {"top1": metrics.top1, "top5": metrics.top5, "loss": metrics.loss} if metrics else None
        # Best by val top-1, then lower val loss; without val numbers the latest epoch is the best.
        improved = (record is None or best is None or best.get("top1") is None
                    or (record["top1"], -record["loss"]) > (best["top1"], -best["loss"]))
        if improved:
            best = {"epoch": epoch + 1, **(record or {"top1": None, "top5": None, "loss": None})}

        checkpoint = None
        if rank == 0:
            epoch_info = {**arch, "kind": "training", "epoch": epoch + 1, "global_step": (epoch + 1) * steps_per_epoch,
                          "metrics": record, "best": best, "recipe": recipe.to_dict()}
            checkpoint = out_dir / f"epoch-{epoch + 1:04d}.ckpt"
            save_checkpoint(train_step, checkpoint, epoch_info, choice=lambda name: name != "learning_rate")
            if improved:
                _save_best(net, out_dir, arch, epoch + 1, record)
            _prune(out_dir, recipe.keep_checkpoint_max)
            last_checkpoint = str(checkpoint)
        item = EpochMetrics(
            epoch=epoch + 1, epochs=recipe.epoch_size, steps=len(losses), images=world * images,
            train_loss=float(np.mean(losses)), lr=float(lr[epoch * steps_per_epoch + len(losses) - 1]),
            seconds=seconds, images_per_second=world * timing["images"] / timing["seconds"] if timing["seconds"] else 0.0,
            val_top1=record and record["top1"], val_top5=record and record["top5"], val_loss=record and record["loss"],
            checkpoint=str(checkpoint) if checkpoint else None, best=improved,
        )
        history.append(item)
        if rank == 0:
            with open(out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(dataclasses.asdict(item)) + "\n")
            logger.info("epoch %d/%d loss %.4f val top-1 %s %.0f img/s", item.epoch, item.epochs, item.train_loss,
                        item.val_top1, item.images_per_second)
            if callback is not None:
                callback(item)

    weights = _weights_sha256(net)
    best_path = out_dir / BEST
    sha = file_hash(best_path) if rank == 0 and best_path.is_file() else ""
    provenance = _provenance(recipe, source, train_folder, val_folder, data_digest, best, history, sha, world,
                             device_target)
    result = TrainResult(out_dir=str(out_dir), best_checkpoint=str(best_path), last_checkpoint=last_checkpoint,
                         checkpoint_sha256=sha, weights_sha256=weights, epochs=history,
                         images_per_second=provenance["images_per_second"], provenance=provenance, rank=rank)
    if rank == 0:
        _write_json(out_dir / "provenance.json", provenance)
        _write_json(out_dir / "result.json", result.to_dict())
    elif os.environ.get("GHOSTHUB_RANK_DIR"):
        _write_json(Path(os.environ["GHOSTHUB_RANK_DIR"]) / f"rank-{rank}.json", {"weights_sha256": weights})
    return result


def _provenance(recipe: Recipe, source: str, train_folder, val_folder, data_digest: str, best: dict | None,
                history: list, sha: str, world: int, device_target: str) -> dict:
    """What a card records about how its checkpoint was made (keys: :data:`PROVENANCE_KEYS`)."""
    rates = [e.images_per_second for e in history if e.images_per_second]
    return {
        "recipe": recipe.to_dict(), "recipe_digest": recipe.digest(), "recipe_source": source,
        "dataset": recipe.dataset, "dataset_digest": data_digest, "train_images": len(train_folder),
        "val_images": len(val_folder) if val_folder else 0, "classes": list(train_folder.classes),
        "seed": recipe.seed, "threads": recipe.threads, "data_workers": recipe.num_parallel_workers,
        "workers": world, "amp_level": recipe.amp_level, "mode": recipe.mode, "epochs": recipe.epoch_size,
        "best_epoch": best["epoch"] if best else None,
        "metrics": _best_metrics(best) or {},
        "checkpoint_sha256": sha, "images_per_second": float(np.median(rates)) if rates else 0.0,
        **_versions(), "device": _device_description(device_target),
    }


# ---------------------------------------------------------------------------- msrun


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_MS_LOG_LINE = re.compile(r"\[(INFO|WARNING|DEBUG)\] ")


def _follow(path: Path, stop: threading.Event, stream) -> None:
    """Echo a worker's log to ``stream`` as it grows, minus MindSpore's own log lines."""
    while not path.exists() and not stop.is_set():
        time.sleep(0.2)
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        while True:
            line = f.readline()
            if not line:
                if stop.is_set():
                    return
                time.sleep(0.2)
                continue
            if not _MS_LOG_LINE.match(line):
                stream.write(line)
                stream.flush()


def launch(recipe: str | os.PathLike | Recipe, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
           workers: int, resume: str | os.PathLike | None = None, progress: bool | None = None,
           port: int | None = None, echo: bool = True, expect_dataset_digest: str | None = None) -> TrainResult:
    """Train data-parallel on ``workers`` local processes started by MindSpore's launcher, msrun.

    Runs ``msrun --worker_num N --local_worker_num N --master_port P --join True`` with
    ``ghosthub train`` as the task; logs go to ``out_dir/msrun/``. For several machines, run
    ``msrun`` yourself with ``ghosthub train ...`` as the task: the trainer finds its rank from
    msrun's environment.

    Parameters
    ----------
    recipe, data_dir, out_dir, resume, progress, expect_dataset_digest
        As for :func:`train`.
    workers : int
        Number of processes (ranks).
    port : int, optional
        The scheduler's port (default: a free one).
    echo : bool
        Copy rank 0's output (progress, epoch lines) to stderr while it runs.

    Returns
    -------
    TrainResult
        Rank 0's result, with ``rank_weights_sha256`` of every rank.

    Raises
    ------
    TrainError
        A worker failed (the message shows the end of its log), or the ranks ended with
        different weights.
    """
    recipe = load_recipe(recipe)
    out_dir = Path(out_dir).resolve()
    run_dir = out_dir / "msrun"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "bin").mkdir(parents=True)
    recipe_file = run_dir / "recipe.yaml"
    recipe_file.write_text(recipe.to_yaml(), encoding="utf-8")
    # msrun starts "python TASK ARGS" with whatever "python" PATH finds: make it this interpreter
    # (a wrapper, not a symlink, which would lose a virtualenv).
    wrapper = run_dir / "bin" / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    entry = run_dir / "ghosthub_worker.py"
    entry.write_text("import sys\nfrom ghosthub.cli import main\nsys.exit(main())\n", encoding="utf-8")
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PATH": f"{run_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])),
           "GHOSTHUB_RANK_DIR": str(run_dir), "GLOG_v": os.environ.get("GLOG_v", "3")}
    if progress is not None:
        env["GHOSTHUB_NO_PROGRESS"] = "0" if progress else "1"
    task = [str(entry), "train", "--recipe", str(recipe_file), "--data-dir", str(Path(data_dir).resolve()),
            "--out", str(out_dir)]
    if resume is not None:
        task += ["--resume", str(Path(resume).resolve())]
    if expect_dataset_digest:
        task += ["--expect-dataset-digest", expect_dataset_digest]
    msrun = [sys.executable, "-c", "import sys; from mindspore.parallel.cluster.run import main; "
             "sys.argv[0] = 'msrun'; sys.exit(main())",
             "--worker_num", str(workers), "--local_worker_num", str(workers),
             "--master_port", str(port or _free_port()), "--join", "True", "--log_dir", str(run_dir),
             "--cluster_time_out", "120"]
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(run_dir / "worker_0.log", stop, sys.stderr), daemon=True)
    if echo:
        follower.start()
    try:
        with open(run_dir / "msrun.log", "w", encoding="utf-8") as log:
            code = subprocess.run(msrun + task, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    finally:
        stop.set()
        if echo:
            follower.join(timeout=5)
    result_file = out_dir / "result.json"
    if code != 0 or not result_file.is_file():
        raise TrainError(f"data-parallel training with {workers} workers failed (msrun exit status {code}); "
                         f"logs in {run_dir}:\n{_log_tails(run_dir, workers)}")
    result = TrainResult.from_dict(json.loads(result_file.read_text(encoding="utf-8")))
    ranks = [result.weights_sha256]
    for r in range(1, workers):
        rank_file = run_dir / f"rank-{r}.json"
        ranks.append(json.loads(rank_file.read_text(encoding="utf-8"))["weights_sha256"] if rank_file.is_file() else "")
    result = dataclasses.replace(result, rank_weights_sha256=ranks)
    _write_json(result_file, result.to_dict())
    if len(set(ranks)) != 1:
        raise TrainError(f"the {workers} workers ended with different weights ({', '.join(h[:12] for h in ranks)}); "
                         f"see the logs in {run_dir}.")
    return result


def _log_tails(run_dir: Path, workers: int, lines: int = 15) -> str:
    parts = []
    for name in [f"worker_{r}.log" for r in range(workers)] + ["scheduler.log"]:
        path = run_dir / name
        if path.is_file():
            text = [l for l in path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if not _MS_LOG_LINE.match(l)]
            parts.append(f"--- {name} (last lines)\n" + "\n".join(text[-lines:]))
    return "\n".join(parts) or "(no worker logs)"


# ---------------------------------------------------------------------------- rebuild


def rebuild(provenance: dict, data_dir: str | os.PathLike | None, out_dir: str | os.PathLike, *,
            progress: bool | None = None) -> RebuildResult:
    """Retrain from a recorded provenance and compare the checkpoint digest (``verify --rebuild``).

    The recorded recipe is the effective one (thread and worker counts resolved), so the run pins
    the same arithmetic. Run it in a fresh process: MindSpore sets its thread count once.

    Parameters
    ----------
    provenance : dict
        As returned in :attr:`TrainResult.provenance` (and recorded in the model card).
    data_dir : str or os.PathLike or None
        The same data; checked against the recorded dataset digest before training. None for
        data ghosthub can regenerate (``dataset: sklearn-digits``): it is written to
        ``out_dir/data``.
    out_dir : str or os.PathLike
        Where the rebuilt checkpoints go (``out_dir/train``).
    progress : bool, optional
        As for :func:`train`.

    Returns
    -------
    RebuildResult
        ``matches`` tells whether the digests agree.

    Raises
    ------
    TrainError
        The provenance lacks the recipe, or its recipe does not have the recorded digest.
    DataError
        The data differs from what the model was trained on.
    """
    missing = [k for k in ("recipe", "recipe_digest", "dataset_digest", "checkpoint_sha256") if not provenance.get(k)]
    if missing:
        raise TrainError(f"the provenance lacks {', '.join(missing)}: this model cannot be rebuilt.")
    recipe = Recipe.from_dict(provenance["recipe"], source="<recorded recipe>")
    if recipe.digest() != provenance["recipe_digest"]:
        raise TrainError(f"the recorded recipe's digest is {recipe.digest()[:16]}..., but the provenance says "
                         f"{provenance['recipe_digest'][:16]}...: the record was altered or written by another version.")
    import mindspore as ms

    here = _device_description(ms.get_context("device_target"))
    if provenance.get("device") and provenance["device"] != here:
        warnings.warn(f"the model was trained on {provenance['device']!r} and this is {here!r}: kernels may round "
                      "differently, so the digests may differ even when everything else is equal", stacklevel=2)
    if provenance.get("mindspore_version") and provenance["mindspore_version"] != ms.__version__:
        warnings.warn(f"the model was trained with MindSpore {provenance['mindspore_version']}, this is "
                      f"{ms.__version__}: the digests may differ", stacklevel=2)
    out_dir = Path(out_dir)
    if data_dir is None:
        from . import digits

        if recipe.dataset != digits.DATASET_NAME:
            raise TrainError(f"the model was trained on {recipe.dataset!r}, which ghosthub cannot regenerate: "
                             "pass the data dir it was trained on.")
        data_dir = out_dir / "data"
        digits.write_digits(data_dir)
    result = train(recipe, data_dir, out_dir / "train", workers=int(provenance.get("workers") or 1),
                   progress=progress, expect_dataset_digest=provenance["dataset_digest"])
    return RebuildResult(provenance["checkpoint_sha256"], result.checkpoint_sha256, result)
