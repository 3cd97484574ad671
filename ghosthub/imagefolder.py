"""ImageFolder data: scan class folders, digest them, and build MindSpore train/eval pipelines.

Layout: ``DIR/train/<class>/<image>`` and ``DIR/val/<class>/<image>``; class folders sorted by
name give the label indices. Every image is read and decoded once while scanning, so files that
are empty, not images, truncated or in a format MindSpore's decoder lacks are skipped with a
reason instead of stopping training half-way through an epoch.

Determinism: the order of every epoch comes from ``(seed, epoch)`` and is sharded here, not by
a MindSpore sampler; MindSpore's C++ random augmentations are seeded per epoch and repeat
exactly for a fixed number of pipeline workers; random erasing draws from a generator keyed
by ``(seed, epoch, rank, position)``. So an epoch's batches depend only on the recipe, the data
and the epoch number, which is what makes resumed training exact.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import io
import logging
import math
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import GhostHubError

__all__ = [
    "DataError",
    "DataWarning",
    "ImageFolder",
    "scan_image_folder",
    "find_splits",
    "scan_splits",
    "dataset_digest",
    "epoch_order",
    "train_dataset",
    "eval_dataset",
    "workers_for",
]

logger = logging.getLogger(__name__)

# Suffixes looked at while scanning; other files (README.txt, .DS_Store) are not images.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp", ".gif")
# What Pillow calls the formats MindSpore's Decode reads (WebP and GIF it cannot).
DECODABLE_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "PPM", "MPO")


class DataError(GhostHubError):
    """A data folder that cannot be used: missing, no class folders, or no readable images."""


class DataWarning(UserWarning):
    """Image files were skipped while scanning a data folder (empty, unreadable, unsupported)."""


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """The images of one split, as scanned.

    Attributes
    ----------
    root : Path
        The split folder (``DIR/train``).
    classes : tuple of str
        Class folder names; a sample's label is its class's index here.
    samples : tuple of (str, int)
        Image path relative to ``root`` (``/``-separated) and label, sorted.
    sha256 : tuple of str
        SHA-256 of each sample's bytes.
    skipped : tuple of (str, str)
        Relative path and reason of every image file left out.
    """

    root: Path
    classes: tuple
    samples: tuple
    sha256: tuple
    skipped: tuple = ()

    def __len__(self) -> int:
        return len(self.samples)

    def manifest(self) -> str:
        """One line per sample, ``path<TAB>label<TAB>sha256``: what the digest covers."""
        return "".join(f"{p}\t{label}\t{h}\n" for (p, label), h in zip(self.samples, self.sha256))

    def digest(self) -> str:
        """SHA-256 of :meth:`manifest`: the same files, labels and bytes give the same digest."""
        return hashlib.sha256(self.manifest().encode()).hexdigest()

    def skipped_summary(self) -> str:
        """``'skipped 2 of 40 image files (a/x.jpg: empty file; ...)'`` or ``''`` when none were."""
        if not self.skipped:
            return ""
        shown = "; ".join(f"{p}: {why}" for p, why in self.skipped[:5])
        more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
        return (f"skipped {len(self.skipped)} of {len(self.skipped) + len(self.samples)} image files "
                f"in {self.root} ({shown}{more})")


# ---------------------------------------------------------------------------- scanning


def _check_image(data: bytes) -> str | None:
    """None when the bytes decode as an image MindSpore can read, else the reason they do not."""
    from PIL import Image

    if not data:
        return "empty file"
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if fmt not in DECODABLE_FORMATS:
                return f"{fmt} is not a format MindSpore decodes; convert it to JPEG or PNG"
            if fmt == "JPEG":
                img.draft("RGB", (64, 64))  # decode at 1/8 scale: still reads every byte
            img.load()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return f"not a readable image ({str(exc) or type(exc).__name__})"
    return None


def _read_and_check(path: Path) -> tuple[str | None, str | None]:
    """(sha256, None) for a good image, (None, reason) for a bad one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read ({exc.strerror or exc})"
    reason = _check_image(data)
    return (None, reason) if reason else (hashlib.sha256(data).hexdigest(), None)


def scan_image_folder(root: str | os.PathLike, *, classes: Sequence[str] | None = None,
                      threads: int | None = None) -> ImageFolder:
    """Find, read and check the images of an ImageFolder split.

    Parameters
    ----------
    root : str or os.PathLike
        A folder holding one sub-folder per class (``DIR/train``).
    classes : sequence of str, optional
        The class list to label with (the training split's, when scanning ``val``). Default:
        the sorted names of the sub-folders of ``root``.
    threads : int, optional
        Threads reading and decoding images (default: the CPU count).

    Returns
    -------
    ImageFolder

    Raises
    ------
    DataError
        ``root`` is missing, has no class folders, has a class folder not in ``classes``, or no
        readable image at all.

    Examples
    --------
    >>> folder = scan_image_folder("digits/train")         # doctest: +SKIP
    >>> folder.classes[:3], len(folder)                     # doctest: +SKIP
    (('0', '1', '2'), 1437)
    """
    root = Path(root)
    layout = "the ImageFolder layout ROOT/<class>/<image>, e.g. ROOT/cat/001.jpg"
    if not root.is_dir():
        raise DataError(f"data folder {str(root)!r} does not exist or is not a folder: expected {layout}.")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DataError(f"data folder {str(root)!r} has no class folders: expected {layout}.")
    if classes is None:
        classes = found
    classes = tuple(classes)
    index = {name: i for i, name in enumerate(classes)}
    unknown = [name for name in found if name not in index]
    if unknown:
        raise DataError(
            f"data folder {str(root)!r} has class folders the training split lacks: {', '.join(unknown[:10])}. "
            "The val split's classes must be a subset of the train split's (same folder names)."
        )
    candidates = []
    for name in found:
        for dirpath, dirnames, filenames in os.walk(root / name, followlinks=True):
            dirnames.sort()
            for filename in sorted(filenames):
                if filename.lower().endswith(IMAGE_SUFFIXES) and not filename.startswith("."):
                    path = Path(dirpath, filename)
                    candidates.append((path, path.relative_to(root).as_posix(), index[name]))
    with concurrent.futures.ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
        checked = list(pool.map(lambda c: _read_and_check(c[0]), candidates))
    samples, digests, skipped = [], [], []
    for (_, rel, label), (digest, reason) in zip(candidates, checked):
        if reason:
            skipped.append((rel, reason))
        else:
            samples.append((rel, label))
            digests.append(digest)
    folder = ImageFolder(root, classes, tuple(samples), tuple(digests), tuple(skipped))
    if skipped:
        warnings.warn(folder.skipped_summary(), DataWarning, stacklevel=2)
    if not samples:
        raise DataError(
            f"data folder {str(root)!r} has {len(found)} class folders but no readable image "
            f"({len(skipped)} skipped, {len(candidates)} image files): expected {layout} with "
            f"{', '.join(IMAGE_SUFFIXES[:5])} ... files."
        )
    return folder


def find_splits(data_dir: str | os.PathLike, train_split: str = "train",
                val_split: str = "val") -> tuple[Path | None, Path | None]:
    """The train and val folders of a data dir (None where absent).

    Raises
    ------
    DataError
        ``data_dir`` does not exist.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data dir {str(data_dir)!r} does not exist or is not a folder.")
    train, val = data_dir / train_split, data_dir / val_split
    return (train if train.is_dir() else None), (val if val.is_dir() else None)


def dataset_digest(data_dir: str | os.PathLike, train_split: str = "train", val_split: str = "val") -> str:
    """SHA-256 naming the data a model was trained and selected on.

    It covers, for the train and val splits (or ``data_dir`` itself when it has neither), every
    readable image's path, label and bytes; unreadable files are left out as training leaves them.

    Examples
    --------
    >>> dataset_digest("digits")                           # doctest: +SKIP
    '5b0c...'
    """
    train, val = find_splits(data_dir, train_split, val_split)
    if train is None and val is None:
        return scan_image_folder(data_dir).digest()
    return combined_digest(*scan_splits(train, val))


def scan_splits(train: Path | None, val: Path | None) -> tuple[ImageFolder | None, ImageFolder | None]:
    """Scan a train and a val split (either may be None); val is labelled with train's classes."""
    train_folder = scan_image_folder(train) if train else None
    val_folder = scan_image_folder(val, classes=train_folder.classes if train_folder else None) if val else None
    return train_folder, val_folder


def combined_digest(train: ImageFolder | None, val: ImageFolder | None) -> str:
    """The digest of a train and a val split together (see :func:`dataset_digest`)."""
    h = hashlib.sha256()
    for name, folder in (("train", train), ("val", val)):
        if folder is not None:
            h.update(f"{name}\t{folder.digest()}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------- epoch order


def epoch_order(num_samples: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1,
                shuffle: bool = True, repeats: int = 0) -> np.ndarray:
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
        with open(self.paths[i], "rb") as f:
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
                    image[:, top:top + h, left:left + w] = rng.standard_normal((channels, h, w), np.float32)
                else:
                    image[:, top:top + h, left:left + w] = self.value
                return image
        return image


def workers_for(requested: int) -> int:
    """Pipeline workers to use: the recipe's count, capped at the CPU count (MindSpore refuses more)."""
    return max(1, min(int(requested), os.cpu_count() or 1))


def _inter(name: str):
    from mindspore.dataset.vision import Inter

    return {"bilinear": Inter.BILINEAR, "bicubic": Inter.BICUBIC, "nearest": Inter.NEAREST,
            "area": Inter.AREA}[name]


def _augment_ops(recipe) -> list:
    """RandAugment / AutoAugment / TrivialAugmentWide or colour jitter, as MindCV chooses."""
    from mindspore.dataset import vision

    from .recipe import parse_auto_augment

    if recipe.auto_augment:
        policy = parse_auto_augment(recipe.auto_augment)
        fill = tuple(min(255, round(m)) for m in recipe.mean)
        if policy["policy"] == "randaug":
            if policy["mstd"]:
                logger.info("auto_augment %s: MindSpore's RandAugment has a fixed magnitude; mstd is not applied",
                            recipe.auto_augment)
            # Magnitude m of 10 as in MindCV/timm: 11 bins put m=10 at each op's maximum.
            return [vision.RandAugment(num_ops=policy["n"], magnitude=policy["m"], num_magnitude_bins=11,
                                       interpolation=_inter("nearest"), fill_value=fill)]
        if policy["policy"] == "autoaug":
            return [vision.AutoAugment(vision.AutoAugmentPolicy.IMAGENET, fill_value=fill)]
        return [vision.TrivialAugmentWide(fill_value=fill)]
    if recipe.color_jitter:
        cj = float(recipe.color_jitter)
        return [vision.RandomColorAdjust(brightness=cj, contrast=cj, saturation=cj)]
    return []


def train_dataset(folder: ImageFolder, recipe, *, epoch: int, rank: int = 0, world: int = 1,
                  workers: int | None = None):
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
    order = epoch_order(len(folder), seed=recipe.seed, epoch=epoch, rank=rank, world=world,
                        shuffle=recipe.shuffle, repeats=recipe.aug_repeats)
    # Seeds MindSpore's C++ random ops of this epoch's pipeline (fixed by the worker count).
    ds.config.set_seed(int(np.random.SeedSequence([recipe.seed, epoch, rank]).generate_state(1)[0]))
    source = _Source(folder, order, key=[recipe.seed, epoch, rank])
    data = ds.GeneratorDataset(source, ["image", "label", "key"], shuffle=False)
    interpolation = _inter(recipe.interpolation)
    ops = [vision.RandomCropDecodeResize(recipe.image_resize, scale=recipe.scale, ratio=recipe.ratio,
                                         interpolation=interpolation)]
    if recipe.hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=recipe.hflip))
    if recipe.vflip > 0:
        ops.append(vision.RandomVerticalFlip(prob=recipe.vflip))
    ops += _augment_ops(recipe)
    ops += [vision.Normalize(mean=list(recipe.mean), std=list(recipe.std)), vision.HWC2CHW()]
    data = data.map(ops, input_columns="image", num_parallel_workers=workers)
    if recipe.re_prob > 0:
        erase = _RandomErasing(recipe.re_prob, recipe.re_scale, recipe.re_ratio, recipe.re_value,
                               recipe.re_max_attempts)
        data = data.map(erase, input_columns=["image", "key"], output_columns=["image"], num_parallel_workers=workers)
    data = data.project(["image", "label"])
    return data.batch(recipe.batch_size, drop_remainder=recipe.drop_remainder)


def eval_dataset(folder: ImageFolder, *, image_size: int, crop_pct: float = 0.875, interpolation: str = "bilinear",
                 mean: Sequence[float], std: Sequence[float], batch_size: int = 64, workers: int | None = None):
    """The evaluation pipeline: decode, resize the shorter side to ``image_size / crop_pct``, centre crop.

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
    ops = [vision.Decode(), vision.Resize(int(math.floor(image_size / crop_pct)), interpolation=_inter(interpolation)),
           vision.CenterCrop(image_size), vision.Normalize(mean=list(mean), std=list(std)), vision.HWC2CHW()]
    data = data.map(ops, input_columns="image", num_parallel_workers=workers or workers_for(8))
    data = data.project(["image", "label"])
    return data.batch(batch_size, drop_remainder=False)
