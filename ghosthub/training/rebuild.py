"""Rebuilding a published model: retrain from the provenance its card records and compare digests.

A card of a remote hub is anyone's text, so its record is checked for shape, its recipe
for bounds, and it never decides how many processes start: the user does (``workers``,
at most the CPUs this process may use). What the rebuild will cost is logged before it starts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
from pathlib import Path

from .._utils.warn import warn
from ..data import digits
from ..errors import TrainError, TrainWarning, shorten
from .environment import available_cpus, device_description
from .recipe import MAX_DEVICES, Recipe
from .results import TrainResult
from .trainer import train

__all__ = ["RebuildPlan", "RebuildResult", "plan_rebuild", "rebuild", "rebuild_model"]

log = logging.getLogger(__name__)
_HEX = re.compile(r"[0-9a-fA-F]{8,64}")


@dataclasses.dataclass(frozen=True)
class RebuildPlan:
    """What a rebuild will run, decided before it starts: the recipe, the workers, the work.

    Attributes
    ----------
    recipe : Recipe
        The recorded recipe, validated (every value within its bounds).
    workers : int
        Processes this rebuild starts: the count asked for, at most the CPUs available.
    recorded_workers : int
        Processes the recorded run used.
    train_images : int or None
        Training images of the recorded run.
    images_per_second : float or None
        The recorded run's median speed, on ``device``.
    device : str or None
        Where the recorded run trained.
    """

    recipe: Recipe
    workers: int
    recorded_workers: int
    train_images: int | None = None
    images_per_second: float | None = None
    device: str | None = None

    @property
    def image_passes(self) -> int | None:
        """Images the training steps go through: epochs x training images (x repeated augmentation)."""
        if self.train_images is None:
            return None
        return self.recipe.epoch_size * self.train_images * max(1, self.recipe.aug_repeats)

    @property
    def comparable(self) -> bool:
        """Whether the digests can match: data is sharded per worker, so the worker counts must agree."""
        return self.workers == self.recorded_workers

    def describe(self) -> str:
        """One line: epochs, images, workers and, when the record has one, the recorded run's time.

        Examples
        --------
        >>> from ghosthub.training.recipe import Recipe
        >>> r = Recipe.from_dict({"model": "ghostnet_050", "epoch_size": 6, "lr": 0.1, "batch_size": 32})
        >>> RebuildPlan(r, 1, 1, 1437, 120.0, "cpu: AMD EPYC").describe()  # doctest: +NORMALIZE_WHITESPACE
        'rebuild: ghostnet_050, 6 epochs over 1437 training images (8622 image passes), batch 32, 1 worker;
        the recorded run went at 120 img/s on cpu: AMD EPYC (about 72 s of training there)'
        """
        r = self.recipe
        images = f"{self.train_images} training images" if self.train_images is not None else "the training images"
        passes = f" ({self.image_passes} image passes)" if self.image_passes is not None else ""
        text = (
            f"rebuild: {r.model}, {r.epoch_size} epochs over {images}{passes}, batch {r.batch_size}, "
            f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        )
        if self.workers != self.recorded_workers:
            text += f" (the record says {self.recorded_workers})"
        if self.images_per_second and self.image_passes is not None:
            seconds = self.image_passes / self.images_per_second
            text += (
                f"; the recorded run went at {self.images_per_second:.0f} img/s on {self.device or 'its machine'} "
                f"(about {seconds:.0f} s of training there)"
            )
        return text


logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RebuildResult:
    """The outcome of :func:`rebuild`: the recorded and the rebuilt checkpoint digests.

    Attributes
    ----------
    expected_sha256 : str
        The digest on record (the card's asset-sha256 when rebuilt by model name).
    actual_sha256 : str
        The rebuilt checkpoint's full SHA-256.
    result : TrainResult
        The retraining run.
    name : str
        The model rebuilt ('' when rebuilt from a bare provenance record).
    """

    expected_sha256: str
    actual_sha256: str
    result: TrainResult
    name: str = ""
    plan: RebuildPlan | None = None

    @property
    def matches(self) -> bool:
        """True when the rebuilt checkpoint has the recorded digest (compared as a prefix)."""
        return self.actual_sha256.lower().startswith(self.expected_sha256.lower())

    @property
    def why(self) -> str | None:
        """Why the digests could not match (another worker count than the record's), or None."""
        plan = self.plan
        if self.matches or plan is None or plan.comparable:
            return None
        return (
            f"the recorded run used {plan.recorded_workers} workers and this rebuild {plan.workers}: each worker "
            "trains on its own share of the data, so the digests match only with the same count "
            f"(--workers {plan.recorded_workers}, on a machine with that many CPUs)"
        )


def rebuild(
    provenance: dict,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    workers: int = 1,
    progress: bool | None = None,
    base=None,
    registry=None,
    announce=None,
) -> RebuildResult:
    """Retrain from a recorded provenance and compare the checkpoint digest (see :func:`rebuild_model`).

    The recorded recipe is the effective one (thread and worker counts resolved), so the run pins
    the same arithmetic. Run it in a fresh process: MindSpore sets its thread count once.

    Parameters
    ----------
    provenance : dict
        As returned in :attr:`TrainResult.provenance` (and recorded in the model card).
    data_dir : str or os.PathLike or None
        The same data; checked against the recorded dataset digest before training. None for
        data ghosthub can regenerate (``dataset: sklearn-digits``): it is written to
        ``out_dir/data``.
    out_dir : str or os.PathLike
        Where the rebuilt checkpoints go (``out_dir/train``).
    workers : int
        Data-parallel processes to start (default 1), at most the CPUs available: never the
        record's count, which only decides whether the digests can match (:attr:`RebuildResult.why`).
    progress : bool, optional
        As for :func:`train`.
    base : BaseWeights, optional
        For a fine-tuned model: its base weights. Default: found by the recorded SHA-256
        (:func:`ghosthub.training.finetune.locate_base`: the cache, then the cards of ``registry``).
    registry : Registry, optional
        Where to look for the base weights (default: the default settings' sources).
    announce : callable, optional
        Called with one line saying what the rebuild will cost (:meth:`RebuildPlan.describe`)
        before it starts; default: logged at INFO on this module's logger.

    Returns
    -------
    RebuildResult
        ``matches`` tells whether the digests agree.

    Raises
    ------
    TrainError
        The provenance lacks the recipe or has a value of the wrong type, or its recipe does not
        have the recorded digest, or the base weights of a fine-tuned model are nowhere to be
        found (the message names the digest).
    RecipeError
        The recorded recipe has a value out of its bounds.
    DataError
        The data differs from what the model was trained on.
    """
    plan = plan_rebuild(provenance, workers=workers)
    (announce or log.info)(plan.describe())
    recipe = plan.recipe
    import mindspore as ms

    here = device_description(ms.get_context("device_target"))
    if provenance.get("device") and provenance["device"] != here:
        warn(
            f"the model was trained on {provenance['device']!r} and this is {here!r}: kernels may round "
            "differently, so the digests may differ even when everything else is equal",
            TrainWarning,
        )
    if provenance.get("mindspore_version") and provenance["mindspore_version"] != ms.__version__:
        warn(
            f"the model was trained with MindSpore {provenance['mindspore_version']}, this is "
            f"{ms.__version__}: the digests may differ",
            TrainWarning,
        )
    if recipe.finetuning:
        from .finetune import locate_base

        if base is None:
            base = locate_base(provenance, registry=registry, progress=progress)
        elif base.sha256.lower() != str(provenance.get("base_sha256", "")).lower():
            raise TrainError(
                f"the base weights given ({base.path}, sha256 {base.sha256[:16]}...) are not the recorded "
                f"ones (sha256 {str(provenance.get('base_sha256'))[:16]}...)."
            )
    out_dir = Path(out_dir)
    if data_dir is None:
        subset = digits.parse_dataset_name(recipe.dataset)
        if subset is None:
            raise TrainError(
                f"the model was trained on {recipe.dataset!r}, which ghosthub cannot regenerate: "
                "pass the data dir it was trained on."
            )
        data_dir = out_dir / "data"
        digits.write_digits(data_dir, **subset)
    result = train(
        recipe,
        data_dir,
        out_dir / "train",
        workers=plan.workers,
        progress=progress,
        expect_dataset_digest=provenance["dataset_digest"],
        base=base,
    )
    recorded, used = provenance.get("cpu_isa"), result.provenance.get("cpu_isa")
    if recorded and used != recorded:
        warn(
            f"the model was trained with oneDNN's instruction set capped at {recorded!r} and this rebuild "
            f"ran at {used!r} (ONEDNN_MAX_CPU_ISA or GHOSTHUB_CPU_ISA set?): the digests may differ",
            TrainWarning,
        )
    return RebuildResult(provenance["checkpoint_sha256"], result.checkpoint_sha256, result, plan=plan)


def plan_rebuild(provenance: dict, *, workers: int = 1) -> RebuildPlan:
    """Check a recorded provenance and decide what a rebuild of it runs, before anything starts.

    Parameters
    ----------
    provenance : dict
        The training record (a card's, or ``provenance.json``); untrusted: every value is checked.
    workers : int
        Processes the user allows (default 1); more than the CPUs available is capped, with a warning.

    Returns
    -------
    RebuildPlan

    Raises
    ------
    TrainError
        A key is missing or of the wrong type, ``workers`` is below 1, or the recipe does not
        have the recorded digest.
    RecipeError
        The recorded recipe has an unknown key or a value out of its bounds.

    Examples
    --------
    >>> plan_rebuild({"recipe": "epochs: 5", "recipe_digest": "0" * 64, "dataset_digest": "", "checkpoint_sha256": ""})
    Traceback (most recent call last):
    ...
    ghosthub.errors.TrainError: the provenance lacks dataset_digest, checkpoint_sha256: this model cannot be rebuilt.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise TrainError(f"workers={shorten(workers, 40, quoted=True)}: expected a positive number of processes")
    _check_record(provenance)
    recipe = Recipe.from_dict(provenance["recipe"], source="<recorded recipe>")
    if recipe.digest() != provenance["recipe_digest"].lower():
        raise TrainError(
            f"the recorded recipe's digest is {recipe.digest()[:16]}..., but the provenance says "
            f"{provenance['recipe_digest'][:16]}...: the record was altered or written by another version."
        )
    cpus = available_cpus()
    if workers > cpus:
        warn(
            f"{workers} workers asked for, but this process may use {cpus} CPUs: the rebuild starts {cpus}",
            TrainWarning,
        )
        workers = cpus
    rate = provenance.get("images_per_second")
    plan = RebuildPlan(
        recipe,
        workers,
        provenance.get("workers") or 1,
        provenance.get("train_images"),
        float(rate) if rate else None,
        provenance.get("device"),
    )
    if not plan.comparable:
        warn(
            f"the recorded run used {plan.recorded_workers} workers and this rebuild starts {plan.workers}: each "
            "worker trains on its own share of the data, so the checkpoint's digest is not expected to match",
            TrainWarning,
        )
    return plan


# Keys of a provenance record a rebuild reads, and the check of each: (what it must be, test).
_RECORD_KEYS = {
    "recipe_digest": ("a SHA-256 in hex", lambda v: isinstance(v, str) and _HEX.fullmatch(v)),
    "dataset_digest": ("a SHA-256 in hex", lambda v: isinstance(v, str) and _HEX.fullmatch(v)),
    "checkpoint_sha256": ("a SHA-256 in hex", lambda v: isinstance(v, str) and _HEX.fullmatch(v)),
    "base_sha256": ("a SHA-256 in hex or null", lambda v: v is None or isinstance(v, str) and _HEX.fullmatch(v)),
    "workers": (f"an integer in [1, {MAX_DEVICES}] or null", lambda v: v is None or _count(v, 1, MAX_DEVICES)),
    "train_images": ("a count of images or null", lambda v: v is None or _count(v, 0, 1 << 40)),
    "images_per_second": (
        "a number of images per second or null",
        lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e12),
    ),
    **{
        key: ("text of at most 300 characters or null", lambda v: v is None or isinstance(v, str) and len(v) <= 300)
        for key in ("device", "mindspore_version", "cpu_isa", "base_model", "dataset")
    },
}


def _count(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _check_record(provenance) -> None:
    """Refuse a record of the wrong shape, naming the key: a remote hub's card is anyone's text."""
    if not isinstance(provenance, dict):
        raise TrainError(f"the provenance record is {shorten(provenance, 60, quoted=True)}, expected a mapping")
    missing = [k for k in ("recipe", "recipe_digest", "dataset_digest", "checkpoint_sha256") if not provenance.get(k)]
    if missing:
        raise TrainError(f"the provenance lacks {', '.join(missing)}: this model cannot be rebuilt.")
    if not isinstance(provenance["recipe"], dict):
        raise TrainError(
            f"the provenance record's 'recipe' is {shorten(provenance['recipe'], 60, quoted=True)}, expected a "
            "mapping of recipe keys; this model cannot be rebuilt."
        )
    for key, (expected, ok) in _RECORD_KEYS.items():
        if key in provenance and not ok(provenance[key]):
            raise TrainError(
                f"the provenance record's {key!r} is {shorten(provenance[key], 60, quoted=True)}, expected {expected}; "
                "this model cannot be rebuilt."
            )


def rebuild_model(
    client,
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    workdir: str | os.PathLike | None = None,
    workers: int = 1,
    announce=None,
) -> RebuildResult:
    """Retrain a published model from the recipe its card records and compare the checkpoint's SHA-256.

    The card must carry the training record ``ghosthub publish`` writes (its recipe, seed,
    thread count, dataset digest; a fine-tuned model's base by name and SHA-256, found by that
    digest in the client's cache and cards). Run it in a fresh process: MindSpore fixes its
    kernel thread count once per process. ``ghosthub rebuild NAME`` runs it.

    Parameters
    ----------
    client : ghosthub.Client
        The session whose cards hold ``name`` (and the base of a fine-tuned model).
    name : str
        The model to rebuild.
    data_dir : str or os.PathLike, optional
        The training data, checked against the recorded digest; scikit-learn's digits are
        regenerated when it is omitted.
    workdir : str or os.PathLike, optional
        Where the rebuild trains (default: a temporary folder, removed afterwards).
    workers : int
        Data-parallel processes (default 1, at most the CPUs available); the card's own count
        never starts processes, it only decides whether the digests can match.
    announce : callable, optional
        As for :func:`rebuild`: told what the rebuild will cost before it starts.

    Returns
    -------
    RebuildResult
        ``matches`` tells whether the rebuilt checkpoint has the card's digest.

    Raises
    ------
    TrainError
        The card records no training provenance, its record is incomplete or altered, or a
        fine-tuned model's base weights are nowhere to be found.
    DataError
        ``data_dir`` differs from what the model was trained on.
    ModelNotFoundError
        No card is called ``name``.

    Examples
    --------
    >>> rebuild_model(ghosthub.Client(hub="hub"), "digits_ghostnet_050").matches  # doctest: +SKIP
    True
    """
    from ..modelcard.provenance import read_provenance

    card = client.get_card(name)
    provenance = read_provenance(card)
    if provenance is None:
        raise TrainError(f"{card.path or name}: the card records no training provenance, so {name} cannot be rebuilt")
    expected = card.weights_asset().sha256.lower()
    logger.info("rebuilding %s from the recipe its card records, to compare with sha256 %s", name, expected)
    with tempfile.TemporaryDirectory(prefix="ghosthub-rebuild-") as tmp:
        result = rebuild(
            provenance,
            data_dir,
            Path(workdir) if workdir else Path(tmp),
            workers=workers,
            announce=announce,
            registry=client.registry,
            progress=client.settings.progress,
        )
    logger.info("rebuilt %s: sha256 %s", name, result.actual_sha256)
    return dataclasses.replace(result, expected_sha256=expected, name=name)
