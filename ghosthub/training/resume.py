"""Exact resume: restore an epoch checkpoint's training state, and carry the best network along."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .._utils.fs import atomic_path
from .._utils.spelling import said
from ..errors import TrainError
from ..weights.checkpoint import read_info, read_with_info, save_checkpoint
from .recipe import Recipe

__all__ = ["BEST", "resume_state", "save_best", "best_metrics", "carry_best"]

BEST = "best.ckpt"
# Recipe keys that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = ("epoch_size", "keep_checkpoint_max", "val_while_train")


def resume_state(path: str | os.PathLike, recipe: Recipe, train_step) -> dict:
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
        raise TrainError(
            f"{os.fspath(path)!r} is from epoch {info['epoch']}, and the recipe trains "
            f"{recipe.epoch_size} epochs: nothing left to do (pass {said('epochs')} to train longer)."
        )
    missing = []
    for param in train_step.get_parameters():
        if param.name.startswith("learning_rate"):  # recomputed from the recipe (per group when fine-tuning)
            continue
        value = stored.get(param.name)
        if value is None or tuple(value.shape) != tuple(param.shape):
            missing.append(param.name)
            continue
        param.set_data(ms.Tensor(value, param.dtype))
    if missing:
        raise TrainError(
            f"cannot resume from {os.fspath(path)!r}: {len(missing)} training-state entries are "
            f"missing or have another shape ({', '.join(missing[:5])})."
        )
    return info


def save_best(net, out_dir: Path, arch: dict, epoch: int, metrics: dict | None) -> None:
    """Write best.ckpt: the network alone, with the record a resumed run must reproduce byte for byte."""
    save_checkpoint(net, out_dir / BEST, {**arch, "kind": "network", "epoch": epoch, "metrics": metrics})


def best_metrics(best: dict | None) -> dict | None:
    """The val metrics of the best epoch so far (None without val numbers)."""
    if not best or best.get("top1") is None:
        return None
    return {k: best[k] for k in ("top1", "top5", "loss")}


def carry_best(resume: Path, out_dir: Path, best_epoch: int, start_epoch: int, save_restored: Callable) -> None:
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
        with atomic_path(target, suffix=".ckpt") as tmp:
            shutil.copyfile(source, tmp)
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
