"""A tiny ImageFolder generator shared by the data, train and evaluate tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_image_folder(
    root: Path, *, classes=("a", "b", "c"), train: int = 6, val: int = 2, size: int = 16, seed: int = 0
) -> Path:
    """``root/{train,val}/<class>/NNN.png``: noise with one colour channel raised per class (learnable)."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", val)):
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 100, (size, size, 3), dtype=np.uint8)
                pixels[..., index % 3] += 120
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root
