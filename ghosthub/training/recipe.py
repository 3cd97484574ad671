"""Training recipes: load and validate a YAML recipe into a typed, hashable Recipe (no MindSpore).

Keys are named as in MindCV's training configs where MindCV has them (``model``,
``batch_size``, ``epoch_size``, ``lr``, ``use_nesterov``, ``re_prob`` ...), so a MindCV
config reads as a ghosthub recipe once the keys that describe MindCV's own launcher
(``distribute``, ``data_dir``, ``ckpt_save_dir`` ...) are removed. ghosthub adds three:
``devices`` (how many data-parallel workers the values were tuned for), ``threads``
(CPU kernel threads, which change the arithmetic and so the checkpoint's bytes) and
``keep_checkpoint_max`` semantics of "the last K epochs".
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..constants import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
from ..constants import IMAGENET_DEFAULT_STD as IMAGENET_STD
from ..errors import RecipeError, shorten
from ..naming import split_name
from . import recipe_values as v

__all__ = ["Recipe", "load_recipe", "bundled_recipes"]

MAX_RECIPE_BYTES = 1 << 20
# Bounds of the values that decide how much work a run is: wide enough for any published recipe
# (MindCV's longest is 600 epochs, its largest crop 600 px), far below what would exhaust a machine.
MAX_EPOCHS = 10_000
MAX_BATCH = 4096
MAX_IMAGE = 1024
MAX_CLASSES = 100_000
MAX_THREADS = 1024
MAX_DEVICES = 4096


def _field(
    check: Callable[[Any], Any], default: Any = dataclasses.MISSING, doc: str = "", *, optional: bool = False
) -> Any:
    # optional: a key added after recipes were first published; written (and hashed) only when set,
    # so the digests of earlier recipes, and the checkpoints that record them, stay the same.
    return dataclasses.field(default=default, metadata={"check": check, "doc": doc, "optional": optional})


# ---------------------------------------------------------------------------- the recipe


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A validated training recipe. Build one with :func:`load_recipe` or :meth:`Recipe.from_dict`.

    Field names are MindCV's config keys where MindCV has one. ``batch_size`` is per worker, as in
    MindCV: the global batch is ``batch_size`` times the number of workers actually running, and
    ``devices`` records the count the recipe's ``lr`` was tuned for (``devices * batch_size`` is
    the global batch of the published run). ``source`` (where the recipe came from) is not part
    of the recipe's identity.
    """

    # model
    model: str = _field(v.model_name, doc="model name: backbone + width, e.g. ghostnet_050")
    epoch_size: int = _field(v.integer(1, MAX_EPOCHS), doc="epochs to train")
    lr: float = _field(v.number(0, 100, lo_open=True), doc="peak learning rate (after warm-up)")
    batch_size: int = _field(v.integer(1, MAX_BATCH), doc="images per step per worker")
    image_resize: int = _field(v.integer(8, MAX_IMAGE), 224, "training crop and evaluation size in pixels")
    num_classes: int | None = _field(
        v.optional(v.integer(1, MAX_CLASSES)), None, "classifier outputs; null: the number of class folders"
    )
    drop_rate: float = _field(v.number(0, 1, hi_open=True), 0.2, "dropout before the classifier")
    amp_level: str = _field(v.choice("O0", "O1", "O2", "O3"), "O0", "mixed precision; CPU always runs O0")
    keep_checkpoint_max: int = _field(v.integer(1, MAX_EPOCHS), 10, "epoch checkpoints kept (the last K)")
    dataset: str = _field(v.text, "custom", "name of the training data, recorded in the card")
    # system
    mode: int = _field(v.integer(0, 1), 0, "0: graph mode (compiled), 1: PyNative")
    seed: int = _field(v.integer(0, 2**31 - 1), 42, "seed of initialisation, data order, augmentation, dropout")
    threads: int | None = _field(
        v.optional(v.integer(1, MAX_THREADS)), None, "CPU kernel threads; null: the CPUs available (<= 25)"
    )
    num_parallel_workers: int = _field(v.integer(1, MAX_THREADS), 8, "data pipeline workers (capped at the CPU count)")
    devices: int = _field(v.integer(1, MAX_DEVICES), 1, "data-parallel workers the recipe's values were tuned for")
    val_while_train: bool = _field(v.boolean, True, "evaluate on the val split after every epoch")
    # dataset
    train_split: str = _field(v.subfolder, "train", "folder of the training images under the data dir")
    val_split: str = _field(v.subfolder, "val", "folder of the validation images under the data dir")
    shuffle: bool = _field(v.boolean, True, "shuffle the training data every epoch")
    drop_remainder: bool = _field(v.boolean, True, "drop the last incomplete batch of an epoch")
    aug_repeats: int = _field(
        v.integer(0, 16), 0, "repeated augmentation: each image this many times per epoch (0: off)"
    )
    # augmentation
    scale: tuple = _field(v.pair(0, 1), (0.08, 1.0), "random resized crop: area fraction range")
    ratio: tuple = _field(v.pair(0, 100), (0.75, 1.333), "random resized crop: aspect ratio range")
    hflip: float = _field(v.number(0, 1), 0.5, "horizontal flip probability")
    vflip: float = _field(v.number(0, 1), 0.0, "vertical flip probability")
    color_jitter: float | None = _field(
        v.optional(v.number(0, 10)), 0.4, "brightness/contrast/saturation jitter; used only without auto_augment"
    )
    auto_augment: str | None = _field(v.auto_augment, None, "MindCV policy string, e.g. randaug-m9-mstd0.5")
    interpolation: str = _field(v.choice("bilinear", "bicubic", "nearest", "area"), "bilinear", "resize filter")
    re_prob: float = _field(v.number(0, 1), 0.0, "random erasing probability")
    re_scale: tuple = _field(v.pair(0, 1), (0.02, 0.33), "random erasing: area fraction range")
    re_ratio: tuple = _field(v.pair(0, 100), (0.3, 3.3), "random erasing: aspect ratio range")
    re_value: Any = _field(v.re_value, 0, "random erasing fill (0-255) or 'random'")
    re_max_attempts: int = _field(v.integer(1, 1000), 10, "random erasing: tries to place the box")
    mean: tuple = _field(v.channels(0, 255), IMAGENET_MEAN, "per-channel mean, 0-255 scale")
    std: tuple = _field(v.channels(0, 255, lo_open=True), IMAGENET_STD, "per-channel std, 0-255 scale")
    crop_pct: float = _field(v.number(0, 1, lo_open=True), 0.875, "evaluation: centre crop fraction")
    # loss
    loss: str = _field(v.choice("CE"), "CE", "cross entropy")
    label_smoothing: float = _field(v.number(0, 1, hi_open=True), 0.0, "label smoothing")
    # learning rate
    scheduler: str = _field(v.choice("cosine_decay", "constant"), "cosine_decay", "learning-rate schedule")
    min_lr: float = _field(v.number(0, 100), 1e-6, "cosine decay: final learning rate")
    warmup_epochs: int = _field(v.integer(0, MAX_EPOCHS), 3, "epochs of linear warm-up")
    warmup_factor: float = _field(v.number(0, 1), 0.0, "warm-up starts at lr * warmup_factor")
    decay_epochs: int | None = _field(
        v.optional(v.integer(1, MAX_EPOCHS)), None, "cosine decay length in epochs; null: epoch_size - warmup_epochs"
    )
    lr_epoch_stair: bool = _field(v.boolean, False, "change the learning rate once per epoch, not every step")
    # optimizer
    opt: str = _field(v.choice("momentum", "sgd"), "momentum", "SGD with momentum")
    momentum: float = _field(v.number(0, 1, hi_open=True), 0.9, "momentum")
    use_nesterov: bool = _field(v.boolean, False, "Nesterov momentum")
    weight_decay: float = _field(v.number(0, 1), 1e-6, "L2 weight decay")
    filter_bias_and_bn: bool = _field(v.boolean, True, "no weight decay on biases and batch-norm parameters")
    loss_scale_type: str = _field(v.choice("fixed", "dynamic"), "fixed", "loss scaling for amp_level != O0")
    loss_scale: float = _field(v.number(0, 2**32, lo_open=True), 1.0, "(initial) loss scale")
    drop_overflow_update: bool = _field(v.boolean, False, "skip the update of a step whose gradients overflow")
    # CPU arithmetic: oneDNN's instruction-set ceiling decides the bytes a CPU trains to (ghosthub.runtime.isa)
    cpu_isa: str = _field(
        v.cpu_isa,
        "avx2",
        "oneDNN instruction-set ceiling on x86 CPUs: avx2 (the same bytes on every "
        "x86 CPU), native, or a oneDNN ISA name",
        optional=True,
    )
    # fine-tuning (see ghosthub.training.finetune)
    pretrained: Any = _field(
        v.pretrained, False, "start from hub weights: true (the model's) or a model name", optional=True
    )
    ckpt_path: str | None = _field(v.optional(v.text), None, "start from this local checkpoint file", optional=True)
    freeze: str = _field(
        v.choice("none", "backbone"), "none", "backbone: train the classifier only (linear probe)", optional=True
    )
    freeze_epochs: int = _field(
        v.integer(0, MAX_EPOCHS), 0, "train the classifier only for this many epochs, then everything", optional=True
    )
    backbone_lr_scale: float = _field(
        v.number(0, 1, lo_open=True), 1.0, "learning rate of the pretrained part, as a fraction of lr", optional=True
    )

    source: str = dataclasses.field(default="<dict>", compare=False, repr=False)
    # The keys the recipe states (not defaulted): a fine-tuning run takes the others' preprocessing from its base.
    given: frozenset = dataclasses.field(default=frozenset(), compare=False, repr=False)

    # ------------------------------------------------------------------ construction

    @classmethod
    def keys(cls) -> list[str]:
        """The recipe keys, in declaration order."""
        return [f.name for f in dataclasses.fields(cls) if "check" in f.metadata]

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<dict>", lines: Mapping[str, int] | None = None
    ) -> Recipe:
        """Validate a mapping of recipe keys.

        Parameters
        ----------
        data : mapping
            Recipe keys and values (as read from YAML).
        source : str
            Where the mapping came from, used in messages.
        lines : mapping of str to int, optional
            Line of each key in ``source``, used in messages.

        Returns
        -------
        Recipe

        Raises
        ------
        RecipeError
            An unknown key, a missing required key, or a bad value; the message names the source,
            the key, what was expected and what was found.
        """
        lines = lines or {}
        fields = {f.name: f for f in dataclasses.fields(cls) if "check" in f.metadata}
        where = lambda key: f"{source}:{lines[key]}" if key in lines else source  # noqa: E731
        for key in data:
            if key not in fields:
                shown = shorten(key, 60, quoted=True)
                close = (
                    difflib.get_close_matches(key, list(fields), n=1) if isinstance(key, str) and len(key) < 60 else []
                )
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise RecipeError(
                    f"{where(key)}: unknown recipe key {shown}.{hint} Known keys: {', '.join(fields)}. "
                    "Remove or rename it (keys follow MindCV's config names)."
                )
        values = {}
        for name, f in fields.items():
            if name not in data and f.default is dataclasses.MISSING:
                raise RecipeError(f"{source}: required recipe key {name!r} is missing ({f.metadata['doc']}).")
            value = data.get(name, f.default)
            try:
                # Defaults go through the check too, so equal recipes have equal canonical forms.
                values[name] = f.metadata["check"](value)
            except v.Bad as bad:
                found = shorten(value, 80, quoted=True)
                raise RecipeError(
                    f"{where(name)}: recipe key {name!r}: expected {bad.expected}, found {found}."
                ) from None
        recipe = cls(**values, source=source, given=frozenset(map(str, data)))
        recipe._check_consistency(where)
        return recipe

    def _check_consistency(self, where: Callable[[str], str]) -> None:
        if self.min_lr > self.lr:
            raise RecipeError(
                f"{where('min_lr')}: recipe key 'min_lr': expected at most lr ({self.lr:g}), found {self.min_lr:g}."
            )
        if self.pretrained and self.ckpt_path:
            raise RecipeError(
                f"{where('ckpt_path')}: recipe keys 'pretrained' and 'ckpt_path' both name the starting "
                "weights; keep one (pretrained: hub weights, ckpt_path: a local file)."
            )
        if self.freeze == "backbone" and self.freeze_epochs:
            raise RecipeError(
                f"{where('freeze_epochs')}: recipe key 'freeze_epochs': freeze: backbone already freezes "
                "every epoch; use one of them."
            )
        if self.freeze_epochs >= self.epoch_size:
            raise RecipeError(
                f"{where('freeze_epochs')}: recipe key 'freeze_epochs': expected fewer than epoch_size "
                f"({self.epoch_size}), found {self.freeze_epochs}; for a linear probe use freeze: backbone."
            )

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some keys changed, validated like a file (e.g. ``epoch_size=3``)."""
        data = self.to_dict()
        data.update(changes)
        return dataclasses.replace(Recipe.from_dict(data, source=self.source), given=self.given | set(changes))

    # ------------------------------------------------------------------ identity

    def to_dict(self) -> dict[str, Any]:
        """Every key with its value (defaults filled in), lists for pairs; JSON and YAML friendly."""
        out = {}
        for f in dataclasses.fields(self):
            if "check" not in f.metadata:
                continue
            value = getattr(self, f.name)
            if f.metadata["optional"] and value == f.default:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def canonical(self) -> str:
        """The recipe as canonical JSON (sorted keys, no spaces): what :meth:`digest` hashes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`canonical`: equal recipes have equal digests, whatever the file's layout.

        Examples
        --------
        >>> r = Recipe.from_dict({"model": "ghostnet_050", "epoch_size": 1, "lr": 0.1, "batch_size": 8})
        >>> r.digest() == r.replace(epoch_size=1).digest()
        True
        """
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    def to_yaml(self) -> str:
        """The full recipe as YAML (every key, defaults included), loadable by :func:`load_recipe`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    # ------------------------------------------------------------------ derived values

    @property
    def backbone(self) -> str:
        """The backbone name of ``model`` (``ghostnet`` for ``ghostnet_050``)."""
        return split_name(self.model).backbone

    @property
    def width(self) -> float | None:
        """The width multiplier of ``model`` (0.5 for ``ghostnet_050``), None without a suffix."""
        return split_name(self.model).width

    @property
    def finetuning(self) -> bool:
        """Whether the run starts from pretrained weights (``pretrained`` or ``ckpt_path``)."""
        return bool(self.pretrained) or self.ckpt_path is not None

    @property
    def tuning_keys(self) -> list[str]:
        """The fine-tuning keys set away from their defaults (``freeze``, ``freeze_epochs``, ``backbone_lr_scale``)."""
        return [
            k
            for k in ("freeze", "freeze_epochs", "backbone_lr_scale")
            if getattr(self, k) != Recipe.__dataclass_fields__[k].default
        ]

    @property
    def base_model(self) -> str | None:
        """The hub model the run starts from (``pretrained``), None otherwise."""
        if not self.pretrained:
            return None
        return self.model if self.pretrained is True else self.pretrained

    @property
    def effective_decay_epochs(self) -> int:
        """``decay_epochs``, or ``epoch_size - warmup_epochs`` when it is null."""
        return self.decay_epochs if self.decay_epochs is not None else max(1, self.epoch_size - self.warmup_epochs)


# ---------------------------------------------------------------------------- helpers


def bundled_recipes() -> dict[str, Path]:
    """The recipes shipped with ghosthub, by name (file stem).

    Examples
    --------
    >>> "digits_demo" in bundled_recipes()
    True
    """
    from ..config import bundled_recipes_dir

    folder = bundled_recipes_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """The YAML document of a recipe and the line (1-based) of each top-level key.

    Aliases are refused while the document is read, before anything is built: no recipe needs
    one, and a few hundred bytes of them expand into billions of values (as cards refuse them).
    """
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except RecipeError as exc:
        raise RecipeError(f"{source}:{exc}") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{source}: recipe is not valid YAML: {shorten(exc, 300)}") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep; an integer of 4300+ digits
        raise RecipeError(f"{source}: recipe is not valid YAML: {shorten(exc, 300)}") from None
    finally:
        loader.dispose()
    lines = {}
    if isinstance(node, yaml.MappingNode):
        lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return data, lines


@functools.cache
def _loader_class():
    class _Loader(yaml.SafeLoader):
        """The safe loader (the Python one, whose composer can be hooked), refusing aliases."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise RecipeError(
                    f"{event.start_mark.line + 1}: YAML aliases (*{shorten(event.anchor, 40)}) are not allowed in "
                    "recipes; write the value out"
                )
            return super().compose_node(parent, index)

    return _Loader


def load_recipe(recipe: str | os.PathLike | Recipe, **overrides: Any) -> Recipe:
    """Load a recipe from a YAML file or by the name of a bundled recipe, then apply overrides.

    Parameters
    ----------
    recipe : str, os.PathLike or Recipe
        A file path, or a bundled recipe's name (``"digits_demo"``, ``"ghostnet_050_imagenet"``).
    **overrides
        Recipe keys to change, validated like the file's (e.g. ``epoch_size=3``).

    Returns
    -------
    Recipe

    Raises
    ------
    RecipeError
        No such file or bundled recipe, unreadable YAML, unknown key or bad value.

    Examples
    --------
    >>> load_recipe("digits_demo").model
    'ghostnet_050'
    >>> load_recipe("digits_demo", epoch_size=1).epoch_size
    1
    """
    if isinstance(recipe, Recipe):
        return recipe.replace(**overrides) if overrides else recipe
    path = Path(recipe)
    if not path.is_file():
        bundled = bundled_recipes()
        if str(recipe) in bundled:
            path = bundled[str(recipe)]
        else:
            raise RecipeError(
                f"recipe {os.fspath(recipe)!r} is neither a file nor a bundled recipe. Bundled recipes: "
                f"{', '.join(bundled) or '(none)'}. Pass a YAML file path or one of these names."
            )
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RECIPE_BYTES + 1)
        if len(raw) > MAX_RECIPE_BYTES:
            raise RecipeError(f"{source}: recipe is larger than {MAX_RECIPE_BYTES} bytes; is it really a recipe?")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{source}: cannot read recipe: {shorten(exc)}") from None
    data, lines = _parse_yaml(text, source)
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: expected a YAML mapping of recipe keys, found {type(data).__name__}.")
    loaded = Recipe.from_dict(data, source=source, lines=lines)
    return loaded.replace(**overrides) if overrides else loaded
