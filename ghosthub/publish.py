"""Publishing: a checkpoint becomes a verified asset, a card in the seed's format, and a hub index entry."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import getpass
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from . import hub as hubs
from ._version import __version__
from .card import ModelCard, is_safe_name, parse_card, render_card
from .hashes import file_hash

__all__ = ["publish", "read_provenance", "PublishResult", "PublishError", "PublishWarning", "PROVENANCE_FIELDS"]

_FORMATS = {".ckpt": "ckpt", ".safetensors": "safetensors"}
_CHUNK = 1 << 20


class PublishError(hubs.HubError):
    """A publish refused: unsafe name, unknown format, or an existing different card or asset."""


class PublishWarning(UserWarning):
    """Something publish left out, such as a training record of another checkpoint."""


@dataclasses.dataclass(frozen=True)
class PublishResult:
    """What :func:`publish` wrote (or found already there)."""

    name: str
    card_path: Path
    asset_path: Path
    sha256: str
    card: ModelCard
    changed: bool


def publish(
    checkpoint: str | os.PathLike,
    *,
    name: str,
    hub: str | os.PathLike,
    backbone: str | None = None,
    width: float | None = None,
    dataset: str | None = None,
    metrics: Mapping[str, float] | None = None,
    provenance: Mapping[str, Any] | None = None,
    provenance_strict: bool = True,
    base_url: str | None = None,
    force: bool = False,
    extra_fields: Mapping[str, Any] | None = None,
    notes: str = "",
    author: str | None = None,
    user_id: str | None = None,
    license: str = "Apache2.0",
    summary: str | None = None,
    today: _dt.date | None = None,
) -> PublishResult:
    """Publish a checkpoint into a hub folder: asset, card, index.json.

    The checkpoint is copied into ``assets/<name>-<first 8 hex>.<ext>`` while
    its SHA-256 is computed, strict-loaded into the named architecture (a
    mismatch is refused), then a card in the seed's format (full 64-digit
    asset-sha256) is written to ``cards/<name>.md``, parsed back to validate
    it, and ``index.json`` is updated. A different existing card or asset is
    never overwritten without ``force``; an interrupted publish leaves the hub
    as it was.

    Parameters
    ----------
    checkpoint : a ``.ckpt`` or ``.safetensors`` file.
    name : the model name (a safe name; ``<model>.<tag>`` for extra weights).
    hub : the hub folder (created if missing).
    backbone, width : the architecture the checkpoint must load into strictly;
        by default what a checkpoint written by ``ghosthub train`` records.
    dataset : the card's train-dataset (default: the checkpoint's record, else "-").
    metrics : figures for ``evaluation`` (``{"top1": 97.5, "top5": 99.9}``).
    provenance : what ``ghosthub train`` recorded (``provenance.json``): its digests,
        seed and versions go into the front-matter and the whole record into the
        body, so ``ghosthub verify --rebuild`` can retrain and compare. A record of
        another checkpoint (its ``checkpoint_sha256`` differs) is refused.
    provenance_strict : False drops a record of another checkpoint with a warning
        instead (the command line's default ``provenance.json`` found beside an
        epoch checkpoint describes ``best.ckpt``).
    base_url : where the hub will be served; asset links become absolute
        (``<base_url>/assets/...``) instead of relative to the card.
    extra_fields : more front-matter (provenance, preprocessing), kept as written.
    notes : Markdown appended to the card body (e.g. the training recipe).

    Returns
    -------
    PublishResult
        ``changed`` is False when the hub already held this very publication.

    Examples
    --------
    >>> publish("out/best.ckpt", name="digits_ghostnet", hub="hub", width=0.5, dataset="digits")  # doctest: +SKIP
    """
    checkpoint = Path(checkpoint)
    if not is_safe_name(name):
        raise PublishError(f"cannot publish as {name!r}: not a safe model name (letters, digits, '.', '_', '+', '-')")
    if hubs.is_url(str(hub)):
        raise PublishError(f"publish writes into a hub folder, not a URL ({hub}); publish locally, then upload the folder")
    fmt = _FORMATS.get(checkpoint.suffix.lower())
    if fmt is None:
        raise PublishError(f"cannot publish {checkpoint}: expected a .ckpt or .safetensors file")
    if not checkpoint.is_file():
        raise PublishError(f"cannot publish {checkpoint}: no such file")
    info = _checkpoint_info(checkpoint) if fmt == "ckpt" else {}
    backbone = backbone or info.get("backbone") or "ghostnet"
    width = width if width is not None else info.get("width")
    if width is None:
        raise PublishError(
            f"{checkpoint} does not say which architecture it is (ghosthub train did not write it): "
            "name its width, e.g. --backbone ghostnet --width 0.5"
        )
    root = Path(hub)
    (root / "assets").mkdir(parents=True, exist_ok=True)
    (root / "cards").mkdir(parents=True, exist_ok=True)
    meta = dict(
        name=name, backbone=backbone, width=width, dataset=dataset or info.get("dataset") or "-",
        metrics=dict(metrics or {}), base_url=base_url, preprocessing=_preprocessing_fields(info),
        extra_fields=dict(extra_fields or {}), notes=notes, author=author, user_id=user_id, license=license,
        summary=summary, today=today,
    )

    from .lock import FileLock

    with FileLock(root / ".publish.lock"):
        hubs.recover(root)
        # One pass over the checkpoint: copy it into the hub while hashing.
        staged, sha256 = _stage_copy(checkpoint, root / "assets" / f"{name}.incoming")
        try:
            _check_loads(staged, checkpoint, backbone, width)
            meta["provenance"] = _matching_provenance(provenance, sha256, checkpoint, provenance_strict)
            return _commit(root, staged, sha256, fmt, meta, force)
        finally:
            staged.unlink(missing_ok=True)


def _matching_provenance(provenance, sha256: str, checkpoint: Path, strict: bool) -> Mapping[str, Any] | None:
    """The training record if it describes this very checkpoint (or does not say which it describes)."""
    recorded = str((provenance or {}).get("checkpoint_sha256") or "").lower()
    if not recorded or sha256.startswith(recorded):
        return provenance
    message = (f"the training record describes another checkpoint (SHA-256 {recorded[:16]}...) than "
               f"{checkpoint} ({sha256[:16]}...)")
    if strict:
        raise PublishError(f"{message}: publish the checkpoint it describes, or pass the record of this one")
    import warnings

    warnings.warn(f"{message}; publishing without provenance, so `verify --rebuild` cannot check this asset",
                  PublishWarning, stacklevel=3)
    return None


def _commit(root: Path, staged: Path, sha256: str, fmt: str, meta: dict, force: bool) -> PublishResult:
    name = meta["name"]
    asset_name = f"{name}-{sha256[:8]}.{fmt}"
    asset_path = root / "assets" / asset_name
    card_path = root / "cards" / f"{name}.md"

    base_url = meta["base_url"]
    link = f"{base_url.rstrip('/')}/assets/{asset_name}" if base_url else f"../assets/{asset_name}"
    text = render_card(_make_card(meta, fmt, link, sha256))
    card = parse_card(text, path=card_path)  # what readers will see must be a valid card

    asset_there = asset_path.exists()
    if asset_there and file_hash(asset_path) != sha256 and not force:
        raise PublishError(f"{asset_path} exists with other content; pass --force to overwrite it")
    if card_path.exists() and not force:
        old = _read_card(card_path)
        if old is None or [(a.sha256.lower(), a.file_format) for a in old.assets] != [(sha256, fmt)]:
            raise PublishError(
                f"{card_path} already describes other weights; pass --force to replace it, "
                f"or publish under another name such as {name}.{sha256[:8]}"
            )
        # This very publication is there: done, unless its asset or index entry went missing.
        text, card = card_path.read_text(encoding="utf-8"), old
        if asset_there and _indexed(root, name, text, sha256):
            return PublishResult(name, card_path, asset_path, sha256, old, changed=False)

    index = hubs.read_index(root / hubs.INDEX)
    index["updated"] = hubs.now()
    index["models"][name] = {
        "card": f"cards/{name}.md",
        "card-sha256": hashlib.sha256(text.encode()).hexdigest(),
        "backbone": card.backbone,
        "dataset": card.dataset,
        "metrics": card.metrics,
        "assets": [{"path": f"assets/{asset_name}", "file-format": fmt, "sha256": sha256, "size": staged.stat().st_size}],
    }
    txn = hubs.Transaction(root)
    try:
        if force or not asset_there:
            txn.stage(asset_path, tmp=staged)
        txn.stage(card_path, text.encode())
        txn.stage(root / hubs.INDEX, hubs.index_bytes(index))
        txn.commit()
    finally:
        txn.discard()
    return PublishResult(name, card_path, asset_path, sha256, card, changed=True)


def _indexed(root: Path, name: str, text: str, sha256: str) -> bool:
    """Whether index.json lists ``name`` with this card text and asset."""
    entry = hubs.read_index(root / hubs.INDEX)["models"].get(name) or {}
    assets = entry.get("assets") or [{}]
    return entry.get("card-sha256") == hashlib.sha256(text.encode()).hexdigest() and assets[0].get("sha256") == sha256


def _read_card(path: Path) -> ModelCard | None:
    from .card import CardError

    try:
        return parse_card(path.read_bytes(), path=path)
    except CardError:
        return None


def _stage_copy(src: Path, final: Path) -> tuple[Path, str]:
    """Copy ``src`` to a temporary file beside ``final`` while hashing it: (temporary file, SHA-256)."""
    digest = hashlib.sha256()
    with open(src, "rb") as fin, hubs.staged_file(final) as (tmp, fout):
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
    return tmp, digest.hexdigest()


def _check_loads(staged: Path, checkpoint: Path, backbone: str, width: float | None) -> None:
    """Strict-load the staged copy into the architecture: a mismatch raises before anything is written.

    Errors name the user's ``checkpoint``, not the temporary copy, and say what publish accepts.
    """
    import gc

    from .errors import GhostHubError
    from .weights import build_network

    try:
        net = build_network(backbone, width, checkpoint_path=staged)
    except GhostHubError as exc:  # same error type, told in the user's terms
        message = str(exc).replace(str(staged), str(checkpoint))
        message = message.replace(", or pass strict=False to load only the matching part.", ".")
        exc.args = (f"{message}\npublish needs a checkpoint that loads strictly into the named "
                    "architecture (command line: --backbone and --width).",)
        raise exc from None
    del net
    gc.collect()


def _checkpoint_info(checkpoint: Path) -> dict:
    from .checkpoint import read_info

    return read_info(checkpoint) or {}


def _preprocessing_fields(info: Mapping[str, Any]) -> dict[str, Any]:
    """Card fields for what predict, eval and transforms() need, from a ghosthub checkpoint's record."""
    fields: dict[str, Any] = {}
    if info.get("num_classes"):
        fields["num-classes"] = str(info["num_classes"])
    if info.get("input_size"):
        fields["input-size"] = str(info["input_size"][-1])
    if info.get("crop_pct"):
        fields["crop-pct"] = f"{info['crop_pct']:g}"
    if info.get("interpolation"):
        fields["interpolation"] = info["interpolation"]
    for key in ("mean", "std"):
        if info.get(key):
            fields[key] = ", ".join(f"{v:g}" for v in info[key])
    if info.get("classes"):
        fields["class-names"] = [str(c) for c in info["classes"]]
    return fields


# Provenance recorded in the front-matter: card field -> provenance key.
PROVENANCE_FIELDS = {
    "train-recipe-sha256": "recipe_digest",
    "train-data-sha256": "dataset_digest",
    "train-seed": "seed",
    "train-threads": "threads",
    "ghosthub-version": "ghosthub_version",
    "mindspore-build": "mindspore_version",
}
_PROVENANCE_HEADING = "## Provenance"


def _provenance_fields(provenance: Mapping[str, Any] | None) -> dict[str, str]:
    return {field: str(provenance[key]) for field, key in PROVENANCE_FIELDS.items() if provenance and provenance.get(key) is not None}


def _provenance_block(name: str, provenance: Mapping[str, Any] | None) -> str:
    if not provenance:
        return ""
    record = json.dumps(dict(provenance), indent=2, sort_keys=True, ensure_ascii=False)
    return (
        f"\n{_PROVENANCE_HEADING}\n\nTrained with `ghosthub train`; the record below lets anyone retrain it and "
        f"compare digests: `ghosthub verify --rebuild {name}`.\n\n```json\n{record}\n```\n"
    )


def read_provenance(card: ModelCard) -> dict | None:
    """The training record a published card carries, or None; checked against its front-matter digests.

    Raises
    ------
    PublishError
        The record is unreadable, or its digests differ from the card's front-matter.
    """
    _, found, rest = card.body.partition(f"\n{_PROVENANCE_HEADING}\n")
    if not found:
        return None
    start = rest.find("```json\n")
    end = rest.find("\n```", start + 8)
    try:
        record = json.loads(rest[start + 8 : end]) if start >= 0 and end > start else None
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise PublishError(f"{card.path or card.name}: the provenance section does not hold a JSON record")
    for field, key in PROVENANCE_FIELDS.items():
        if card.get(field) is not None and str(record.get(key)) != card.get(field):
            raise PublishError(
                f"{card.path or card.name}: the provenance record says {key}={record.get(key)!r}, "
                f"but the front-matter says {field}: {card.get(field)}; the card was altered"
            )
    return record


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
        "author": args["author"] or _user(),
        "update-time": (args["today"] or _dt.date.today()).isoformat(),
        "repo-link": args["base_url"] or "-",
        "user-id": args["user_id"] or _user(),
        "used-for": "inference",
        "mindspore-version": _mindspore_version(),
        "asset": [{"file-format": fmt, "asset-link": link, "asset-sha256": sha256}],
        "license": args["license"],
        "summary": args["summary"] or f"{args['backbone']} trained on {args['dataset']}, published with ghosthub",
    }
    if args["width"] is not None:
        fields["width"] = f"{args['width']:g}"
    provenance = args.get("provenance")
    extra = {**args["preprocessing"], **_provenance_fields(provenance), **args["extra_fields"]}
    fields.update({k: [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v) for k, v in extra.items()})
    notes = args["notes"] + _provenance_block(name, provenance)
    return ModelCard(title=name, fields=fields, body=_body(name, fields, metrics, notes))


def _body(name: str, fields: Mapping[str, Any], metrics: Mapping[str, float], notes: str) -> str:
    top1 = f"{metrics['top1']:.2f}" if "top1" in metrics else "-"
    top5 = f"{metrics['top5']:.2f}" if "top5" in metrics else "-"
    width = fields.get("width", "-")
    text = f"""
# {name}

{fields['summary']}.

## Results

| Model | Backbone | Width | Dataset | Top-1 (%) | Top-5 (%) | Download |
| ----- | -------- | ----- | ------- | --------- | --------- | -------- |
| {name} | {fields['backbone-name']} | {width} | {fields['train-dataset']} | {top1} | {top5} | [weights]({fields['asset'][0]['asset-link']}) |

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


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "ghosthub"
