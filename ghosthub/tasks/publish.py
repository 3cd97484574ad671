"""Publishing: a checkpoint becomes a verified asset, a card in MindSpore Hub's format, and a hub index entry."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import gc
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import config
from .._utils.fs import make_folders, read_json, remove_made_folders, utcnow
from .._utils.hashes import file_hash
from .._utils.lock import FileLock
from .._utils.places import hub_place
from .._utils.spelling import said
from .._utils.warn import warn
from ..architectures import match, width_families
from ..download.parts import owner_tag
from ..errors import CardError, GhostHubError, PublishError, PublishWarning, WeightsError
from ..hub.fsck import LOCK, clean_leftovers
from ..hub.index import INDEX, asset_file_name, index_bytes, model_entry, read_index
from ..hub.site import stage_pages
from ..hub.transaction import Transaction, recover, stage_copy
from ..modelcard import ModelCard, is_safe_name, parse_card, render_card
from ..modelcard.provenance import provenance_block, provenance_fields
from ..naming import variant_name
from ..preprocessing import Preprocessing
from ..weights.checkpoint import read_with_info
from ..weights.convert import convert_weights
from ..weights.formats import scan_weights
from ..weights.network import build_network
from ..weights.plan import plan_weights
from .evaluate import evaluate
from .ready import network_preprocessing

__all__ = ["PublishResult", "publish"]

_FORMATS = {".ckpt": "ckpt", ".safetensors": "safetensors"}
_FOREIGN = (".pth", ".pth.tar")  # PyTorch files: converted to .ckpt on publish (needs torch)


@dataclasses.dataclass(frozen=True)
class PublishResult:
    """What :func:`publish` wrote (or found already there).

    Attributes
    ----------
    name : str
        The model name.
    card_path, asset_path : Path
        The card and the asset in the hub.
    sha256 : str
        The asset's full SHA-256.
    card : ModelCard
        The published card.
    changed : bool
        False when the hub already held this very publication.
    metrics : dict
        The figures in the card's ``evaluation`` (from ``eval_dir`` when given).
    retries : int
        For an s3 hub: how often the index changed under this publish (another writer
        committed first) before its compare-and-swap succeeded.
    """

    name: str
    card_path: Path | str  # an s3:// URL for an object-store hub
    asset_path: Path | str
    sha256: str
    card: ModelCard
    changed: bool
    metrics: dict = dataclasses.field(default_factory=dict)
    retries: int = 0


def publish(
    checkpoint: str | os.PathLike,
    *,
    name: str,
    hub: str | os.PathLike,
    backbone: str | None = None,
    width: float | None = None,
    dataset: str | None = None,
    metrics: Mapping[str, float] | None = None,
    eval_dir: str | os.PathLike | None = None,
    provenance: Mapping[str, Any] | str | os.PathLike | None = "auto",
    base_url: str | None = None,
    force: bool = False,
    extra_fields: Mapping[str, Any] | None = None,
    notes: str = "",
    author: str | None = None,
    user_id: str | None = None,
    license: str = "Apache2.0",
    summary: str | None = None,
    today: _dt.date | None = None,
    settings: config.Settings | None = None,
    single_writer: bool | None = None,
) -> PublishResult:
    """Publish a checkpoint into a hub (a folder or ``s3://bucket/prefix``): asset, card, index.json.

    The checkpoint is copied into the hub while its SHA-256 is computed, the copy is read
    once and strict-loaded into the named architecture (a mismatch is refused), evaluated on
    ``eval_dir`` when given, then a card in MindSpore Hub's format (full 64-digit
    asset-sha256) is written to ``cards/<name>.md``, parsed back to validate it, and
    ``index.json`` is updated with the hub's pages (``index.html`` and the pages that changed,
    see :mod:`ghosthub.hub.site`), all in one transaction. A different existing card or asset
    is never overwritten without ``force``; an interrupted publish leaves the hub as it was.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A ``.ckpt`` or ``.safetensors`` file.
    name : str
        The model name (a safe name; ``<model>.<tag>`` for extra weights).
    hub : str or os.PathLike
        The hub folder (created if missing), or ``s3://bucket/prefix``
        (``pip install 'ghosthub[s3]'``): there the asset and the card are uploaded
        under content-addressed keys and the index is updated by compare-and-swap, so
        several people can publish into one hub at once (see :mod:`ghosthub.hub.commit`);
        its pages follow the index that wins (:mod:`ghosthub.hub.site_store`).
    backbone, width : str, float, optional
        The architecture the checkpoint must load into strictly (any registered one; the width
        for a family that takes one); by default what a checkpoint written by ``ghosthub train``
        records, else what its names and shapes say. An architecture without a width is written
        into the card's ``architecture:`` field.
    dataset : str, optional
        The card's train-dataset (default: the checkpoint's record, else "-").
    metrics : mapping of str to float, optional
        Figures for ``evaluation`` (``{"top1": 97.5, "top5": 99.9}``).
    eval_dir : str or os.PathLike, optional
        A labelled ImageFolder: the network is evaluated on it and its top-1 and top-5
        become the card's ``evaluation`` (unless ``metrics`` is given).
    provenance : mapping, path or "auto"
        What ``ghosthub train`` recorded (``provenance.json``): its digests, seed and
        versions go into the front-matter and the whole record into the body, so
        ``ghosthub rebuild`` can retrain and compare. A given record (mapping or
        file) of another checkpoint is refused. ``"auto"`` (default) takes
        ``provenance.json`` beside the checkpoint when it describes this very checkpoint,
        and leaves it out with a warning when it describes another; None records none.
    base_url : str, optional
        Where the hub will be served; asset links become absolute
        (``<base_url>/assets/...``) instead of relative to the card.
    extra_fields : mapping, optional
        More front-matter, kept as written.
    notes : str
        Markdown appended to the card body.
    author, user_id, license, summary : str, optional
        The card's fields of the same names.
    today : datetime.date, optional
        The card's update-time (default: today).
    settings : Settings, optional
        Cache folder (where a converted checkpoint for an s3 hub waits), timeouts, multipart part size.
    single_writer : bool, optional
        Write an s3 hub whose store does not honour conditional writes, on your word that
        no one else writes it meanwhile (default ``settings.single_writer``).

    Returns
    -------
    PublishResult

    Examples
    --------
    >>> publish("out/best.ckpt", name="digits_ghostnet", hub="hub", eval_dir="digits")  # doctest: +SKIP
    """
    checkpoint = Path(checkpoint)
    if not is_safe_name(name):
        raise PublishError(f"cannot publish as {name!r}: not a safe model name (letters, digits, '.', '_', '+', '-')")
    place = hub_place(hub, what="publish: the hub")
    if place.kind == "url":
        raise PublishError(
            f"publish writes into a hub folder or an s3:// hub, not a URL ({place.shown}); publish into the folder "
            "or bucket the URL serves"
        )
    fmt = _FORMATS.get(checkpoint.suffix.lower())
    if fmt is None and not checkpoint.name.lower().endswith(_FOREIGN):
        raise PublishError(
            f"cannot publish {checkpoint}: expected a .ckpt or .safetensors file (or, with torch, .pth / .pth.tar)"
        )
    if not checkpoint.is_file():
        raise PublishError(f"cannot publish {checkpoint}: no such file")
    record, strict = _provenance_record(provenance, checkpoint)
    settings = settings or config.settings()
    root, work, store, created = _open_hub(place, settings, single_writer)
    # A publish that fails leaves no folder it made (only its lock file may be in them): never one the user made.
    with _undone_on_failure(created):
        # Foreign layouts (timm, the model zoo, V3 training form) are converted to ghosthub's first.
        plan = _plan(checkpoint, backbone, width)
        converted = None
        if plan is not None and (not plan.native or plan.format == "torch"):
            converted = work / f"{name}.incoming-converted.ckpt"
            convert_weights(checkpoint, converted)
            fmt, plan = "ckpt", plan_weights(converted)
        # A folder: one pass over the bytes (copy into the hub while hashing), one read of the copy. An object
        # store: the file is hashed where it lies, and the upload hashes what it sends again (a file that changed
        # is refused).
        try:
            # The name carries <host>-<pid>: made before the hub's lock is taken, it is left over only once we are gone.
            staged, sha256 = (
                (converted or checkpoint, file_hash(converted or checkpoint))
                if store is not None
                else stage_copy(converted or checkpoint, work / f"{name}.incoming", suffix=f".{owner_tag()}.tmp")
            )
        finally:
            if converted is not None and store is None:
                converted.unlink(missing_ok=True)
        try:
            params, info = _read_staged(staged, checkpoint)
            info = info or {}
            backbone, width = _architecture(checkpoint, plan, info, backbone, width)
            net = _build_checked(params, checkpoint, backbone, width, info.get("model_options"))
            del params
            parameters = sum(int(p.size) for p in net.trainable_params())
            try:
                if eval_dir is not None and not metrics:
                    pre = network_preprocessing(net, info)
                    scores = evaluate(net, eval_dir, preprocessing=pre, classes=info.get("classes"), progress=False)
                    metrics = {"top1": scores.top1, "top5": scores.top5}
            finally:
                del net
                gc.collect()
            meta = dict(
                name=name,
                backbone=backbone,
                width=width,
                parameters=parameters,
                dataset=dataset or info.get("dataset") or "-",
                metrics=dict(metrics or {}),
                base_url=base_url,
                preprocessing=_record_fields(info),
                extra_fields=dict(extra_fields or {}),
                notes=notes,
                author=author,
                user_id=user_id,
                license=license,
                summary=summary,
                today=today,
                provenance=_matching_provenance(record, sha256, checkpoint, strict),
            )
            if store is not None:
                return _commit_store(store, staged, sha256, fmt, meta, force, settings)
            with FileLock(root / LOCK):
                recover(root)
                _clean_leftovers(root)
                return _commit(root, staged, sha256, fmt, meta, force)
        finally:
            if staged != checkpoint:
                staged.unlink(missing_ok=True)


def _open_hub(place, settings, single_writer: bool | None):
    """(hub folder or staging folder, where the copy is staged, the object store or None, folders made) for ``place``.

    An s3 hub's store is probed first: one that cannot take several writers is refused before any work.
    """
    if place.kind == "s3":
        from ..hub.store import writable_store

        store = writable_store(place, settings, single_writer=single_writer)
        staging = settings.cache_dir / "publish"  # a converted checkpoint waits in the cache, not in the store
        staging.mkdir(parents=True, exist_ok=True)
        clean_leftovers(staging)  # copies staged by publishes killed earlier
        return staging, staging, store, []
    root = Path(place.spec)
    created = make_folders(root / "assets", root / "cards")
    return root, root / "assets", None, created


@contextlib.contextmanager
def _undone_on_failure(created: list[Path]):
    """Remove the hub folders this publish created when it fails (they then hold at most its lock file)."""
    try:
        yield
    except BaseException:
        remove_made_folders(created, own_files=(LOCK,))
        raise


def _clean_leftovers(root: Path) -> None:
    """Remove what publishes killed before their commit left in the hub (we hold its lock)."""
    removed = clean_leftovers(root)
    if removed:
        warn(f"removed {len(removed)} temporary file(s) a killed publish left in {root}", PublishWarning)


def _provenance_record(provenance, checkpoint: Path) -> tuple[Mapping[str, Any] | None, bool]:
    """(the training record, whether one of another checkpoint is an error) for ``provenance``."""
    if provenance is None or isinstance(provenance, Mapping):
        return provenance, True
    automatic = isinstance(provenance, str) and provenance == "auto"
    path = checkpoint.with_name("provenance.json") if automatic else Path(provenance)
    if not path.is_file():
        if automatic:
            return None, False
        raise PublishError(f"provenance {path}: no such file")
    record = read_json(path)
    if record is None:
        raise PublishError(f"cannot read the training record {path}: expected a JSON object")
    # The record found beside an epoch checkpoint describes best.ckpt: not an error, just not this one's.
    return record, not automatic


def _plan(checkpoint: Path, backbone: str | None, width: float | None):
    """The weights plan of ``checkpoint``, or None when its names are no layout its architecture maps.

    A file that is no checkpoint at all (truncated, corrupt, another format) raises WeightsError
    here, naming the user's file, before anything is copied into the hub.
    """
    try:
        return plan_weights(checkpoint, architecture=backbone, width=width)
    except GhostHubError:
        scan_weights(checkpoint)  # raises for a file that is no checkpoint; the header scan alone (no tensor read)
        return None  # no layout the architecture maps: the strict load of the staged copy says what does not fit


def _architecture(checkpoint: Path, plan, info: dict, backbone: str | None, width: float | None):
    """(architecture, width) to publish as: the caller's, else the checkpoint's record, else its names and shapes."""
    held = plan.architecture if plan is not None else None
    backbone = backbone or info.get("architecture") or info.get("backbone") or (held.family if held else None)
    families = width_families()
    example = f"{said('backbone', families[0])} {said('width', 0.5)}" if families else said("backbone", "NAME")
    if backbone is None:
        raise PublishError(
            f"{checkpoint} does not say which architecture it is (ghosthub train did not write it, and its names "
            f"are no registered family's): name it, e.g. {example}, or {said('backbone', 'resnet18')} for a "
            "MindCV network"
        )
    found = match(backbone)
    if found is not None and not found.takes_width:
        return backbone, None
    if width is None:
        width = info.get("width", held.width if held else None)
    if width is None and found is not None and found.width is not None:
        width = found.width
    if width is None:
        raise PublishError(
            f"{checkpoint} does not say which architecture it is (ghosthub train did not write it): "
            f"name its width, e.g. {example}"
            + (f" ({variant_name(found.name, 0.5)} weights need width 0.5)" if found is not None else "")
        )
    return backbone, width


def _read_staged(staged: Path, checkpoint: Path):
    """The staged copy's arrays and record (for an object store, the checkpoint's own).

    Its header was checked in the user's own file (:func:`_plan`); what can still fail is
    MindSpore's read of the tensors, or the file changed while it was copied.
    """
    try:
        return read_with_info(staged)
    except WeightsError as exc:
        what = "it" if staged == checkpoint else "its copy in the hub"
        raise PublishError(
            f"cannot publish {checkpoint}: {what} cannot be read as a checkpoint ({exc}). "
            "Check that the file is complete and not being written, then publish again."
        ) from None


def _mismatch_advice() -> str:
    """The last sentence of a publish's checkpoint mismatch: what publish, unlike a load, accepts."""
    return (
        f"publish needs a checkpoint that loads strictly into the named architecture: check {said('backbone')} and "
        f"{said('width')} against the checkpoint (ghosthub inspect FILE says what it holds)."
    )


def _build_checked(params, checkpoint: Path, backbone: str, width: float | None, options=None):
    """The network with the checkpoint strict-loaded: a mismatch raises before anything is written.

    ``params`` were read from the staged copy; errors name the user's ``checkpoint``.
    """
    # A converted model-zoo V2 records its bilinear gate: the network must have it too.
    return build_network(
        backbone, width, params=params, checkpoint_path=checkpoint, advice=_mismatch_advice(), **(options or {})
    )


def _matching_provenance(provenance, sha256: str, checkpoint: Path, strict: bool) -> Mapping[str, Any] | None:
    """The training record if it describes this very checkpoint (or does not say which it describes)."""
    recorded = str((provenance or {}).get("checkpoint_sha256") or "").lower()
    if not recorded or sha256.startswith(recorded):
        return provenance
    message = (
        f"the training record describes another checkpoint (SHA-256 {recorded[:16]}...) than "
        f"{checkpoint} ({sha256[:16]}...)"
    )
    if strict:
        raise PublishError(f"{message}: publish the checkpoint it describes, or pass the record of this one")
    warn(f"{message}; publishing without provenance, so `ghosthub rebuild` cannot check this asset", PublishWarning)
    return None


def _commit(root: Path, staged: Path, sha256: str, fmt: str, meta: dict, force: bool) -> PublishResult:
    name = meta["name"]
    asset_name = asset_file_name(name, sha256, fmt)
    asset_path = root / "assets" / asset_name
    card_path = root / "cards" / f"{name}.md"

    base_url = meta["base_url"]
    link = f"{base_url.rstrip('/')}/assets/{asset_name}" if base_url else f"../assets/{asset_name}"
    text = render_card(_make_card(meta, fmt, link, sha256))
    card = parse_card(text, path=card_path)  # what readers will see must be a valid card

    asset_there = asset_path.exists()
    if asset_there and file_hash(asset_path) != sha256 and not force:
        raise PublishError(f"{asset_path} exists with other content; pass {said('force', True)} to overwrite it")
    if card_path.exists() and not force:
        old = _read_card(card_path)
        if old is None or [(a.sha256.lower(), a.file_format) for a in old.assets] != [(sha256, fmt)]:
            raise PublishError(
                f"{card_path} already describes other weights; pass {said('force', True)} to replace it, "
                f"or publish under another name such as {name}.{sha256[:8]}"
            )
        # This very publication is there: done, unless its asset or index entry went missing.
        text, card = card_path.read_text(encoding="utf-8"), old
        if asset_there and _indexed(root, name, text, sha256):
            return PublishResult(name, card_path, asset_path, sha256, old, changed=False, metrics=old.metrics)

    index = read_index(root / INDEX)
    index["updated"] = utcnow()
    asset = {"path": f"assets/{asset_name}", "file-format": fmt, "sha256": sha256, "size": staged.stat().st_size}
    index["models"][name] = model_entry(card, hashlib.sha256(text.encode()).hexdigest(), [asset])
    txn = Transaction(root)
    try:
        if force or not asset_there:
            txn.stage(asset_path, tmp=staged)
        txn.stage(card_path, text.encode())
        stage_pages(txn, root, index, cards={name: text.encode()})  # with the index, never apart from it
        txn.stage(root / INDEX, index_bytes(index))
        txn.commit()
    finally:
        txn.discard()
    return PublishResult(name, card_path, asset_path, sha256, card, changed=True, metrics=dict(meta["metrics"]))


def _commit_store(store, staged: Path, sha256: str, fmt: str, meta: dict, force: bool, settings) -> PublishResult:
    """Upload the asset and the card into an object-store hub, then add the entry to its index by compare-and-swap."""
    from ..hub.commit import publish_model

    name = meta["name"]
    asset_name = asset_file_name(name, sha256, fmt)
    base_url = meta["base_url"]
    link = f"{base_url.rstrip('/')}/assets/{asset_name}" if base_url else f"../assets/{asset_name}"
    text = render_card(_make_card(meta, fmt, link, sha256))
    card = parse_card(text)  # what readers will see must be a valid card
    done = publish_model(
        store,
        name,
        (staged, sha256, fmt, f"assets/{asset_name}"),
        text,
        model_entry(
            card,
            hashlib.sha256(text.encode()).hexdigest(),
            [{"path": f"assets/{asset_name}", "file-format": fmt, "sha256": sha256, "size": staged.stat().st_size}],
        ),
        force=force,
        part_size=settings.part_size,
        threads=settings.connections or 10,
    )
    if not done.changed:  # this very asset was there under this name: report the card readers see
        body, _ = store.get(done.card)
        card = parse_card(body) if body else card
    return PublishResult(
        name,
        store.url(done.card),
        store.url(f"assets/{asset_name}"),
        sha256,
        card,
        changed=done.changed,
        metrics=card.metrics if not done.changed else dict(meta["metrics"]),
        retries=done.retries,
    )


def _indexed(root: Path, name: str, text: str, sha256: str) -> bool:
    """Whether index.json lists ``name`` with this card text and asset."""
    entry = read_index(root / INDEX)["models"].get(name) or {}
    assets = entry.get("assets") or [{}]
    return entry.get("card-sha256") == hashlib.sha256(text.encode()).hexdigest() and assets[0].get("sha256") == sha256


def _read_card(path: Path) -> ModelCard | None:
    try:
        return parse_card(path.read_bytes(), path=path)
    except CardError:
        return None


def _record_fields(info: Mapping[str, Any]) -> dict[str, Any]:
    """Card fields for what predict, eval and transforms() need, from a ghosthub checkpoint's record."""
    fields: dict[str, Any] = {}
    if info.get("num_classes"):
        fields["num-classes"] = str(info["num_classes"])
    if Preprocessing.in_record(info):
        fields.update(Preprocessing.from_record(info).card_fields())
    if info.get("classes"):
        fields["class-names"] = [str(c) for c in info["classes"]]
    return fields


def _make_card(args: dict, fmt: str, link: str, sha256: str) -> ModelCard:
    name = args["name"]
    metrics = args["metrics"] or {}
    evaluation = " | ".join(f"{k}acc{v:.2f}" for k, v in metrics.items()) or "-"
    fields: dict[str, Any] = {
        "model-name": name,
        "backbone-name": args["backbone"],
        "module-type": "cv",
        "fine-tunable": "True",
        "model-version": "1.0",
        "train-dataset": args["dataset"],
        "evaluation": evaluation,
        # Never the login name, nor a local path: a published card is read by others.
        "author": args["author"] or "-",
        "update-time": (args["today"] or _dt.date.today()).isoformat(),
        "repo-link": args["base_url"] or "-",
        # The hub's URL says nothing of what builds the network: say it (huggingface_hub's key).
        "library-name": "ghosthub",
        "user-id": args["user_id"] or args["author"] or "-",
        "used-for": "inference",
        "mindspore-version": _mindspore_version(),
        "asset": [{"file-format": fmt, "asset-link": link, "asset-sha256": sha256}],
        "license": args["license"],
        "summary": args["summary"] or f"{args['backbone']} trained on {args['dataset']}, published with ghosthub",
    }
    if args["width"] is not None:
        fields["width"] = f"{args['width']:g}"
    else:  # an architecture without a width is named by the card itself (backbone-name is a family's)
        fields["architecture"] = args["backbone"]
    if args.get("parameters"):
        fields["parameters"] = str(args["parameters"])  # trainable ones, as papers count them
    provenance = _public(args.get("provenance"))
    extra = {**args["preprocessing"], **provenance_fields(provenance), **args["extra_fields"]}
    fields.update({k: [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v) for k, v in extra.items()})
    notes = args["notes"] + provenance_block(name, provenance)
    return ModelCard(title=name, fields=fields, body=_body(name, fields, metrics, notes))


def _body(name: str, fields: Mapping[str, Any], metrics: Mapping[str, float], notes: str) -> str:
    top1 = f"{metrics['top1']:.2f}" if "top1" in metrics else "-"
    top5 = f"{metrics['top5']:.2f}" if "top5" in metrics else "-"
    width = fields.get("width", "-")
    link = fields["asset"][0]["asset-link"]
    text = f"""
# {name}

{fields["summary"]}.

## Results

| Model | Backbone | Width | Dataset | Top-1 (%) | Top-5 (%) | Download |
| ----- | -------- | ----- | ------- | --------- | --------- | -------- |
| {name} | {fields["backbone-name"]} | {width} | {fields["train-dataset"]} | {top1} | {top5} | [weights]({link}) |

## Quick Start

```python
import ghosthub

net = ghosthub.load("{name}", pretrained=True)
```

```shell
ghosthub download {name}
ghosthub predict {name} image.png --topk 5
```
"""
    return text + (f"\n{notes.strip()}\n" if notes.strip() else "")


def _mindspore_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return ".".join(version("mindspore").split(".")[:2])
    except PackageNotFoundError:
        return "-"


def _public(provenance: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The training record as a card shows it: a recipe given as a local file is named by its file name only."""
    if not provenance or not isinstance(provenance.get("recipe_source"), str):
        return provenance
    source = provenance["recipe_source"]
    if "/" in source or "\\" in source:
        return {**provenance, "recipe_source": source.replace("\\", "/").rsplit("/", 1)[-1]}
    return provenance
