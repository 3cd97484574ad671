"""The trainer: recipe + ImageFolder -> checkpoints, metrics and provenance (one process or msrun).

What it does per epoch: SGD with momentum on a cosine schedule with warm-up (per step), label
smoothing, dropout, weight decay; evaluates on ``val``; writes ``epoch-NNNN.ckpt`` (full training
state, the last ``keep_checkpoint_max`` kept) and ``best.ckpt`` (the network with the best val
top-1, what gets published). Every file is written atomically.

Exactness: everything random is a function of ``(seed, epoch, step, rank)`` -- the data order
and augmentation (see :mod:`ghosthub.data.imagefolder`) and the dropout masks, which the trainer draws
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
import json
import logging
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import config
from .._utils.fs import atomic_write, write_json
from .._utils.hashes import file_hash
from ..data.imagefolder import combined_digest, find_splits, scan_splits
from ..data.pipelines import epoch_order, train_dataset
from ..errors import DataError, TrainError
from ..preprocessing import Preprocessing
from ..runtime.isa import pin_cpu_isa
from ..tasks.evaluate import evaluate_folder
from ..weights.checkpoint import save_checkpoint
from . import finetune
from .cells import build, dropout_keep, make_cells, rewrap, sync_batchnorm, weights_sha256
from .environment import distributed, effective, pin_threads
from .launch import launch
from .provenance import make_provenance
from .recipe import Recipe, load_recipe
from .results import EpochMetrics, TrainResult
from .resume import BEST, best_metrics, carry_best, resume_state, save_best
from .schedule import lr_schedule

__all__ = ["train"]

logger = logging.getLogger(__name__)

_EPOCH_FILE = re.compile(r"epoch-(\d{4,})\.ckpt")


def _check_out_dir(out_dir: Path, resume) -> None:
    """Create the output folder; refuse one holding another run's checkpoints unless resuming."""
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = sorted(p.name for p in out_dir.iterdir() if _EPOCH_FILE.fullmatch(p.name))
    if resume is None and (earlier or (out_dir / BEST).exists()):
        advice = f"continue it with --resume {out_dir / earlier[-1]}, or " if earlier else ""
        raise TrainError(
            f"{out_dir} holds the checkpoints of an earlier run: {advice}pass another --out "
            "(or delete them) to start afresh."
        )


def _load_data(recipe: Recipe, data_dir: Path, expect_digest: str | None):
    """Scan the train and val splits (every image read and checked once); their combined digest."""
    train_dir, val_dir = find_splits(data_dir, recipe.train_split, recipe.val_split)
    if train_dir is None:
        raise DataError(
            f"data dir {str(data_dir)!r} has no {recipe.train_split!r} folder: expected "
            f"{data_dir}/{recipe.train_split}/<class>/<image> (and optionally {recipe.val_split}/)."
        )
    train_folder, val_folder = scan_splits(train_dir, val_dir)
    digest = combined_digest(train_folder, val_folder)
    if expect_digest and not digest.startswith(expect_digest.lower()):
        raise DataError(
            f"the data in {str(data_dir)!r} is not what the model was trained on: dataset digest "
            f"{digest[:16]}..., expected {expect_digest[:16]}... (files, labels or bytes differ)."
        )
    if recipe.num_classes is not None and recipe.num_classes != len(train_folder.classes):
        raise DataError(
            f"{recipe.source}: recipe key 'num_classes' is {recipe.num_classes} but {train_dir} has "
            f"{len(train_folder.classes)} class folders. Set num_classes: null to take it from the data."
        )
    return train_folder, val_folder, digest


def _run_epoch(
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


def _prune(out_dir: Path, keep: int) -> None:
    """Delete epoch checkpoints beyond the newest ``keep``."""
    found = sorted((int(m.group(1)), p) for p in out_dir.iterdir() if (m := _EPOCH_FILE.fullmatch(p.name)))
    for _, path in found[:-keep]:
        path.unlink(missing_ok=True)


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


# ---------------------------------------------------------------------------- train


def train(
    recipe: str | os.PathLike | Recipe,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    epochs: int | None = None,
    resume: str | os.PathLike | None = None,
    workers: int = 1,
    progress: bool | None = None,
    callback: Callable[[EpochMetrics], None] | None = None,
    expect_dataset_digest: str | None = None,
    base=None,
) -> TrainResult:
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
    base : BaseWeights, optional
        The weights to fine-tune from, already resolved (:func:`ghosthub.training.finetune.resolve_base`);
        default: what the recipe's ``pretrained`` or ``ckpt_path`` names, from the default hub and cache.

    Returns
    -------
    TrainResult

    Raises
    ------
    RecipeError, DataError, TrainError, UnsupportedBackboneError

    Examples
    --------
    >>> from ghosthub.data.digits import write_digits
    >>> write_digits("digits")                                      # doctest: +SKIP
    >>> result = train("digits_demo", "digits", "runs/digits")      # doctest: +SKIP
    >>> result.best.val_top1 >= 95                                  # doctest: +SKIP
    True
    """
    recipe = load_recipe(recipe, **({"epoch_size": epochs} if epochs else {}))
    # The instruction set oneDNN dispatches to is part of the arithmetic: pinned before the first convolution.
    pin_cpu_isa(recipe.cpu_isa)
    if workers > 1 and os.environ.get("MS_ROLE") != "MS_WORKER":
        return launch(
            recipe,
            data_dir,
            out_dir,
            workers=workers,
            resume=resume,
            progress=progress,
            expect_dataset_digest=expect_dataset_digest,
        )
    import mindspore as ms

    previous_mode = ms.get_context("mode")
    try:
        return _train(
            recipe,
            Path(data_dir),
            Path(out_dir),
            resume=resume,
            progress=progress,
            callback=callback,
            expect_dataset_digest=expect_dataset_digest,
            base=base,
        )
    finally:
        ms.set_context(mode=previous_mode)


def _train(
    recipe: Recipe, data_dir: Path, out_dir: Path, *, resume, progress, callback, expect_dataset_digest, base
) -> TrainResult:
    import mindspore as ms
    from tqdm import tqdm

    source = recipe.source
    ms.set_context(mode=ms.GRAPH_MODE if recipe.mode == 0 else ms.PYNATIVE_MODE)
    rank, world = distributed()
    device_target = ms.get_context("device_target")
    recipe = effective(recipe, device_target)
    finetune.check_tuning(recipe)
    if recipe.finetuning and base is None:
        base = finetune.resolve_base(recipe, progress=progress)
    recipe = finetune.with_base_preprocessing(recipe, base if recipe.finetuning else None)
    pin_threads(recipe.threads)
    if rank == 0 and recipe.devices != world:
        warnings.warn(
            f"the recipe's values are for {recipe.devices} workers x batch_size {recipe.batch_size} = "
            f"{recipe.devices * recipe.batch_size} images per step; this run uses {world} x {recipe.batch_size} = "
            f"{world * recipe.batch_size}, and lr {recipe.lr:g} is not rescaled",
            stacklevel=3,
        )

    if rank == 0:
        _check_out_dir(out_dir, resume)
    train_folder, val_folder, data_digest = _load_data(recipe, data_dir, expect_dataset_digest)
    num_classes = len(train_folder.classes)
    if recipe.width is None:
        raise TrainError(
            f"{source}: recipe key 'model' is {recipe.model!r}, without a width: name a variant such "
            "as ghostnet_050 (the last three digits are the width in hundredths)."
        )

    per_worker = len(
        epoch_order(
            len(train_folder),
            seed=recipe.seed,
            epoch=0,
            rank=rank,
            world=world,
            shuffle=False,
            repeats=recipe.aug_repeats,
        )
    )
    steps_per_epoch = (
        per_worker // recipe.batch_size if recipe.drop_remainder else math.ceil(per_worker / recipe.batch_size)
    )
    if steps_per_epoch == 0:
        raise TrainError(
            f"{train_folder.root} has {len(train_folder)} images, {per_worker} per worker: fewer than one "
            f"batch of {recipe.batch_size}. Lower batch_size or set drop_remainder: false."
        )
    lr = lr_schedule(recipe, steps_per_epoch, steps_per_epoch * recipe.epoch_size)
    net, train_step = build(
        recipe, num_classes, lr, base=base if recipe.finetuning else None, steps_per_epoch=steps_per_epoch
    )
    reduce_mean = make_cells()[1](world) if world > 1 else None

    preprocessing = Preprocessing.from_recipe(recipe)
    arch = {
        "model": recipe.model,
        "backbone": recipe.backbone,
        "width": recipe.width,
        "num_classes": num_classes,
        "in_channels": 3,
        **preprocessing.record(in_channels=3),
        "classes": list(train_folder.classes),
        "dataset": recipe.dataset,
        "recipe_digest": recipe.digest(),
        "dataset_digest": data_digest,
        "seed": recipe.seed,
        **({"base_model": base.name, "base_sha256": base.sha256} if recipe.finetuning else {}),
    }
    start_epoch, best = 0, None
    if resume is not None:
        info = resume_state(resume, recipe, train_step)
        start_epoch, best = int(info["epoch"]), info.get("best")
        if rank == 0 and best:
            carry_best(
                Path(resume),
                out_dir,
                best["epoch"],
                start_epoch,
                lambda: save_best(net, out_dir, arch, start_epoch, best_metrics(best)),
            )
    history = _read_history(out_dir, start_epoch) if resume is not None and rank == 0 else []
    if rank == 0:  # recipe.yaml: what ran; metrics.jsonl: the epochs before a resume point, then one line per epoch
        atomic_write(out_dir / "recipe.yaml", recipe.to_yaml().encode("utf-8"))
        atomic_write(
            out_dir / "metrics.jsonl", "".join(json.dumps(dataclasses.asdict(e)) + "\n" for e in history).encode()
        )
    progress = config.show_progress(progress) and rank == 0
    last_checkpoint = str(resume) if resume is not None else ""

    for epoch in range(start_epoch, recipe.epoch_size):
        data = train_dataset(train_folder, recipe, epoch=epoch, rank=rank, world=world)
        if recipe.freeze_epochs and epoch == recipe.freeze_epochs and epoch > start_epoch:
            train_step = rewrap(train_step, recipe)  # BatchNorm back in training mode: compile afresh
        train_step.set_train(True)
        if recipe.finetuning:
            finetune.set_frozen_batchnorm(net, finetune.frozen(recipe, epoch))
        timing = {"started": epoch > start_epoch, "images": 0, "seconds": 0.0}
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{recipe.epoch_size}",
            unit="step",
            disable=not progress,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        began = time.perf_counter()
        try:
            losses, images = _run_epoch(
                train_step,
                data,
                recipe,
                epoch=epoch,
                rank=rank,
                world=world,
                num_features=net.num_features,
                lr=lr,
                steps=steps_per_epoch,
                bar=bar,
                timing=timing,
            )
        finally:
            bar.close()
        seconds = time.perf_counter() - began
        if reduce_mean is not None:
            sync_batchnorm(net, reduce_mean)

        metrics = None
        if rank == 0 and val_folder is not None and recipe.val_while_train:
            metrics = evaluate_folder(
                net, val_folder, preprocessing, batch_size=recipe.batch_size, workers=recipe.num_parallel_workers
            )
        record = {"top1": metrics.top1, "top5": metrics.top5, "loss": metrics.loss} if metrics else None
        # Best by val top-1, then lower val loss; without val numbers the latest epoch is the best.
        improved = (
            record is None
            or best is None
            or best.get("top1") is None
            or (record["top1"], -record["loss"]) > (best["top1"], -best["loss"])
        )
        if improved:
            best = {"epoch": epoch + 1, **(record or {"top1": None, "top5": None, "loss": None})}

        checkpoint = None
        if rank == 0:
            epoch_info = {
                **arch,
                "kind": "training",
                "epoch": epoch + 1,
                "global_step": (epoch + 1) * steps_per_epoch,
                "metrics": record,
                "best": best,
                "recipe": recipe.to_dict(),
            }
            checkpoint = out_dir / f"epoch-{epoch + 1:04d}.ckpt"
            save_checkpoint(
                train_step, checkpoint, epoch_info, choice=lambda name: not name.startswith("learning_rate")
            )
            if improved:
                save_best(net, out_dir, arch, epoch + 1, record)
            _prune(out_dir, recipe.keep_checkpoint_max)
            last_checkpoint = str(checkpoint)
        item = EpochMetrics(
            epoch=epoch + 1,
            epochs=recipe.epoch_size,
            steps=len(losses),
            images=world * images,
            train_loss=float(np.mean(losses)),
            lr=float(lr[epoch * steps_per_epoch + len(losses) - 1]),
            seconds=seconds,
            images_per_second=world * timing["images"] / timing["seconds"] if timing["seconds"] else 0.0,
            val_top1=record and record["top1"],
            val_top5=record and record["top5"],
            val_loss=record and record["loss"],
            checkpoint=str(checkpoint) if checkpoint else None,
            best=improved,
        )
        history.append(item)
        if rank == 0:
            with open(out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(dataclasses.asdict(item)) + "\n")
            logger.info(
                "epoch %d/%d loss %.4f val top-1 %s %.0f img/s",
                item.epoch,
                item.epochs,
                item.train_loss,
                item.val_top1,
                item.images_per_second,
            )
            if callback is not None:
                callback(item)

    weights = weights_sha256(net)
    best_path = out_dir / BEST
    sha = file_hash(best_path) if rank == 0 and best_path.is_file() else ""
    provenance = make_provenance(
        recipe,
        source,
        train_folder,
        val_folder,
        data_digest,
        best,
        history,
        sha,
        world,
        device_target,
        base=base if recipe.finetuning else None,
    )
    result = TrainResult(
        out_dir=str(out_dir),
        best_checkpoint=str(best_path),
        last_checkpoint=last_checkpoint,
        checkpoint_sha256=sha,
        weights_sha256=weights,
        epochs=history,
        images_per_second=provenance["images_per_second"],
        provenance=provenance,
        rank=rank,
    )
    if rank == 0:
        write_json(out_dir / "provenance.json", provenance)
        write_json(out_dir / "result.json", result.to_dict())
    elif os.environ.get("GHOSTHUB_RANK_DIR"):
        write_json(Path(os.environ["GHOSTHUB_RANK_DIR"]) / f"rank-{rank}.json", {"weights_sha256": weights})
    return result
