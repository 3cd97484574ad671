"""``ghosthub list`` and ``ghosthub show``: what the registry holds."""

from __future__ import annotations

import json
import sys

from ..modelcard.library import library_of
from ._common import EXIT_OK, EXIT_USAGE, add_command, cards_options, cell, client, print_json, print_table

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def add_commands(command) -> None:
    cards = cards_options()
    p = add_command(command("list"), "list", _cmd_list, "list the models of the registry", parents=[cards])
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern on the name, e.g. 'ghostnet_*'")
    p.add_argument("--backbone", help="only this backbone-name (pattern)")
    p.add_argument("--dataset", help="only this train-dataset (pattern)")
    p.add_argument("--format", dest="file_format", help="only cards with an asset of this file-format")
    p.add_argument("--base-model", help="only models fine-tuned from this base-model (pattern)")
    p.add_argument("--library", help="only cards this library builds (pattern): mindcv, ghosthub, mindocr, ...")
    p.add_argument("--buildable", action="store_true", help="only models whose network can be built here")
    p.add_argument("--sort", default="name", help="sort by 'name' or a metric such as top1 or top5 (best first)")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="warn of every card shadowed, repaired or skipped (by default, more than three of a kind are one line)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add_command(command("show"), "show", _cmd_show, "show one model card", parents=[cards])
    p.add_argument("name", help="model name")
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_list(args: argparse.Namespace) -> int:
    from ..architectures import availability, using_cache

    session = client(args)
    reg = session.registry
    if args.verbose:
        _warn_each_notice(reg)
    lineage = {"base_model": args.base_model} if args.base_model else {}  # a key no card may have yet
    filters = dict(
        backbone=args.backbone, dataset=args.dataset, file_format=args.file_format, library=args.library, **lineage
    )
    entries = reg.select(args.pattern, **filters)
    if args.sort != "name":
        known = sorted({m for e in entries for m in e.metrics})
        if entries and args.sort not in known:
            print(
                f"error: --sort {args.sort!r}: no listed card has that metric; use 'name' or one of: "
                f"{', '.join(known) or 'none'}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        entries.sort(key=lambda e: -e.metrics.get(args.sort, float("-inf")))
    with using_cache(reg.settings.cache_dir):
        builds = [availability(e) for e in entries]
    if args.buildable:
        entries, builds = [e for e, b in zip(entries, builds) if b.buildable], [b for b in builds if b.buildable]
    rows = [{**_entry_summary(e), **_build_summary(b)} for e, b in zip(entries, builds)]
    assets_dir = reg.settings.cache_dir / "assets"
    exists = assets_dir.is_dir()  # no cache yet: nothing is cached, and nothing need be looked at
    for row, entry in zip(rows, entries):
        row["cached"] = exists and _is_cached(entry, session.cache)
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print(_no_match(reg, args.pattern, filters), file=sys.stderr)
        return EXIT_OK
    columns = [
        ("NAME", "name"),
        ("BACKBONE", "backbone"),
        ("LIBRARY", "library"),
        ("DATASET", "dataset"),
        ("TOP-1", "top1"),
        ("TOP-5", "top5"),
        ("FORMAT", "format"),
        ("SHA256", "sha8"),
        ("BUILD", "build"),
    ]
    columns.append(("CACHED", "cached"))  # always: a new user learns the column before the first download
    for row in rows:
        row["sha8"] = (row["sha256"] or "")[:8] or None
        row["cached"] = "yes" if row["cached"] else "no"
    print_table([[cell(row[key]) for _, key in columns] for row in rows], [title for title, _ in columns])
    return EXIT_OK


def _warn_each_notice(reg) -> None:
    """Every card the scan shadowed, repaired or skipped, one warning each, instead of a line per kind."""
    import warnings

    from ..errors import CardWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CardWarning)
        reg.entries  # noqa: B018 - the scan, its folded warnings silenced
    for notice in reg.notices:
        warnings.warn(notice.message, CardWarning, stacklevel=1)


_FILTER_FLAGS = {
    "backbone": "--backbone",
    "dataset": "--dataset",
    "file_format": "--format",
    "library": "--library",
    "base_model": "--base-model",
}


def _no_match(reg, pattern: str, filters: dict) -> str:
    """Why nothing is listed, with the names closest to ``pattern`` that the filters let through."""
    chosen = {_FILTER_FLAGS[key]: value for key, value in filters.items() if value is not None}
    said = f"no models match {pattern!r}" if pattern != "*" else "no models match"
    if chosen:
        said += " with " + ", ".join(f"{flag} {value}" for flag, value in chosen.items())
    literal = pattern.translate(str.maketrans("", "", "*?[]"))
    close = [name for name in reg.suggest(literal) if reg.select(name, **filters)] if literal else []
    return said + (f"; did you mean {', '.join(close)}?" if close else "")


def _build_summary(found) -> dict[str, Any]:
    """Whether the network can be built here (ghosthub.architectures.availability), for the table and JSON."""
    build = "yes" if found.buildable else "?" if found.buildable is None else found.reason
    return {"buildable": found.buildable, "architecture": found.architecture, "build": build}


def _is_cached(entry, store) -> bool:
    from ..errors import CardError

    try:
        return store.vouched(entry) is not None
    except CardError:  # no weights asset
        return False


def _entry_summary(entry) -> dict[str, Any]:
    metrics = entry.metrics
    assets = entry.assets  # built afresh on each access: once per card, for every `list`
    return {
        "name": entry.name,
        "backbone": entry.backbone,
        "library": library_of(entry),
        "dataset": entry.dataset,
        "top1": metrics.get("top1"),
        "top5": metrics.get("top5"),
        "format": ",".join(a.file_format for a in assets) or None,
        "sha256": assets[0].sha256 if assets else None,
        "path": entry.file,
    }


def _lineage(registry, card) -> list[dict[str, Any]]:
    """The chain of base models a card names (``base-model``), nearest first, each with whether the
    registry's card of that name still publishes the recorded weights."""
    chain: list[dict[str, Any]] = []
    current, seen = card, {card.name}
    while current is not None and current.get("base-model"):
        name, digest = str(current.get("base-model")), str(current.get("base-model-sha256") or "")
        entry = registry.entries.get(name)
        digests = {(a.sha256 or "").lower() for a in entry.assets} if entry is not None else set()
        status = (
            "not in the registry"
            if entry is None
            else "published"
            if digest.lower() in digests
            else "the card now has other weights"
        )
        chain.append({"name": name, "sha256": digest or None, "status": status})
        if entry is None or name in seen:
            break
        seen.add(name)
        current = entry
    return chain


def _cmd_show(args: argparse.Namespace) -> int:
    session = client(args)
    card = session.get_card(args.name)
    lineage = _lineage(session.registry, card)
    data = {
        "name": card.name,
        "title": card.title,
        "path": str(card.path),
        "fields": card.fields,
        "library": library_of(card),
        "metrics": card.metrics,
        "assets": [{"file-format": a.file_format, "asset-link": a.link, "asset-sha256": a.sha256} for a in card.assets],
        "lineage": lineage,
    }
    if args.json:
        print_json(data)
        return EXIT_OK
    width = max(len(k) for k in card.fields) + 1
    print(f"{card.name}  ({card.path})")
    for key, value in card.fields.items():
        if key == "asset":
            continue
        print(f"  {key + ':':<{width}} {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
    print(f"  {'library:':<{width}} {data['library'] or '- (the card names none)'}")
    if card.metrics:
        print("  metrics:" + "".join(f" {k}={v:g}" for k, v in card.metrics.items()))
    for i, asset in enumerate(card.assets, 1):
        print(f"  asset {i}: {asset.file_format}  sha256 {asset.sha256}\n    {asset.link}")
    if lineage:
        print("  fine-tuned from: " + " <- ".join([card.name] + [b["name"] for b in lineage]))
        for base in lineage:
            print(f"    {base['name']}  sha256 {base['sha256'] or '?'}  ({base['status']})")
    return EXIT_OK
