"""Inference preprocessing with Pillow: resize, centre crop, normalise; no MindSpore."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from .._utils.fs import NotRegularFile, open_regular
from ..constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from ..errors import ImageError

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}

ImageLike = Image.Image | np.ndarray | str | os.PathLike


def _size_hw(input_size: int | Sequence[int]) -> tuple[int, int]:
    """224 -> (224, 224); (H, W) or (C, H, W) -> (H, W)."""
    if isinstance(input_size, int):
        return input_size, input_size
    size = tuple(int(v) for v in input_size)
    if len(size) not in (2, 3):
        raise ValueError(f"input_size must be an int, (H, W) or (C, H, W), got {input_size!r}")
    return size[-2], size[-1]


def load_image(image: ImageLike) -> Image.Image:
    """Open a file path, or wrap an HxW / HxWxC uint8 array, as an RGB PIL image.

    Parameters
    ----------
    image : PIL.Image.Image, numpy.ndarray, str or os.PathLike
        The picture. Arrays must be uint8 on the 0-255 scale, channels last (1, 3 or 4 channels).

    Returns
    -------
    PIL.Image.Image
        An RGB image.

    Raises
    ------
    ImageError
        The file is missing or not an image, or the array has the wrong type or shape.
    """
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ImageError(
                f"image array has dtype {image.dtype}, expected uint8 on the 0-255 scale: "
                "convert it first, e.g. (x * 255).round().astype(np.uint8) for a 0-1 float image."
            )
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
            raise ImageError(
                f"image array has shape {image.shape}, expected H x W or H x W x C with C in 1, 3, 4 "
                "(channels last); transpose a C x H x W array with x.transpose(1, 2, 0)."
            )
        return Image.fromarray(image).convert("RGB")
    if isinstance(image, (str, os.PathLike)):
        try:
            with open_regular(image) as f, Image.open(f) as img:
                return img.convert("RGB")
        except FileNotFoundError:
            raise ImageError(f"image file {os.fspath(image)!r} does not exist: check the path.") from None
        except NotRegularFile as e:
            raise ImageError(f"{e}: only regular files are read as images; pass the image file itself.") from None
        except (OSError, Image.DecompressionBombError) as e:
            raise ImageError(
                f"cannot read image file {os.fspath(image)!r}: {e}. Expected a JPEG, PNG or other format "
                "Pillow can decode; the file may be truncated or not an image."
            ) from None
    raise ImageError(f"expected a PIL image, a uint8 numpy array or a file path, got {type(image).__name__}")


def make_transform(
    input_size: int | Sequence[int] = 224,
    crop_pct: float = 0.875,
    interpolation: str = "bilinear",
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
    *,
    batch: bool = False,
) -> Callable[[ImageLike], np.ndarray]:
    """Build the eval transform: resize, centre crop, normalise, HWC -> CHW, float32.

    The geometry follows MindCV's eval pipeline: the shorter side is resized to
    ``floor(size / crop_pct)`` (256 for 224) keeping the aspect ratio (long side floored), then
    the centre ``size`` x ``size`` is cut with the offset rounded down. Resampling is Pillow's,
    which anti-aliases when shrinking (MindSpore's OpenCV resize does not), so values may differ
    slightly from MindCV's on large downscales.

    Parameters
    ----------
    input_size : int or sequence of int
        Output size: ``224``, ``(H, W)`` or ``(C, H, W)``.
    crop_pct : float
        Fraction of the resized image kept by the centre crop, in (0, 1].
    interpolation : {"bilinear", "bicubic", "nearest", "lanczos"}
        Resampling filter for the resize.
    mean, std : sequence of 3 floats
        Per-channel statistics on the 0-255 scale (RGB order).
    batch : bool
        If True the output has a leading batch axis of 1: (1, 3, H, W).

    Returns
    -------
    callable
        ``transform(image) -> numpy.ndarray`` of float32, shape (3, H, W) (or (1, 3, H, W)),
        accepting a PIL image, a file path or an HxWxC uint8 array.

    Examples
    --------
    >>> import numpy as np
    >>> t = make_transform(224)
    >>> t(np.zeros((300, 400, 3), np.uint8)).shape
    (3, 224, 224)
    """
    out_h, out_w = _size_hw(input_size)
    if not 0 < crop_pct <= 1:
        raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}")
    if interpolation not in _RESAMPLE:
        raise ValueError(f"interpolation must be one of {', '.join(_RESAMPLE)}, got {interpolation!r}")
    resample = _RESAMPLE[interpolation]
    # Broadcast over (H, W, C) before the transpose.
    mean_a = np.asarray(mean, np.float32).reshape(1, 1, -1)
    inv_std = (1.0 / np.asarray(std, np.float32)).reshape(1, 1, -1)
    square = out_h == out_w

    def transform(image: ImageLike) -> np.ndarray:
        img = load_image(image)
        w, h = img.size
        if square:
            # Shorter side -> floor(size / crop_pct), aspect ratio kept, long side floored.
            short = math.floor(out_h / crop_pct)
            if w <= h:
                new_w, new_h = short, int(h * short / w)
            else:
                new_w, new_h = int(w * short / h), short
        else:
            new_h, new_w = int(out_h / crop_pct), int(out_w / crop_pct)
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), resample)
        top, left = (new_h - out_h) // 2, (new_w - out_w) // 2
        img = img.crop((left, top, left + out_w, top + out_h))
        x = (np.asarray(img, np.float32) - mean_a) * inv_std
        x = np.ascontiguousarray(x.transpose(2, 0, 1))
        return x[None] if batch else x

    return transform
