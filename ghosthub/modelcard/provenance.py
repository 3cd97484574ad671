"""The training record a published card carries: digests in the front-matter, the whole record in the body.

``ghosthub publish`` writes it; ``ghosthub rebuild`` reads it back to retrain
and compare digests. The front-matter copies of the digests guard the body's record:
a card whose two disagree was altered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import CardError, shorten
from .model import ModelCard

__all__ = ["PROVENANCE_FIELDS", "provenance_block", "provenance_fields", "read_provenance"]


# Provenance recorded in the front-matter: card field -> provenance key.
PROVENANCE_FIELDS = {
    "train-recipe-sha256": "recipe_digest",
    "train-data-sha256": "dataset_digest",
    "train-seed": "seed",
    "train-threads": "threads",
    "ghosthub-version": "ghosthub_version",
    "mindspore-build": "mindspore_version",
    "train-cpu-isa": "cpu_isa",
    # Lineage of a fine-tuned model: what it was trained from, pinned by the full digest.
    "base-model": "base_model",
    "base-model-sha256": "base_sha256",
}
_PROVENANCE_HEADING = "## Provenance"


def provenance_fields(provenance: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        field: str(provenance[key])
        for field, key in PROVENANCE_FIELDS.items()
        if provenance and provenance.get(key) is not None
    }


def provenance_block(name: str, provenance: Mapping[str, Any] | None) -> str:
    if not provenance:
        return ""
    record = json.dumps(dict(provenance), indent=2, sort_keys=True, ensure_ascii=False)
    return (
        f"\n{_PROVENANCE_HEADING}\n\nTrained with `ghosthub train`; the record below lets anyone retrain it and "
        f"compare digests: `ghosthub rebuild {name}`.\n\n```json\n{record}\n```\n"
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
        raise CardError("the provenance section does not hold a JSON record", path=card.path or card.name)
    for field, key in PROVENANCE_FIELDS.items():
        if card.get(field) is not None and str(record.get(key)) != card.get(field):
            raise CardError(
                f"the provenance record says {key}={shorten(record.get(key), 80, quoted=True)}, but the front-matter "
                f"says {field}: {shorten(card.get(field), 80)}; the card was altered",
                path=card.path or card.name,
                line=card.lines.get(field),
                field=field,
            )
    return record
