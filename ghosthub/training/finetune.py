"""Fine-tuning: the base weights a run starts from, what it freezes, and the learning rate of each part.

A run fine-tunes when its recipe says ``pretrained`` (a hub model, fetched and verified as
:meth:`ghosthub.Client.load` does) or ``ckpt_path`` (a local file). The base is pinned by its
full SHA-256, which the provenance records, so ``ghosthub rebuild`` can find the same bytes again.

Freezing is arranged so that one compiled graph serves each phase: ``freeze: backbone`` leaves
the backbone out of the optimizer (no gradients computed for it: faster), ``freeze_epochs: N``
gives the backbone a learning rate of 0 for the first N epochs (so the optimizer state, and an
epoch checkpoint, are the same in both phases). While the backbone is frozen its BatchNorm
layers run in inference mode: their moving statistics are the base's and stay so.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._utils.hashes import file_hash
from ..errors import CardError, GhostHubError, TrainError
from ..preprocessing import Preprocessing
from .recipe import Recipe

__all__ = [
    "BaseWeights",
    "resolve_base",
    "locate_base",
    "with_base_preprocessing",
    "scratch_recipe",
    "load_base",
    "split_params",
    "frozen",
    "set_frozen_batchnorm",
    "BASE_PROVENANCE_KEYS",
]

# What a fine-tuning run's provenance adds (after PROVENANCE_KEYS).
BASE_PROVENANCE_KEYS = ("base_model", "base_card", "base_url", "base_sha256")
# Recipe keys a base card's preprocessing fills in when the recipe does not state them.
_PREPROCESSING_KEYS = {
    "image_resize": "input_size",
    "crop_pct": "crop_pct",
    "interpolation": "interpolation",
    "mean": "mean",
    "std": "std",
}


@dataclasses.dataclass(frozen=True)
class BaseWeights:
    """The weights a fine-tuning run starts from.

    Attributes
    ----------
    path : Path
        The local, verified file.
    sha256 : str
        Its full SHA-256.
    name : str
        The hub model's name, or the file's name for a local checkpoint.
    card : str or None
        The card it came from (file or URL of the hub's copy), None for a local file.
    url : str or None
        The asset's link on the card, None for a local file.
    preprocessing : Preprocessing or None
        What the card (or the checkpoint's record) says of the eval preprocessing.
    """

    path: Path
    sha256: str
    name: str
    card: str | None = None
    url: str | None = None
    preprocessing: Preprocessing | None = None

    def provenance(self) -> dict[str, Any]:
        """The lineage a provenance record carries (keys :data:`BASE_PROVENANCE_KEYS`)."""
        return {"base_model": self.name, "base_card": self.card, "base_url": self.url, "base_sha256": self.sha256}


def _registry(registry, settings):
    if registry is not None:
        return registry, registry.settings
    from .. import config
    from ..registry import Registry, default_sources

    settings = settings or config.settings()
    return Registry(default_sources((), settings), settings=settings), settings


def _fetch(entry, asset, settings, progress) -> Path:
    """The verified local file of a card's asset: the cache, else a download (as Client.download)."""
    from ..download.cache import Cache

    hit = Cache(settings).get(entry, asset, hash_small=False)
    if hit is not None:
        return hit
    from ..download.fetch import fetch_asset

    return fetch_asset(entry, asset, settings=settings, progress=progress)


def _from_entry(entry, asset, settings, progress) -> BaseWeights:
    path = _fetch(entry, asset, settings, progress)
    try:
        preprocessing = Preprocessing.from_card(entry)
    except CardError:
        preprocessing = None
    return BaseWeights(
        path=path,
        sha256=file_hash(path),
        name=entry.name,
        card=str(entry.file),
        url=asset.link,
        preprocessing=preprocessing,
    )


def _from_file(path: str | os.PathLike, source: str) -> BaseWeights:
    from ..weights.checkpoint import read_info

    path = Path(path).expanduser()
    if not path.is_file():
        raise TrainError(
            f"{source}: recipe key 'ckpt_path' is {str(path)!r}, which is not a file: name the checkpoint "
            "to start from (a .ckpt or .safetensors), or use pretrained: MODEL for hub weights."
        )
    info = read_info(path) if path.suffix == ".ckpt" else None
    preprocessing = Preprocessing.from_record(info) if Preprocessing.in_record(info) else None
    return BaseWeights(
        path=path, sha256=file_hash(path), name=(info or {}).get("model") or path.name, preprocessing=preprocessing
    )


def resolve_base(recipe: Recipe, *, registry=None, settings=None, progress: bool | None = None) -> BaseWeights | None:
    """The base weights a recipe starts from (None for a run from scratch).

    ``pretrained`` names a hub model (``true``: the recipe's ``model``): its weights come from the
    cache or are downloaded, verified against the card's SHA-256 either way. ``ckpt_path`` is a
    local file, hashed here.

    Parameters
    ----------
    recipe : Recipe
    registry : Registry, optional
        Where to look the model up (default: the sources of the default settings).
    settings : Settings, optional
        Cache and hub settings when no registry is given.
    progress : bool, optional
        Download progress bar.

    Raises
    ------
    TrainError
        ``ckpt_path`` is not a file, or the hub model's architecture is not the recipe's.
    UnsupportedLibraryError
        Another library (mindocr, mindyolo, ...) builds the base model.
    ModelNotFoundError, DownloadError, HashMismatchError
        As for :meth:`ghosthub.Client.download`.
    """
    if recipe.ckpt_path is not None:
        return _from_file(recipe.ckpt_path, recipe.source)
    name = recipe.base_model
    if name is None:
        return None
    registry, settings = _registry(registry, settings)
    entry = registry.entry(name)
    from ..modelcard.fields import architecture
    from ..modelcard.library import check_library

    check_library(entry)  # a base model another library builds cannot be fine-tuned here
    backbone, width = architecture(entry)
    if (backbone, width) != (recipe.backbone, recipe.width):
        raise TrainError(
            f"{recipe.source}: the base model {name} is {backbone} width {width:g}, but the recipe trains "
            f"{recipe.model} ({recipe.backbone} width {recipe.width:g}): set model to the base's "
            "architecture to fine-tune it."
        )
    return _from_entry(entry, entry.weights_asset(), settings, progress)


def locate_base(provenance: dict, *, registry=None, settings=None, progress: bool | None = None) -> BaseWeights:
    """Find the base weights a fine-tuned model's provenance names, by their SHA-256.

    Looks, in order, at the recorded ``ckpt_path``, the cached assets, the card of the recorded
    base model and every other card with an asset of that digest (downloading and verifying).

    Raises
    ------
    TrainError
        Nowhere holds the digest; the message names it and what to do.
    """
    digest = str(provenance.get("base_sha256") or "").lower()
    name = provenance.get("base_model") or "?"
    if len(digest) != 64:
        raise TrainError(f"the provenance names base model {name} without its full SHA-256: it cannot be rebuilt.")
    recorded = (provenance.get("recipe") or {}).get("ckpt_path")
    if recorded and Path(recorded).is_file() and file_hash(recorded) == digest:
        return _from_file(recorded, "<recorded recipe>")
    registry, settings = _registry(registry, settings)
    from ..download.cache import Cache

    for item in Cache(settings).ls():
        if (item.sha256 or "").lower() == digest and Path(item.path).is_file() and file_hash(item.path) == digest:
            return BaseWeights(path=Path(item.path), sha256=digest, name=item.name, url=item.url)
    entries = list(registry)
    entries.sort(key=lambda e: e.name != name)  # the recorded name first
    tried = []
    for entry in entries:
        for asset in entry.assets:
            if (asset.sha256 or "").lower() != digest:
                continue
            try:
                return _from_entry(entry, asset, settings, progress)
            except GhostHubError as exc:
                tried.append(f"{entry.name}: {exc}")
    detail = f" Tried: {'; '.join(tried)}." if tried else ""
    raise TrainError(
        f"the base weights of this model (base model {name}, sha256 {digest}) are neither cached nor on any known "
        f"card.{detail} Add the hub that publishes them (--hub URL or GHOSTHUB_HUB), or download them first."
    )


def with_base_preprocessing(recipe: Recipe, base: BaseWeights | None) -> Recipe:
    """The recipe with the base's preprocessing for every preprocessing key the recipe does not state."""
    if base is None or base.preprocessing is None:
        return recipe
    values = base.preprocessing._asdict()
    changes = {key: values[field] for key, field in _PREPROCESSING_KEYS.items() if key not in recipe.given}
    changes = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
    current = recipe.to_dict()
    changes = {k: v for k, v in changes.items() if current[k] != v}
    return recipe.replace(**changes) if changes else recipe


def scratch_recipe(recipe: Recipe) -> Recipe:
    """The same recipe from random weights: no base, nothing frozen, one learning rate (a baseline)."""
    return recipe.replace(pretrained=False, ckpt_path=None, freeze="none", freeze_epochs=0, backbone_lr_scale=1.0)


# ---------------------------------------------------------------------------- the network


def load_base(net, base: BaseWeights) -> list[str]:
    """Load the base weights into a freshly built network; the names re-initialised (a resized classifier).

    The classifier keeps its fresh, seeded initialisation when the class count differs; a
    1-channel network gets the RGB stem summed, as :func:`ghosthub.weights.strict.load_weights` does.
    """
    from ..weights.checkpoint import read_with_info
    from ..weights.strict import load_weights

    params = read_with_info(base.path).params
    return load_weights(net, params, source=base.name).reinitialized


def _classifier(net) -> str:
    return (getattr(net, "default_cfg", None) or {}).get("classifier", "classifier")


def split_params(net) -> tuple[list, list]:
    """``(backbone, head)`` trainable parameters: the head is the classifier, the backbone all the rest."""
    prefix = _classifier(net) + "."
    params = net.trainable_params()
    return [p for p in params if not p.name.startswith(prefix)], [p for p in params if p.name.startswith(prefix)]


def frozen(recipe: Recipe, epoch: int) -> bool:
    """Whether the backbone is frozen in ``epoch`` (0-based)."""
    return recipe.freeze == "backbone" or epoch < recipe.freeze_epochs


def backbone_lr(recipe: Recipe, lr: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    """The backbone's per-step learning rate: scaled, and 0 while frozen."""
    out = (lr * np.float32(recipe.backbone_lr_scale)).astype(lr.dtype)
    out[: recipe.freeze_epochs * steps_per_epoch] = 0
    return out


def set_frozen_batchnorm(net, frozen_now: bool) -> None:
    """BatchNorm of the backbone in inference mode while it is frozen (call after ``set_train(True)``)."""
    from mindspore import nn

    if not frozen_now:
        return
    prefix = _classifier(net)
    for name, cell in net.cells_and_names():
        if isinstance(cell, (nn.BatchNorm2d, nn.BatchNorm1d)) and not name.startswith(prefix):
            cell.set_train(False)


def check_tuning(recipe: Recipe) -> None:
    """Refuse fine-tuning keys on a run from random weights (they would silently do nothing useful)."""
    if recipe.tuning_keys and not recipe.finetuning:
        key = recipe.tuning_keys[0]
        raise TrainError(
            f"{recipe.source}: recipe key {key!r} tunes a fine-tuning run, but the run starts from random "
            "weights: pass --pretrained NAME|PATH, or set pretrained: MODEL or ckpt_path in the recipe."
        )
