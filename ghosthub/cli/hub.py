"""``ghosthub publish``, ``serve`` and ``fsck``: writing a hub folder, serving it, repairing it."""

from __future__ import annotations

import sys

from ._common import (
    EXIT_FAIL,
    EXIT_OK,
    add_command,
    hub_argument,
    input_file,
    port,
    positive,
    print_json,
    says_if_made,
    size,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_commands(command) -> None:
    p = add_command(
        command("publish"),
        "publish",
        _cmd_publish,
        "publish a checkpoint into a hub (a folder or s3://BUCKET/PREFIX): verified asset, card, index.json",
    )
    p.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        type=input_file("a .ckpt or .safetensors file"),
        help="a .ckpt or .safetensors file",
    )
    p.add_argument("--name", required=True, help="model name (letters, digits, '.', '_', '+', '-')")
    p.add_argument(
        "--hub",
        required=True,
        metavar="DIR|s3://BUCKET/PREFIX",
        type=hub_argument,
        help="the hub: a folder (created if missing) or an object-store prefix (pip install 'ghosthub[s3]')",
    )
    p.add_argument(
        "--single-writer",
        action="store_true",
        default=None,
        help="s3 hubs on stores without conditional writes: you promise no one else writes the hub meanwhile",
    )
    p.add_argument(
        "--backbone", help="architecture (default: the checkpoint's record, else what its names and shapes say)"
    )
    p.add_argument(
        "--width",
        type=positive("width multiplier", 10),
        help="width multiplier, e.g. 0.5 (default: the checkpoint's record)",
    )
    p.add_argument("--dataset", help="train-dataset of the card (default: the checkpoint's record)")
    p.add_argument(
        "--eval-dir", metavar="DIR", help="labelled ImageFolder whose top-1/top-5 become the card's evaluation"
    )
    p.add_argument(
        "--provenance",
        metavar="FILE",
        type=input_file("a training record (provenance.json)"),
        help="training record (default: provenance.json beside the checkpoint)",
    )
    p.add_argument("--base-url", metavar="URL", help="where the hub will be served: asset links become absolute")
    p.add_argument("--author", help="the card's author (default: the checkpoint's provenance, else '-')")
    p.add_argument("--license", default="Apache2.0", help="the card's license (default Apache2.0)")
    p.add_argument("--summary", help="the card's one-line summary")
    p.add_argument("--force", action="store_true", help="replace a different card or asset of the same name")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add_command(
        command("serve"), "serve", _cmd_serve, "serve a hub folder over HTTP (Range support), for local use and tests"
    )
    p.add_argument("directory", metavar="DIR", type=hub_argument, help="the hub folder (index.json, cards/, assets/)")
    p.add_argument("--port", type=port, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")

    p = add_command(
        command("fsck"),
        "fsck",
        _cmd_fsck,
        "check a hub: roll back a killed publish, remove what it left, rewrite its pages, report missing files "
        "and unfinished uploads",
    )
    p.add_argument(
        "directory", metavar="DIR|s3://BUCKET/PREFIX", type=hub_argument, help="the hub (index.json, cards/, assets/)"
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be removed, remove nothing")
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_publish(args: argparse.Namespace) -> int:
    from ..tasks.publish import publish

    with says_if_made(args.hub, "--hub"):
        result = publish(
            args.checkpoint,
            name=args.name,
            hub=args.hub,
            backbone=args.backbone,
            width=args.width,
            dataset=args.dataset,
            eval_dir=args.eval_dir,
            provenance=args.provenance or "auto",
            base_url=args.base_url,
            force=args.force,
            author=args.author,
            license=args.license,
            summary=args.summary,
            single_writer=args.single_writer,
        )
    if args.json:
        print_json(
            {
                "name": result.name,
                "card": str(result.card_path),
                "asset": str(result.asset_path),
                "sha256": result.sha256,
                "changed": result.changed,
                "retries": result.retries,
            }
        )
        return EXIT_OK
    state = "published" if result.changed else "already published (nothing changed)"
    print(f"{state}: {result.name}\n  card  {result.card_path}\n  asset {result.asset_path}\n  sha256 {result.sha256}")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..errors import HubError
    from ..hub.serve import serve

    try:
        server = serve(args.directory, port=args.port, host=args.host, quiet=False)
    except OSError as exc:  # e.g. the port is taken
        raise HubError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; choose another --port (0 picks a free "
            "one)"
        ) from None
    pages = f"; pages at {server.url}index.html" if (server.root / "index.html").is_file() else ""
    print(f"serving {server.root} at {server.url}{pages} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _cmd_fsck(args: argparse.Namespace) -> int:
    from ..hub.fsck import fsck

    report = fsck(args.directory, dry_run=args.dry_run)
    if args.json:
        print_json(
            {
                "recovered": report.recovered,
                "removed": [str(p) for p in report.removed],
                "freed": report.freed,
                "problems": report.problems,
                "superseded": list(report.superseded),
                "pages": list(report.pages),
                "dry_run": args.dry_run,
            }
        )
        return EXIT_OK if report.ok else EXIT_FAIL
    verb = "would remove" if args.dry_run else "removed"
    if report.recovered:
        print(f"{'would roll back' if args.dry_run else 'rolled back'} a publish killed while committing")
    for path in report.removed:
        print(f"{verb} {path}")
    if report.removed:
        print(f"{verb} {len(report.removed)} leftover file(s), {size(report.freed)}")
    if report.pages:
        print(f"{'would write' if args.dry_run else 'wrote'} {len(report.pages)} page(s) to match index.json")
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if report.superseded:
        print(
            f"kept {len(report.superseded)} older asset(s) of published models, for copies of their older cards: "
            + ", ".join(report.superseded)
        )
    if report.ok and not report.removed and not report.recovered and not report.pages:
        print(f"{args.directory}: clean")
    return EXIT_OK if report.ok else EXIT_FAIL
