"""``ghosthub mirror``: copy cards and verified assets into a hub folder, or check one."""

from __future__ import annotations

import sys

from ._common import (
    EXIT_FAIL,
    EXIT_OK,
    add_command,
    cache_options,
    client,
    hub_argument,
    print_json,
    says_if_made,
    transfer_options,
    usage_error,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_commands(command) -> None:
    p = add_command(
        command("mirror"), "mirror", _cmd_mirror,
        "copy models (cards and verified assets) into a hub folder any static server can serve; --check verifies one",
        parents=[cache_options(), transfer_options()],
    )  # fmt: skip
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="model names or patterns such as 'ghostnet_*'")
    p.add_argument(
        "--to", metavar="DIR|s3://BUCKET/PREFIX", type=hub_argument, help="the mirror (a folder is created if missing)"
    )
    p.add_argument(
        "--hub",
        metavar="URL|DIR|s3://BUCKET/PREFIX",
        type=hub_argument,
        help="copy from this hub only (default: every card source, bundled included)",
    )
    p.add_argument("--base-url", metavar="URL", help="where the mirror will be served: asset links become absolute")
    p.add_argument("--dry-run", action="store_true", help="say what would be copied; change nothing")
    p.add_argument(
        "--prune",
        action="store_true",
        help="with --hub: also remove mirrored models matching PATTERN that the hub no longer has",
    )
    p.add_argument("--check", metavar="DIR", help="verify a mirror: every asset's digest, every link")
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_mirror(args: argparse.Namespace) -> int:
    if args.check:
        from ..hub.mirror import check_mirror

        problems = check_mirror(args.check)
        if args.json:
            print_json({"mirror": args.check, "ok": not problems, "problems": problems})
        else:
            for problem in problems:
                print(problem)
            print(f"{args.check}: {'sound' if not problems else f'{len(problems)} problem(s)'}", file=sys.stderr)
        return EXIT_FAIL if problems else EXIT_OK
    if not args.to or not args.patterns:
        return usage_error("mirror: give PATTERN... and --to DIR (or --check DIR)")
    if args.prune and not args.hub:
        return usage_error(
            "mirror --prune: name the hub to follow with --hub (models of other sources would look gone)"
        )
    session = client(argparse_ns(args))
    with says_if_made(None if args.dry_run else args.to, "--to"):
        items = session.mirror(
            args.patterns, args.to, hub=args.hub, base_url=args.base_url, dry_run=args.dry_run, prune=args.prune
        )
    if args.json:
        print_json({"mirror": args.to, "dry_run": args.dry_run, "models": [i.as_dict() for i in items]})
        return EXIT_OK
    fetch, remove = ("would fetch", "would remove") if args.dry_run else ("fetched", "removed")
    for item in items:
        if item.state == "removed":  # gone from the hub
            print(f"{item.name:32s} {item.state:9s} {remove} its card and {len(item.removed)} asset(s)")
            continue
        gone = f", {remove} {len(item.removed)} it no longer links" if item.removed else ""
        print(f"{item.name:32s} {item.state:9s} {fetch} {len(item.fetched)}, kept {len(item.kept)}{gone}")
    return EXIT_OK


def argparse_ns(args):
    """The Client's arguments: --hub here names the source to copy, not an extra card source."""
    import argparse

    return argparse.Namespace(cache_dir=args.cache_dir, connections=args.connections)
