"""The trainer: recipe + ImageFolder -> checkpoints, metrics and provenance (one process or msrun).

What it does per epoch: SGD with momentum on a cosine schedule with warm-up (per step), label
smoothing, dropout, weight decay; evaluates on ``val``; writes ``epoch-NNNN.ckpt`` (full training
state, the last ``keep_checkpoint_max`` kept) and ``best.ckpt`` (the network with the best val
top-1, what gets published). Every file is written atomically. One epoch's work is
:mod:`ghosthub.training.epochs`; this module settles the run before it and writes the results after.

Exactness: everything random is a function of ``(seed, epoch, step, rank)`` -- the data order
and augmentation (see :mod:`ghosthub.data.pipelines`) and the dropout masks, which the trainer draws
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
from collections.abc import Callable
from pathlib import Path

from .. import config
from .._utils.fs import atomic_write, make_folders, remove_made_folders, write_json
from .._utils.hashes import file_hash
from .._utils.spelling import said
from .._utils.warn import warn
from ..data.imagefolder import combined_digest, find_splits, scan_splits
from ..data.pipelines import epoch_order
from ..errors import DataError, TrainError, TrainWarning
from ..preprocessing import Preprocessing
from ..runtime.isa import pin_cpu_isa
from . import finetune
from .cells import build, make_cells, weights_sha256
from .environment import distributed, effective, pin_threads
from .epochs import EPOCH_FILE, Run, train_epoch
from .launch import launch
from .provenance import make_provenance
from .recipe import Recipe, load_recipe
from .results import EpochMetrics, TrainResult
from .resume import BEST, best_metrics, carry_best, resume_state, save_best
from .schedule import lr_schedule

__all__ = ["train"]

logger = logging.getLogger(__name__)


def _check_out_dir(out_dir: Path, resume) -> None:
    """Create the output folder; refuse one holding another run's checkpoints unless resuming."""
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = sorted(p.name for p in out_dir.iterdir() if EPOCH_FILE.fullmatch(p.name))
    if resume is None and (earlier or (out_dir / BEST).exists()):
        advice = f"continue it with {said('resume', str(out_dir / earlier[-1]))}, or " if earlier else ""
        raise TrainError(
            f"{out_dir} holds the checkpoints of an earlier run: {advice}pass another {said('out_dir')} "
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


def _read_history(out_dir: Path, until_epoch: int) -> list[EpochMetrics]:
    path = out_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    history = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = EpochMetrics.from_dict(json.loads(line))
        except (ValueError, RecursionError):  # a line of another shape (cut short by a kill, edited) is not history
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
    created = make_folders(out_dir)  # under msrun: none, the launcher made it
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
    except BaseException:
        remove_made_folders(created)  # a run that failed before writing anything leaves no empty folder
        raise
    finally:
        ms.set_context(mode=previous_mode)


def _train(
    recipe: Recipe, data_dir: Path, out_dir: Path, *, resume, progress, callback, expect_dataset_digest, base
) -> TrainResult:
    """Train in this process (the only one, or one rank under msrun): prepare, run every epoch, then finish."""
    run = _prepare(
        recipe,
        data_dir,
        out_dir,
        resume=resume,
        progress=progress,
        expect_dataset_digest=expect_dataset_digest,
        base=base,
    )
    _resume(run, resume)
    run.progress = config.show_progress(progress) and run.rank == 0
    run.callback = callback
    if run.rank == 0:  # said once the recipe, the data and the output folder have passed their checks
        logger.info(
            "training %s on %s (%d images, %d classes) into %s: %d epochs of %d steps; the first step compiles "
            "the network graph (about 15-30 s), then one line per epoch",
            Path(run.source).stem,
            data_dir,
            len(run.train_folder),
            len(run.train_folder.classes),
            out_dir,
            run.recipe.epoch_size - run.start_epoch,
            run.steps_per_epoch,
        )
    for epoch in range(run.start_epoch, run.recipe.epoch_size):
        train_epoch(run, epoch)
    return _finish(run)


def _prepare(recipe: Recipe, data_dir: Path, out_dir: Path, *, resume, progress, expect_dataset_digest, base) -> Run:
    """Everything before the first epoch: execution mode, effective recipe, data, schedule and network."""
    import mindspore as ms

    source = recipe.source
    ms.set_context(mode=ms.GRAPH_MODE if recipe.mode == 0 else ms.PYNATIVE_MODE)
    rank, world = distributed()
    device_target = ms.get_context("device_target")
    recipe, base = _settle_recipe(recipe, device_target, base, progress, rank, world)
    if rank == 0:
        _check_out_dir(out_dir, resume)
    train_folder, val_folder, data_digest = _load_data(recipe, data_dir, expect_dataset_digest)
    num_classes = len(train_folder.classes)
    if recipe.width is None:
        raise TrainError(
            f"{source}: recipe key 'model' is {recipe.model!r}, without a width: name a variant such "
            "as ghostnet_050 (the last three digits are the width in hundredths)."
        )
    steps_per_epoch = _steps_per_epoch(recipe, train_folder, rank, world)
    lr = lr_schedule(recipe, steps_per_epoch, steps_per_epoch * recipe.epoch_size)
    net, train_step = build(recipe, num_classes, lr, base=base, steps_per_epoch=steps_per_epoch)
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
        **({"base_model": base.name, "base_sha256": base.sha256} if base is not None else {}),
    }
    return Run(
        recipe=recipe,
        source=source,
        out_dir=out_dir,
        rank=rank,
        world=world,
        device_target=device_target,
        base=base,
        train_folder=train_folder,
        val_folder=val_folder,
        data_digest=data_digest,
        steps_per_epoch=steps_per_epoch,
        lr=lr,
        net=net,
        train_step=train_step,
        reduce_mean=reduce_mean,
        preprocessing=preprocessing,
        arch=arch,
    )


def _settle_recipe(recipe: Recipe, device_target: str, base, progress, rank: int, world: int):
    """(the effective recipe, the fine-tuning base or None); pins the kernel threads the recipe states."""
    recipe = effective(recipe, device_target)
    finetune.check_tuning(recipe)
    if recipe.finetuning and base is None:
        base = finetune.resolve_base(recipe, progress=progress)
    base = base if recipe.finetuning else None
    recipe = finetune.with_base_preprocessing(recipe, base)
    pin_threads(recipe.threads)
    if rank == 0 and recipe.devices != world:
        warn(
            f"the recipe's values are for {recipe.devices} workers x batch_size {recipe.batch_size} = "
            f"{recipe.devices * recipe.batch_size} images per step; this run uses {world} x {recipe.batch_size} = "
            f"{world * recipe.batch_size}, and lr {recipe.lr:g} is not rescaled",
            TrainWarning,
        )
    return recipe, base


def _steps_per_epoch(recipe: Recipe, train_folder, rank: int, world: int) -> int:
    """Optimizer steps per epoch on this rank's shard; fewer than one batch is an error."""
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
    steps = per_worker // recipe.batch_size if recipe.drop_remainder else math.ceil(per_worker / recipe.batch_size)
    if steps == 0:
        raise TrainError(
            f"{train_folder.root} has {len(train_folder)} images, {per_worker} per worker: fewer than one "
            f"batch of {recipe.batch_size}. Lower batch_size or set drop_remainder: false."
        )
    return steps


def _resume(run: Run, resume) -> None:
    """Take up a resumed run's epoch, best and history; then write recipe.yaml and metrics.jsonl so far (rank 0)."""
    if resume is not None:
        info = resume_state(resume, run.recipe, run.train_step)
        run.start_epoch, run.best = int(info["epoch"]), info.get("best")
        run.last_checkpoint = str(resume)
        if run.rank == 0 and run.best:
            best, start = run.best, run.start_epoch
            carry_best(
                Path(resume),
                run.out_dir,
                best["epoch"],
                start,
                lambda: save_best(run.net, run.out_dir, run.arch, start, best_metrics(best)),
            )
        if run.rank == 0:
            run.history = _read_history(run.out_dir, run.start_epoch)
    if run.rank == 0:  # recipe.yaml: what ran; metrics.jsonl: the epochs before a resume point, then one line per epoch
        atomic_write(run.out_dir / "recipe.yaml", run.recipe.to_yaml().encode("utf-8"))
        lines = "".join(json.dumps(dataclasses.asdict(e)) + "\n" for e in run.history)
        atomic_write(run.out_dir / "metrics.jsonl", lines.encode())


def _finish(run: Run) -> TrainResult:
    """The run's result and provenance, written beside its checkpoints (rank 0; other ranks report their weights)."""
    weights = weights_sha256(run.net)
    best_path = run.out_dir / BEST
    sha = file_hash(best_path) if run.rank == 0 and best_path.is_file() else ""
    provenance = make_provenance(
        run.recipe,
        run.source,
        run.train_folder,
        run.val_folder,
        run.data_digest,
        run.best,
        run.history,
        sha,
        run.world,
        run.device_target,
        base=run.base,
    )
    result = TrainResult(
        out_dir=str(run.out_dir),
        best_checkpoint=str(best_path),
        last_checkpoint=run.last_checkpoint,
        checkpoint_sha256=sha,
        weights_sha256=weights,
        epochs=run.history,
        images_per_second=provenance["images_per_second"],
        provenance=provenance,
        rank=run.rank,
    )
    if run.rank == 0:
        write_json(run.out_dir / "provenance.json", provenance)
        write_json(run.out_dir / "result.json", result.to_dict())
    elif config.rank_dir() is not None:
        write_json(config.rank_dir() / f"rank-{run.rank}.json", {"weights_sha256": weights})
    return result
