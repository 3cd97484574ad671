"""Rebuilding a published model: retrain from the provenance its card records and compare digests."""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path

from .._utils.warn import warn
from ..data import digits
from ..errors import TrainError, TrainWarning
from .environment import device_description
from .recipe import Recipe
from .results import TrainResult
from .trainer import train

__all__ = ["RebuildResult", "rebuild", "rebuild_model"]

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

    @property
    def matches(self) -> bool:
        """True when the rebuilt checkpoint has the recorded digest (compared as a prefix)."""
        return self.actual_sha256.lower().startswith(self.expected_sha256.lower())


def rebuild(
    provenance: dict,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    progress: bool | None = None,
    base=None,
    registry=None,
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
    progress : bool, optional
        As for :func:`train`.
    base : BaseWeights, optional
        For a fine-tuned model: its base weights. Default: found by the recorded SHA-256
        (:func:`ghosthub.training.finetune.locate_base`: the cache, then the cards of ``registry``).
    registry : Registry, optional
        Where to look for the base weights (default: the default settings' sources).

    Returns
    -------
    RebuildResult
        ``matches`` tells whether the digests agree.

    Raises
    ------
    TrainError
        The provenance lacks the recipe, or its recipe does not have the recorded digest, or
        the base weights of a fine-tuned model are nowhere to be found (the message names the digest).
    DataError
        The data differs from what the model was trained on.
    """
    missing = [k for k in ("recipe", "recipe_digest", "dataset_digest", "checkpoint_sha256") if not provenance.get(k)]
    if missing:
        raise TrainError(f"the provenance lacks {', '.join(missing)}: this model cannot be rebuilt.")
    recipe = Recipe.from_dict(provenance["recipe"], source="<recorded recipe>")
    if recipe.digest() != provenance["recipe_digest"]:
        raise TrainError(
            f"the recorded recipe's digest is {recipe.digest()[:16]}..., but the provenance says "
            f"{provenance['recipe_digest'][:16]}...: the record was altered or written by another version."
        )
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
        workers=int(provenance.get("workers") or 1),
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
    return RebuildResult(provenance["checkpoint_sha256"], result.checkpoint_sha256, result)


def rebuild_model(
    client, name: str, *, data_dir: str | os.PathLike | None = None, workdir: str | os.PathLike | None = None
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
            registry=client.registry,
            progress=client.settings.progress,
        )
    logger.info("rebuilt %s: sha256 %s", name, result.actual_sha256)
    return dataclasses.replace(result, expected_sha256=expected, name=name)
