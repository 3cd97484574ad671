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

__all__ = ["DATASET_NAME", "write_digits"]

# The ``dataset`` name recipes and cards use for this data; ghosthub can regenerate it anywhere.
DATASET_NAME = "sklearn-digits"


def write_digits(directory: str | os.PathLike, *, val_fraction: float = 0.2, seed: int = 0) -> dict[str, int]:
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
    root = Path(directory)
    counts = {"train": 0, "val": 0}
    for index, (pixels, label, part) in enumerate(zip(images, digits.target, split)):
        folder = root / part / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        # compress_level=0: stored deflate blocks, identical whatever zlib Pillow was built with.
        Image.fromarray(pixels, mode="L").save(folder / f"{index:04d}.png", compress_level=0)
        counts[part] += 1
    return counts
