"""The learning-rate schedule: linear warm-up, then cosine decay to ``min_lr`` (MindCV's)."""

from __future__ import annotations

import numpy as np

from .recipe import Recipe

__all__ = ["lr_schedule"]


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
    >>> lr_schedule(r, 2, 6).astype(float).round(3).tolist()
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
