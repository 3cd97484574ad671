"""MindSpore training and evaluation pipelines over a scanned ImageFolder.

Determinism: the order of every epoch comes from ``(seed, epoch)`` and is sharded here, not by
a MindSpore sampler; MindSpore's C++ random augmentations are seeded per epoch and repeat
exactly for a fixed number of pipeline workers; random erasing draws from a generator keyed
by ``(seed, epoch, rank, position)``. So an epoch's batches depend only on the recipe, the data
and the epoch number, which is what makes resumed training exact.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import numpy as np

from .._utils.fs import open_regular
from ..preprocessing import Preprocessing
from .augment import parse_auto_augment
from .imagefolder import ImageFolder

__all__ = ["epoch_order", "eval_dataset", "train_dataset", "workers_for"]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- epoch order


def epoch_order(
    num_samples: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1, shuffle: bool = True, repeats: int = 0
) -> np.ndarray:
    """Sample indices one worker reads in one epoch.

    Every worker computes the same permutation from ``(seed, epoch)`` and takes every
    ``world``-th index from ``rank``, after padding so all workers get the same count (they
    must run the same number of steps). With ``repeats > 1`` each index appears that many times
    in a row before sharding and the epoch keeps about its usual length (MindCV's
    RepeatAugSampler: ``floor(n // 256 * 256 / world)`` per worker).

    Examples
    --------
    >>> epoch_order(5, seed=0, epoch=0, shuffle=False, rank=1, world=2).tolist()
    [1, 3, 0]
    """
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    else:
        order = np.arange(num_samples)
    if repeats > 1:
        order = np.repeat(order, repeats)
    per_worker = math.ceil(len(order) / world)
    order = np.concatenate([order, order[: per_worker * world - len(order)]])
    mine = order[rank::world]
    if repeats > 1:
        selected = num_samples // 256 * 256 // world if num_samples >= 256 else math.ceil(num_samples / world)
        mine = mine[:selected]
    return mine


# ---------------------------------------------------------------------------- pipelines


class _Source:
    """Random-access source for GeneratorDataset: (encoded bytes, label, augmentation key)."""

    def __init__(self, folder: ImageFolder, order: np.ndarray, key: Sequence[int]) -> None:
        self.paths = [os.fspath(folder.root / rel) for rel, _ in folder.samples]
        self.labels = [label for _, label in folder.samples]
        self.order = order
        self.key = list(key)

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, position: int):
        i = int(self.order[position])
        with open_regular(self.paths[i]) as f:  # scanned as a regular file; never a FIFO swapped in since
            data = np.frombuffer(f.read(), np.uint8)
        return data, np.int32(self.labels[i]), np.array(self.key + [position], np.int64)


class _RandomErasing:
    """Random erasing (Zhong et al. 2017) on a CHW float image, drawn from a per-sample generator.

    MindSpore's own RandomErasing draws from the global Python generator, so with several
    pipeline workers its result depends on thread timing; this one depends only on the key.
    """

    def __init__(self, prob: float, scale: Sequence[float], ratio: Sequence[float], value, max_attempts: int):
        self.prob, self.scale, self.value, self.max_attempts = prob, tuple(scale), value, max_attempts
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def __call__(self, image: np.ndarray, key: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(key.tolist())
        if rng.random() >= self.prob:
            return image
        channels, height, width = image.shape
        area = height * width
        for _ in range(self.max_attempts):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*self.log_ratio))
            h, w = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < h < height and 0 < w < width:
                top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
                image = image.copy()
                if self.value == "random":
                    image[:, top : top + h, left : left + w] = rng.standard_normal((channels, h, w), np.float32)
                else:
                    image[:, top : top + h, left : left + w] = self.value
                return image
        return image


def workers_for(requested: int) -> int:
    """Pipeline workers to use: the recipe's count, capped at the CPU count (MindSpore refuses more)."""
    return max(1, min(int(requested), os.cpu_count() or 1))


def _inter(name: str):
    from mindspore.dataset.vision import Inter

    return {"bilinear": Inter.BILINEAR, "bicubic": Inter.BICUBIC, "nearest": Inter.NEAREST, "area": Inter.AREA}[name]


def _augment_ops(recipe) -> list:
    """RandAugment / AutoAugment / TrivialAugmentWide or colour jitter, as MindCV chooses."""
    from mindspore.dataset import vision

    if recipe.auto_augment:
        policy = parse_auto_augment(recipe.auto_augment)
        fill = tuple(min(255, round(m)) for m in recipe.mean)
        if policy["policy"] == "randaug":
            if policy["mstd"]:
                logger.info(
                    "auto_augment %s: MindSpore's RandAugment has a fixed magnitude; mstd is not applied",
                    recipe.auto_augment,
                )
            # Magnitude m of 10 as in MindCV/timm: 11 bins put m=10 at each op's maximum.
            return [
                vision.RandAugment(
                    num_ops=policy["n"],
                    magnitude=policy["m"],
                    num_magnitude_bins=11,
                    interpolation=_inter("nearest"),
                    fill_value=fill,
                )
            ]
        if policy["policy"] == "autoaug":
            return [vision.AutoAugment(vision.AutoAugmentPolicy.IMAGENET, fill_value=fill)]
        return [vision.TrivialAugmentWide(fill_value=fill)]
    if recipe.color_jitter:
        cj = float(recipe.color_jitter)
        return [vision.RandomColorAdjust(brightness=cj, contrast=cj, saturation=cj)]
    return []


def train_dataset(
    folder: ImageFolder, recipe, *, epoch: int, rank: int = 0, world: int = 1, workers: int | None = None
):
    """The training pipeline of one epoch for one worker.

    Random resized crop (decoded together), flips, RandAugment or colour jitter, normalise,
    HWC -> CHW, random erasing, batches of ``recipe.batch_size``. See the module docstring for
    why the result depends only on the recipe, the data, ``epoch``, ``rank`` and ``workers``.

    Parameters
    ----------
    folder : ImageFolder
        The training split.
    recipe : ghosthub.recipe.Recipe
        Augmentation, batch and seed settings.
    epoch : int
        Epoch index (0-based); picks the order and the augmentation seed.
    rank, world : int
        This worker's index and the number of data-parallel workers.
    workers : int, optional
        Pipeline workers (default ``workers_for(recipe.num_parallel_workers)``).

    Returns
    -------
    mindspore.dataset.Dataset
        Yields ``(image float32 (N, 3, S, S), label int32 (N,))``.
    """
    import mindspore.dataset as ds
    from mindspore.dataset import vision

    workers = workers or workers_for(recipe.num_parallel_workers)
    order = epoch_order(
        len(folder),
        seed=recipe.seed,
        epoch=epoch,
        rank=rank,
        world=world,
        shuffle=recipe.shuffle,
        repeats=recipe.aug_repeats,
    )
    # Seeds MindSpore's C++ random ops of this epoch's pipeline (fixed by the worker count).
    ds.config.set_seed(int(np.random.SeedSequence([recipe.seed, epoch, rank]).generate_state(1)[0]))
    source = _Source(folder, order, key=[recipe.seed, epoch, rank])
    data = ds.GeneratorDataset(source, ["image", "label", "key"], shuffle=False)
    interpolation = _inter(recipe.interpolation)
    ops = [
        vision.RandomCropDecodeResize(
            recipe.image_resize, scale=recipe.scale, ratio=recipe.ratio, interpolation=interpolation
        )
    ]
    if recipe.hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=recipe.hflip))
    if recipe.vflip > 0:
        ops.append(vision.RandomVerticalFlip(prob=recipe.vflip))
    ops += _augment_ops(recipe)
    ops += [vision.Normalize(mean=list(recipe.mean), std=list(recipe.std)), vision.HWC2CHW()]
    data = data.map(ops, input_columns="image", num_parallel_workers=workers)
    if recipe.re_prob > 0:
        erase = _RandomErasing(
            recipe.re_prob, recipe.re_scale, recipe.re_ratio, recipe.re_value, recipe.re_max_attempts
        )
        data = data.map(erase, input_columns=["image", "key"], output_columns=["image"], num_parallel_workers=workers)
    data = data.project(["image", "label"])
    return data.batch(recipe.batch_size, drop_remainder=recipe.drop_remainder)


def eval_dataset(
    folder: ImageFolder, preprocessing: Preprocessing, *, batch_size: int = 64, workers: int | None = None
):
    """The evaluation pipeline: decode, resize the shorter side to ``input_size / crop_pct``, centre crop.

    This is MindCV's eval transform (``floor(224 / 0.875) = 256`` then 224), run by MindSpore's
    C++ ops. The last batch may be smaller than ``batch_size``.

    Returns
    -------
    mindspore.dataset.Dataset
        Yields ``(image float32 (N, 3, S, S), label int32 (N,))`` in sample order.
    """
    import mindspore.dataset as ds
    from mindspore.dataset import vision

    source = _Source(folder, np.arange(len(folder)), key=[0])
    data = ds.GeneratorDataset(source, ["image", "label", "key"], shuffle=False)
    size, pre = preprocessing.input_size, preprocessing
    ops = [
        vision.Decode(),
        vision.Resize(int(math.floor(size / pre.crop_pct)), interpolation=_inter(pre.interpolation)),
        vision.CenterCrop(size),
        vision.Normalize(mean=list(pre.mean), std=list(pre.std)),
        vision.HWC2CHW(),
    ]
    data = data.map(ops, input_columns="image", num_parallel_workers=workers or workers_for(8))
    data = data.project(["image", "label"])
    return data.batch(batch_size, drop_remainder=False)
