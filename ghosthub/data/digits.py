"""The demo data set: scikit-learn's bundled handwritten digits written out as an ImageFolder.

scikit-learn ships the 1,797 8x8 digit images (UCI "Optical Recognition of Handwritten Digits",
test part) inside its wheel, so the demo needs no download. Each image becomes an 8x8 grayscale
PNG in ``DIR/{train,val}/<digit>/<index>.png``; the split is stratified and fixed by a seed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["DATASET_NAME", "dataset_name", "parse_dataset_name", "write_digits"]

# The ``dataset`` name recipes and cards use for this data; ghosthub can regenerate it anywhere.
# A subset is named after it: "sklearn-digits/0-4" (digits 0 to 4), "sklearn-digits/5-9/10-shot"
# (digits 5 to 9, 10 training images of each).
DATASET_NAME = "sklearn-digits"


def dataset_name(classes: tuple[int, int] | None = None, shots: int | None = None) -> str:
    """The ``dataset`` name of a digits subset (what :func:`parse_dataset_name` reads back).

    Examples
    --------
    >>> dataset_name((5, 9), 10)
    'sklearn-digits/5-9/10-shot'
    >>> parse_dataset_name(dataset_name((5, 9), 10))
    {'classes': (5, 9), 'shots': 10}
    """
    name = DATASET_NAME
    if classes is not None:
        name += f"/{classes[0]}-{classes[1]}"
    if shots is not None:
        name += f"/{shots}-shot"
    return name


def parse_dataset_name(name: str) -> dict | None:
    """The :func:`write_digits` arguments that regenerate a dataset name, or None for other data."""
    parts = str(name).split("/")
    if parts[0] != DATASET_NAME:
        return None
    out: dict = {}
    for part in parts[1:]:
        lo, _, hi = part.partition("-")
        if hi == "shot" and lo.isdigit() and "shots" not in out:
            out["shots"] = int(lo)
        elif lo.isdigit() and hi.isdigit() and not out:
            out["classes"] = (int(lo), int(hi))
        else:
            return None
    return out


def write_digits(
    directory: str | os.PathLike,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    classes: tuple[int, int] | None = None,
    shots: int | None = None,
) -> dict[str, int]:
    """Write scikit-learn's digits as ``directory/train/<digit>/`` and ``directory/val/<digit>/``.

    The files are byte-identical on every machine (uncompressed PNG, pixel values
    ``round(v * 255 / 16)``), so the dataset digest recorded in a card can be checked anywhere.
    Existing files with the same names are overwritten; nothing else in ``directory`` is touched.

    Parameters
    ----------
    directory : str or os.PathLike
        Where to write; created if missing.
    val_fraction : float
        Share of each digit's images held out for ``val``, in (0, 1).
    seed : int
        Seed of the stratified split.
    classes : (int, int), optional
        Only the digits from ``classes[0]`` to ``classes[1]`` (e.g. ``(0, 4)``).
    shots : int, optional
        Keep this many training images of each digit (a few-shot split, chosen by ``seed``);
        the held-out images are all kept.

    Returns
    -------
    dict
        ``{"train": 1437, "val": 360}`` (image counts with the defaults).

    Raises
    ------
    ImportError
        scikit-learn is not installed (``pip install scikit-learn``).

    Examples
    --------
    >>> write_digits("digits")                             # doctest: +SKIP
    {'train': 1437, 'val': 360}
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if classes is not None and not 0 <= classes[0] <= classes[1] <= 9:
        raise ValueError(f"classes must be (low, high) with 0 <= low <= high <= 9, got {classes}")
    if shots is not None and shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "the digits demo needs scikit-learn, which ships the data: pip install 'ghosthub[demo]' (or scikit-learn)"
        ) from None
    from PIL import Image

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    rng = np.random.default_rng(seed)
    split = np.empty(len(images), dtype=object)
    for label in np.unique(digits.target):
        members = np.flatnonzero(digits.target == label)
        held_out = rng.permutation(members)[: int(round(len(members) * val_fraction))]
        split[members] = "train"
        split[held_out] = "val"
        if classes is not None and not classes[0] <= label <= classes[1]:
            split[members] = None
        elif shots is not None:
            # A stream of its own: the held-out images stay those of the full data.
            train = np.setdiff1d(members, held_out)
            chosen = np.random.default_rng([seed, int(label), 1]).permutation(train)[:shots]
            split[np.setdiff1d(train, chosen)] = None
    root = Path(directory)
    counts = {"train": 0, "val": 0}
    for index, (pixels, label, part) in enumerate(zip(images, digits.target, split)):
        if part is None:
            continue
        folder = root / part / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        # compress_level=0: stored deflate blocks, identical whatever zlib Pillow was built with.
        Image.fromarray(pixels, mode="L").save(folder / f"{index:04d}.png", compress_level=0)
        counts[part] += 1
    return counts
