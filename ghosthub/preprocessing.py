"""A model's eval preprocessing: one type read from and written to cards, checkpoint records and recipes.

The analogue of timm's pretrained config: input size, centre-crop fraction, resize filter
and the per-channel statistics (0-255 scale). Cards spell them ``input-size``, ``crop-pct``,
``interpolation``, ``mean``, ``std``; ghosthub's checkpoint records and recipes have their own
keys; everything converts through :class:`Preprocessing`, so a new setting is added here once.
"""

from __future__ import annotations

from collections import namedtuple

from .constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from .errors import CardError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["Preprocessing"]

INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "area")


def _channels(text: Any) -> tuple[float, ...]:
    values = text if isinstance(text, (list, tuple)) else str(text).split(",")
    return tuple(float(v) for v in values)


class Preprocessing(
    namedtuple(
        "Preprocessing",
        "input_size crop_pct interpolation mean std",
        defaults=(224, 0.875, "bilinear", IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    )
):
    """The eval transform of a model (defaults: MindCV's ImageNet pipeline).

    Attributes
    ----------
    input_size : int
        Side of the square input in pixels (224).
    crop_pct : float
        Fraction of the resized image the centre crop keeps (0.875: resize to 256, crop 224).
    interpolation : str
        Resize filter: bilinear, bicubic, nearest, lanczos or area.
    mean, std : tuple of float
        Per-channel statistics on the 0-255 scale, RGB order.

    Examples
    --------
    >>> Preprocessing().input_size, Preprocessing.from_record({"input_size": [3, 32, 32]}).input_size
    (224, 32)
    """

    __slots__ = ()

    # ------------------------------------------------------------------ cards

    @classmethod
    def from_card(cls, card, default: Preprocessing | None = None) -> Preprocessing:
        """From a card's ``input-size``, ``crop-pct``, ``interpolation``, ``mean``, ``std``.

        Missing fields keep ``default``'s (the architecture's, where the caller knows it), else
        MindCV's ImageNet defaults. Raises CardError naming the file, line and field of a value
        that is not a number.
        """
        values: dict[str, Any] = {}
        for key, field, parse, expected in _CARD_FIELDS:
            text = card.get(field)
            if text is None or text == "":
                continue
            try:
                values[key] = parse(text)
            except (TypeError, ValueError):
                lines = getattr(card, "lines", {}) or {}
                raise CardError(
                    f"{field} is not understood",
                    path=card.path,
                    line=lines.get(field),
                    field=field,
                    expected=expected,
                    found=text,
                ) from None
        return (default or cls())._replace(**values)

    def card_fields(self) -> dict[str, str]:
        """The card fields that say this preprocessing, as text."""
        return {
            "input-size": str(self.input_size),
            "crop-pct": f"{self.crop_pct:g}",
            "interpolation": self.interpolation,
            "mean": ", ".join(f"{v:g}" for v in self.mean),
            "std": ", ".join(f"{v:g}" for v in self.std),
        }

    # ------------------------------------------------------------------ checkpoint records, default_cfg

    @classmethod
    def from_record(cls, info: Mapping[str, Any] | None, default: Preprocessing | None = None) -> Preprocessing:
        """From a ghosthub checkpoint's record or a network's ``default_cfg``; missing keys keep ``default``'s."""
        base = default or cls()
        info = info or {}
        changes: dict[str, Any] = {}
        size = info.get("input_size")
        if size is not None:
            changes["input_size"] = int(size if isinstance(size, (int, float)) else size[-1])
        if info.get("crop_pct") is not None:
            changes["crop_pct"] = float(info["crop_pct"])
        if info.get("interpolation"):
            changes["interpolation"] = str(info["interpolation"])
        for key in ("mean", "std"):
            if info.get(key) is not None:
                changes[key] = _channels(info[key])
        return base._replace(**changes)

    @staticmethod
    def in_record(info: Mapping[str, Any] | None) -> bool:
        """Whether a checkpoint record says anything about preprocessing."""
        return bool(info) and any(info.get(k) is not None for k in Preprocessing._fields)

    def record(self, in_channels: int = 3) -> dict[str, Any]:
        """The keys a ghosthub checkpoint records (``input_size`` as ``[C, H, W]``)."""
        return {
            "input_size": [in_channels, self.input_size, self.input_size],
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    # ------------------------------------------------------------------ recipes

    @classmethod
    def from_recipe(cls, recipe) -> Preprocessing:
        """The eval preprocessing a recipe trains for (its image_resize, crop_pct, interpolation, mean and std)."""
        return cls(recipe.image_resize, recipe.crop_pct, recipe.interpolation, tuple(recipe.mean), tuple(recipe.std))


_CARD_FIELDS = (
    ("input_size", "input-size", int, "a whole number of pixels, e.g. 224"),
    ("crop_pct", "crop-pct", float, "a fraction such as 0.875"),
    ("interpolation", "interpolation", str, " or ".join(INTERPOLATIONS)),
    ("mean", "mean", _channels, "three numbers separated by commas (0-255 scale)"),
    ("std", "std", _channels, "three numbers separated by commas (0-255 scale)"),
)
