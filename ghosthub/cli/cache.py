"""``ghosthub download``, ``ghosthub verify`` and ``ghosthub cache``: the verified files on this machine."""

from __future__ import annotations

import sys

from ._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    add_command,
    add_rebuild_options,
    cache_options,
    cards_options,
    client,
    print_json,
    print_table,
    size,
    transfer_options,
    usage,
    usage_error,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_commands(command) -> None:
    cards, cache_dir = cards_options(), cache_options()
    p = add_command(
        command("download"),
        "download",
        _cmd_download,
        "download models' weights into the cache, verified",
        parents=[cards, cache_dir, transfer_options()],
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="model name")
    p.add_argument("--force", action="store_true", help="download again even when a verified copy is cached")
    p.add_argument(
        "--offline", action="store_true", default=None, help="never touch the network (like GHOSTHUB_OFFLINE=1)"
    )
    p.add_argument(
        "--format", dest="file_format", help="the asset of this file-format (default: the first ckpt/safetensors)"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bar")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add_command(
        command("verify"),
        "verify",
        _cmd_verify,
        "re-hash cached assets against their cards, check card files, or check one file",
        parents=[cards, cache_dir],
        epilog="Exit status 1 when a cached file does not match its card (MISMATCH), 0 when every cached file "
        "does. A model with nothing cached is listed as NOT CACHED and is no failure, for NAME and --all alike "
        "(as `hf cache verify`), unless --fail-on-missing. With --cards DIR and no NAME or --all, every card in DIR "
        "is checked instead.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="model name")
    p.add_argument("--all", action="store_true", help="every model of the registry")
    p.add_argument(
        "--fail-on-missing", action="store_true", help="a model with nothing cached (NOT CACHED) fails too (exit 1)"
    )
    p.add_argument("--file", metavar="PATH", help="check this file against --sha256")
    p.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of --file (8 to 64 hex digits, a prefix)")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="retrain NAME from the recipe its card records and compare digests (same as `ghosthub rebuild NAME`)",
    )
    add_rebuild_options(p, prefix="with --rebuild: ")
    p.add_argument("--json", action="store_true", help="print JSON")

    cache_cmd = add_command(command("cache"), "cache", None, "list and clean the download cache")
    cache_cmd.set_defaults(func=lambda args: usage(cache_cmd))
    actions = cache_cmd.add_subparsers(title="actions", metavar="ACTION")
    q = add_command(actions, "ls", _cmd_cache_ls, "list cached assets: name, size, when verified", parents=[cache_dir])
    q.add_argument("--json", action="store_true", help="print JSON")
    q = add_command(actions, "rm", _cmd_cache_rm, "remove everything cached for models", parents=[cache_dir])
    q.add_argument("names", nargs="+", metavar="NAME", help="model name")
    q = add_command(
        actions,
        "prune",
        _cmd_cache_prune,
        "remove leftover partial downloads and files no card refers to",
        parents=[cards, cache_dir],
    )
    q.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    q = add_command(
        actions,
        "clear",
        _cmd_cache_clear,
        "remove everything ghosthub keeps in its cache folder: assets, card index, hub copies, compiled networks",
        parents=[cache_dir],
    )
    q.add_argument("--yes", "-y", action="store_true", help="do not ask (required when not on a terminal)")
    q.add_argument("--dry-run", action="store_true", help="only print what would be removed")


# ---------------------------------------------------------------------------- download


def _cmd_download(args: argparse.Namespace) -> int:
    from ..errors import GhostHubError

    session = client(args)
    rows, failed = [], 0
    for name in args.names:
        try:
            path = session.download(
                name, force_download=args.force, progress=args.progress, file_format=args.file_format
            )
        except GhostHubError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            rows.append({"name": name, "path": None, "error": str(exc)})
            continue
        rows.append({"name": name, "path": str(path)})
        if not args.json:
            print(path)
    if args.json:
        print_json(rows)
    return EXIT_FAIL if failed else EXIT_OK


# ---------------------------------------------------------------------------- verify


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.rebuild:
        if len(args.names) != 1 or args.all or args.file:
            return usage_error("verify --rebuild: give exactly one NAME")
        return _verify_rebuild(args)
    if args.file or args.sha256:
        if not (args.file and args.sha256) or args.names or args.all:
            return usage_error("verify: --file PATH and --sha256 HEX go together, without NAME or --all")
        return _verify_file(args)
    if args.names or args.all:
        return _verify_assets(args)
    if args.cards:
        return _verify_cards(args)
    return usage_error("verify: give NAME..., --all, --cards DIR, or --file PATH --sha256 HEX")


def _verify_rebuild(args: argparse.Namespace) -> int:
    from .train import cmd_rebuild

    args.name = args.names[0]
    return cmd_rebuild(args)


def _verify_file(args: argparse.Namespace) -> int:
    from .._utils.hashes import file_hash, hash_matches, normalize_digest

    try:
        expected = normalize_digest(args.sha256)
    except ValueError as exc:
        return usage_error(f"verify: --sha256: {exc}")
    try:
        actual = file_hash(args.file)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    status = "OK" if hash_matches(expected, actual) else "MISMATCH"
    if args.json:
        print_json({"path": args.file, "status": status, "expected": expected, "actual": actual})
    else:
        print(f"{status:<10} {args.file}  expected {expected}  actual {actual}")
    return EXIT_OK if status == "OK" else EXIT_FAIL


def _verify_assets(args: argparse.Namespace) -> int:
    from ..errors import GhostHubError

    session = client(args)
    names = args.names or session.list_models()
    rows, failed = [], 0
    for name in names:
        try:
            results = session.verify(name)
        except GhostHubError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        for result in results:
            if result.status == "MISMATCH" or (result.status == "NOT CACHED" and args.fail_on_missing):
                failed += 1
            rows.append(
                {
                    "name": result.name,
                    "status": result.status,
                    "expected": result.expected,
                    "actual": result.actual,
                    "path": str(result.path),
                }
            )
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            actual = f"  actual {row['actual']}" if row["actual"] else ""
            print(f"{row['status']:<10} {row['name']}  {row['path']}  expected {row['expected']}{actual}")
        counts = {status: sum(row["status"] == status for row in rows) for status in ("OK", "MISMATCH", "NOT CACHED")}
        print(", ".join(f"{n} {status}" for status, n in counts.items()), file=sys.stderr)
    return EXIT_FAIL if failed else EXIT_OK


def _verify_cards(args: argparse.Namespace) -> int:
    from ..modelcard import check_card_files

    problems = []
    for folder in args.cards:
        problems += check_card_files(folder)
    if args.json:
        print_json([{"path": p.path, "line": p.line, "field": p.field, "message": str(p)} for p in problems])
    else:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {', '.join(args.cards)}", file=sys.stderr)
    return EXIT_FAIL if problems else EXIT_OK


# ---------------------------------------------------------------------------- cache


def _cmd_cache_ls(args: argparse.Namespace) -> int:
    from ..constants import CACHE_FOLDERS

    store = client(args).cache
    found = store.ls()
    rows = [
        {
            "name": e.name,
            "file": e.path.name,
            "size": e.size,
            "verified_at": e.verified_at,
            "sha256": e.sha256,
            "url": e.url,
            "path": str(e.path),
        }
        for e in found
    ]
    if args.json:
        print_json(rows)
        return EXIT_OK
    others = [folder for folder in store.folders() if folder.name != "assets"]
    if not rows and not others:
        print("the cache is empty", file=sys.stderr)
        return EXIT_OK
    if rows:
        table = [[r["name"], r["file"], size(r["size"]), r["verified_at"] or "never"] for r in rows]
        print_table(table, ["NAME", "FILE", "SIZE", "VERIFIED"])
    print(f"{len(rows)} file(s), {size(sum(r['size'] for r in rows))} in {store.root}")
    for folder in others:  # what `cache clear` removes besides the assets
        print(f"  + {folder.name}/ {size(_folder_size(folder))}: {CACHE_FOLDERS[folder.name]}")
    return EXIT_OK


def _cmd_cache_rm(args: argparse.Namespace) -> int:
    store = client(args).cache
    failed = 0
    for name in args.names:
        removed = store.rm(name)
        if removed:
            print(f"removed {name}: {len(removed)} file(s)")
        else:
            print(f"error: nothing cached for {name!r} in {store.root}", file=sys.stderr)
            failed += 1
    return EXIT_FAIL if failed else EXIT_OK


def _cmd_cache_prune(args: argparse.Namespace) -> int:
    session = client(args)
    removed = session.cache.prune(session.registry, dry_run=args.dry_run)
    for path in removed:
        print(f"{'would remove' if args.dry_run else 'removed'} {path}")
    if not removed:
        print("nothing to prune", file=sys.stderr)
    return EXIT_OK


def _cmd_cache_clear(args: argparse.Namespace) -> int:
    store = client(args).cache
    where = store.root
    doomed = store.clear(dry_run=True)
    if not doomed:
        print(f"nothing to clear in {where}", file=sys.stderr)
        return EXIT_OK
    total = sum(_folder_size(folder) for folder in doomed)
    if args.dry_run:
        for folder in doomed:
            print(f"would remove {folder}")
        print(f"would free {size(total)} in {where}")
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                f"error: `cache clear` would remove {', '.join(str(f) for f in doomed)} ({size(total)}); "
                "pass --yes to confirm (or --dry-run to see what it removes)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        answer = input(f"remove {', '.join(f.name for f in doomed)} from {where} ({size(total)})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed", file=sys.stderr)
            return EXIT_FAIL
    for folder in store.clear():
        print(f"removed {folder}")
    print(f"freed {size(total)} in {where}")
    return EXIT_OK


def _folder_size(folder) -> int:
    import os

    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
