"""One training epoch: the steps, BatchNorm averaged across ranks, validation, checkpoints and the metrics line.

The run's state (:class:`Run`) is settled by :mod:`ghosthub.training.trainer` before the first
epoch; every epoch reads it and updates what changes (the best epoch, the history, the last
checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..data.pipelines import train_dataset
from ..errors import TrainError
from ..preprocessing import Preprocessing
from ..tasks.evaluate import evaluate_folder
from ..weights.checkpoint import save_checkpoint
from . import finetune
from .cells import dropout_keep, rewrap, sync_batchnorm
from .recipe import Recipe
from .results import EpochMetrics
from .resume import save_best

__all__ = ["EPOCH_FILE", "Run", "prune_checkpoints", "train_epoch"]

logger = logging.getLogger(__name__)

EPOCH_FILE = re.compile(r"epoch-(\d{4,})\.ckpt")


@dataclasses.dataclass
class Run:
    """One training run's state: what :func:`_prepare` settles, and what each epoch reads and updates."""

    recipe: Recipe  # the effective recipe: threads and workers resolved, a fine-tuning base's preprocessing filled in
    source: str  # where the recipe came from, as given
    out_dir: Path
    rank: int
    world: int
    device_target: str
    base: Any  # the BaseWeights fine-tuned from, or None
    train_folder: Any
    val_folder: Any
    data_digest: str
    steps_per_epoch: int
    lr: np.ndarray  # per step
    net: Any
    train_step: Any
    reduce_mean: Any  # averages over the ranks, or None in a single process
    preprocessing: Preprocessing
    arch: dict  # what every checkpoint records: architecture, preprocessing, classes, digests
    progress: bool = False
    callback: Callable[[EpochMetrics], None] | None = None
    start_epoch: int = 0
    best: dict | None = None  # epoch, top1, top5, loss of the best epoch so far
    history: list = dataclasses.field(default_factory=list)
    last_checkpoint: str = ""


def train_epoch(run: Run, epoch: int) -> None:
    """One epoch: train on this rank's shard, average BatchNorm across ranks, validate, checkpoint, report."""
    from tqdm import tqdm

    recipe = run.recipe
    data = train_dataset(run.train_folder, recipe, epoch=epoch, rank=run.rank, world=run.world)
    if recipe.freeze_epochs and epoch == recipe.freeze_epochs and epoch > run.start_epoch:
        run.train_step = rewrap(run.train_step, recipe)  # BatchNorm back in training mode: compile afresh
    run.train_step.set_train(True)
    if recipe.finetuning:
        finetune.set_frozen_batchnorm(run.net, finetune.frozen(recipe, epoch))
    timing = {"started": epoch > run.start_epoch, "images": 0, "seconds": 0.0}
    bar = tqdm(
        total=run.steps_per_epoch,
        desc=f"epoch {epoch + 1}/{recipe.epoch_size}",
        unit="step",
        disable=not run.progress,
        leave=False,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    began = time.perf_counter()
    try:
        losses, images = _steps(
            run.train_step,
            data,
            recipe,
            epoch=epoch,
            rank=run.rank,
            world=run.world,
            num_features=run.net.num_features,
            lr=run.lr,
            steps=run.steps_per_epoch,
            bar=bar,
            timing=timing,
        )
    finally:
        bar.close()
    seconds = time.perf_counter() - began
    if run.reduce_mean is not None:
        sync_batchnorm(run.net, run.reduce_mean)
    record = _validate(run)
    improved = _improves(record, run.best)
    if improved:
        run.best = {"epoch": epoch + 1, **(record or {"top1": None, "top5": None, "loss": None})}
    checkpoint = _save_epoch(run, epoch, record, improved) if run.rank == 0 else None
    item = EpochMetrics(
        epoch=epoch + 1,
        epochs=recipe.epoch_size,
        steps=len(losses),
        images=run.world * images,
        train_loss=float(np.mean(losses)),
        lr=float(run.lr[epoch * run.steps_per_epoch + len(losses) - 1]),
        seconds=seconds,
        images_per_second=run.world * timing["images"] / timing["seconds"] if timing["seconds"] else 0.0,
        val_top1=record and record["top1"],
        val_top5=record and record["top5"],
        val_loss=record and record["loss"],
        checkpoint=str(checkpoint) if checkpoint else None,
        best=improved,
    )
    run.history.append(item)
    if run.rank == 0:
        _report(run, item)


def _validate(run: Run) -> dict | None:
    """Val top-1, top-5 and loss after an epoch (rank 0, with a val split and val_while_train), else None."""
    if run.rank != 0 or run.val_folder is None or not run.recipe.val_while_train:
        return None
    metrics = evaluate_folder(
        run.net,
        run.val_folder,
        run.preprocessing,
        batch_size=run.recipe.batch_size,
        workers=run.recipe.num_parallel_workers,
    )
    return {"top1": metrics.top1, "top5": metrics.top5, "loss": metrics.loss}


def _improves(record: dict | None, best: dict | None) -> bool:
    """Best by val top-1, then lower val loss; without val numbers the latest epoch is the best."""
    return (
        record is None
        or best is None
        or best.get("top1") is None
        or (record["top1"], -record["loss"]) > (best["top1"], -best["loss"])
    )


def _save_epoch(run: Run, epoch: int, record: dict | None, improved: bool) -> Path:
    """Write epoch-NNNN.ckpt (the whole training state) and, when it improved, best.ckpt; keep the newest few."""
    epoch_info = {
        **run.arch,
        "kind": "training",
        "epoch": epoch + 1,
        "global_step": (epoch + 1) * run.steps_per_epoch,
        "metrics": record,
        "best": run.best,
        "recipe": run.recipe.to_dict(),
    }
    checkpoint = run.out_dir / f"epoch-{epoch + 1:04d}.ckpt"
    save_checkpoint(run.train_step, checkpoint, epoch_info, choice=lambda name: not name.startswith("learning_rate"))
    if improved:
        save_best(run.net, run.out_dir, run.arch, epoch + 1, record)
    prune_checkpoints(run.out_dir, run.recipe.keep_checkpoint_max)
    run.last_checkpoint = str(checkpoint)
    return checkpoint


def _report(run: Run, item: EpochMetrics) -> None:
    """An epoch's line in metrics.jsonl and the log, then the caller's callback (rank 0)."""
    with open(run.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(dataclasses.asdict(item)) + "\n")
    logger.info("%s", item.line())  # a line per epoch wherever the log goes: a pipe shows no progress bar
    if run.callback is not None:
        run.callback(item)


def _steps(
    train_step,
    data,
    recipe: Recipe,
    *,
    epoch: int,
    rank: int,
    world: int,
    num_features: int,
    lr: np.ndarray,
    steps: int,
    bar,
    timing: dict,
) -> tuple[list[float], int]:
    """Train one epoch; returns the step losses and the images this rank saw.

    ``timing`` accumulates ``images`` and ``seconds`` over steps after the run's first, which
    also compiles the graph; data loading is included.
    """
    import mindspore as ms

    losses, images = [], 0
    previous = time.perf_counter()
    if not timing["started"]:  # the first step compiles the graph: say so rather than sit at 0%
        bar.set_postfix_str("compiling the network graph (first step, about 15-30 s)", refresh=True)
    for step, (x, y) in enumerate(data.create_tuple_iterator(num_epochs=1)):
        keep = dropout_keep(recipe, (x.shape[0], num_features), epoch=epoch, step=step, rank=rank)
        out = train_step(x, y, ms.Tensor(keep))
        loss = float((out[0] if isinstance(out, tuple) else out).asnumpy())
        now = time.perf_counter()
        if not math.isfinite(loss):
            raise TrainError(
                f"the loss became {loss} at epoch {epoch + 1}, step {step + 1} "
                f"(lr {lr[epoch * steps + step]:.3g}): lower lr or raise warmup_epochs in the recipe."
            )
        losses.append(loss)
        images += x.shape[0]
        if timing["started"]:
            timing["images"] += x.shape[0]
            timing["seconds"] += now - previous
        timing["started"], previous = True, now
        bar.update(1)
        bar.set_postfix(
            loss=f"{loss:.3f}", img_s=f"{world * timing['images'] / max(timing['seconds'], 1e-9):.0f}", refresh=False
        )
    return losses, images


def prune_checkpoints(out_dir: Path, keep: int) -> None:
    """Delete epoch checkpoints beyond the newest ``keep``."""
    found = sorted((int(m.group(1)), p) for p in out_dir.iterdir() if (m := EPOCH_FILE.fullmatch(p.name)))
    for _, path in found[:-keep]:
        path.unlink(missing_ok=True)
