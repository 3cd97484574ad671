"""``ghosthub publish``, ``serve`` and ``fsck``: writing a hub folder, serving it, repairing it."""

from __future__ import annotations

import sys

from ._common import EXIT_FAIL, EXIT_OK, add_command, port, print_json, size

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_commands(command) -> None:
    p = add_command(
        command("publish"),
        "publish",
        _cmd_publish,
        "publish a checkpoint into a hub folder: verified asset, card, index.json",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt or .safetensors file")
    p.add_argument("--name", required=True, help="model name (letters, digits, '.', '_', '+', '-')")
    p.add_argument("--hub", required=True, metavar="DIR", help="the hub folder (created if missing)")
    p.add_argument(
        "--backbone", help="architecture (default: the checkpoint's record, else what its names and shapes say)"
    )
    p.add_argument("--width", type=float, help="width multiplier, e.g. 0.5 (default: the checkpoint's record)")
    p.add_argument("--dataset", help="train-dataset of the card (default: the checkpoint's record)")
    p.add_argument(
        "--eval-dir", metavar="DIR", help="labelled ImageFolder whose top-1/top-5 become the card's evaluation"
    )
    p.add_argument(
        "--provenance", metavar="FILE", help="training record (default: provenance.json beside the checkpoint)"
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
    p.add_argument("directory", metavar="DIR", help="the hub folder (index.json, cards/, assets/)")
    p.add_argument("--port", type=port, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")

    p = add_command(
        command("fsck"),
        "fsck",
        _cmd_fsck,
        "check a hub folder: roll back a killed publish, remove its temporary files, report missing files",
    )
    p.add_argument("directory", metavar="DIR", help="the hub folder (index.json, cards/, assets/)")
    p.add_argument("--dry-run", action="store_true", help="show what would be removed, remove nothing")
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_publish(args: argparse.Namespace) -> int:
    from ..tasks.publish import publish

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
    )
    if args.eval_dir:
        print(
            f"evaluated on {args.eval_dir}: top-1 {result.metrics['top1']:.2f}%  top-5 {result.metrics['top5']:.2f}%",
            file=sys.stderr,
        )
    if args.json:
        print_json(
            {
                "name": result.name,
                "card": str(result.card_path),
                "asset": str(result.asset_path),
                "sha256": result.sha256,
                "changed": result.changed,
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
    print(f"serving {server.root} at {server.url} (Ctrl-C to stop)", flush=True)
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
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if report.superseded:
        print(
            f"kept {len(report.superseded)} older asset(s) of published models, for copies of their older cards: "
            + ", ".join(report.superseded)
        )
    if report.ok and not report.removed and not report.recovered:
        print(f"{args.directory}: clean")
    return EXIT_OK if report.ok else EXIT_FAIL
