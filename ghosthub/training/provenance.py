"""Provenance: what a run records about how its checkpoint was made (``provenance.json``, the card)."""

from __future__ import annotations

import numpy as np

from ..runtime.isa import cpu_isa_in_use
from .environment import device_description, versions
from .recipe import Recipe
from .resume import best_metrics

__all__ = ["HISTORY_KEYS", "PROVENANCE_KEYS", "make_provenance"]

PROVENANCE_KEYS = (
    "recipe",
    "recipe_digest",
    "recipe_source",
    "dataset",
    "dataset_digest",
    "train_images",
    "val_images",
    "classes",
    "seed",
    "threads",
    "data_workers",
    "workers",
    "amp_level",
    "mode",
    "epochs",
    "best_epoch",
    "metrics",
    "history",
    "checkpoint_sha256",
    "images_per_second",
    "ghosthub_version",
    "mindspore_version",
    "numpy_version",
    "python_version",
    "device",
    "cpu_isa",
)

# What the record keeps of each epoch (a card's training curves): the figures, not the timings, which differ per run.
HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "val_top1", "val_top5", "lr")


def make_provenance(
    recipe: Recipe,
    source: str,
    train_folder,
    val_folder,
    data_digest: str,
    best: dict | None,
    history: list,
    sha: str,
    world: int,
    device_target: str,
    base=None,
) -> dict:
    """What a card records about how its checkpoint was made (keys: :data:`PROVENANCE_KEYS`).

    ``history`` keeps :data:`HISTORY_KEYS` of every epoch (6 significant digits), from which a
    hub's page draws the model's training curves. A fine-tuning run adds its lineage
    (:data:`~ghosthub.training.finetune.BASE_PROVENANCE_KEYS`): the base model's name, card,
    asset URL and full SHA-256, by which a rebuild finds it again.
    """
    rates = [e.images_per_second for e in history if e.images_per_second]
    return {
        "recipe": recipe.to_dict(),
        "recipe_digest": recipe.digest(),
        "recipe_source": source,
        "dataset": recipe.dataset,
        "dataset_digest": data_digest,
        "train_images": len(train_folder),
        "val_images": len(val_folder) if val_folder else 0,
        "classes": list(train_folder.classes),
        "seed": recipe.seed,
        "threads": recipe.threads,
        "data_workers": recipe.num_parallel_workers,
        "workers": world,
        "amp_level": recipe.amp_level,
        "mode": recipe.mode,
        "epochs": recipe.epoch_size,
        "best_epoch": best["epoch"] if best else None,
        "metrics": best_metrics(best) or {},
        "history": [_epoch_record(e) for e in history],
        "checkpoint_sha256": sha,
        "images_per_second": float(np.median(rates)) if rates else 0.0,
        **versions(),
        "device": device_description(device_target),
        "cpu_isa": cpu_isa_in_use().isa,
        **(base.provenance() if base is not None else {}),
    }


def _epoch_record(epoch) -> dict:
    """One epoch's figures as the record keeps them (None where there was no val split)."""
    record = {}
    for key in HISTORY_KEYS:
        value = getattr(epoch, key)
        record[key] = float(f"{value:.6g}") if isinstance(value, float) else value
    return record
