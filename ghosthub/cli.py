"""The ``ghosthub`` command: a thin layer that turns arguments into API calls and results into text."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from ._version import __version__

TYPE_CHECKING = False  # typing stays out of the command's start-up
if TYPE_CHECKING:
    from typing import Any, Callable, Sequence

# Exit codes: 0 success, 1 a check or operation failed, 2 usage error.
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    # MindSpore's INFO/WARNING log lines would bury our output; users can still override.
    os.environ.setdefault("GLOG_v", "3")
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    warnings.showwarning = _show_warning
    from .errors import GhostHubError

    try:
        return args.func(args) or EXIT_OK
    except GhostHubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ghosthub list | head`
        sys.stderr.close()
        return EXIT_OK
    except OSError as exc:  # a file system problem no command foresaw: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter without its `import shutil` (and bz2, lzma) on every command's start-up."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            try:
                columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (ValueError, OSError, AttributeError):
                columns = 80
            width = max(columns, 40) - 2
        super().__init__(prog, indent_increment, max_help_position, width)


# Every command, in the order --help lists them; build_parser adds the one a run needs.
COMMANDS = ("list", "show", "download", "verify", "cache", "predict", "export", "train", "eval", "publish", "demo", "serve")


class _Skipped:
    """Stands in for the parser of a command this run does not use: argparse makes every parser
    look up its translations, and building all of them would cost each command start-up time."""

    def __getattr__(self, name):
        return self._ignore

    def _ignore(self, *args, **kwargs):
        return self


_SKIPPED = _Skipped()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser; with ``only``, just that command's sub-parser is built."""
    parser = argparse.ArgumentParser(
        prog="ghosthub",
        formatter_class=_Formatter,
        description="A model-zoo hub for MindSpore: model cards in, verified weights and ready networks out.",
    )
    parser.add_argument("--version", action="version", version=f"ghosthub {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, *args, **kwargs):
        return _command(sub, name, *args, **kwargs) if only in (None, name) else _SKIPPED

    cards = argparse.ArgumentParser(add_help=False, formatter_class=_Formatter)
    cards.add_argument(
        "--cards",
        metavar="DIR",
        action="append",
        default=[],
        help="card folder searched before GHOSTHUB_CARDS and the bundled cards (repeatable)",
    )
    cards.add_argument("--hub", metavar="URL|DIR", help="a published hub whose cards are searched too (default GHOSTHUB_HUB)")

    p = command("list", _cmd_list, "list the models of the registry", parents=[cards])
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern on the name, e.g. 'ghostnet_*'")
    p.add_argument("--backbone", help="only this backbone-name (pattern)")
    p.add_argument("--dataset", help="only this train-dataset (pattern)")
    p.add_argument("--format", dest="file_format", help="only cards with an asset of this file-format")
    p.add_argument("--sort", default="name", help="sort by 'name' or a metric such as top1 or top5 (best first)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("show", _cmd_show, "show one model card", parents=[cards])
    p.add_argument("name", help="model name")
    p.add_argument("--json", action="store_true", help="print JSON")

    cache_dir = argparse.ArgumentParser(add_help=False, formatter_class=_Formatter)
    cache_dir.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: GHOSTHUB_CACHE, else the user cache folder)")

    p = command("download", _cmd_download, "download models' weights into the cache, verified", parents=[cards, cache_dir])
    p.add_argument("names", nargs="+", metavar="NAME", help="model name")
    p.add_argument("--force", action="store_true", help="download again even when a verified copy is cached")
    p.add_argument("--offline", action="store_true", default=None, help="never touch the network (like GHOSTHUB_OFFLINE=1)")
    p.add_argument("--format", dest="file_format", help="the asset of this file-format (default: the first ckpt/safetensors)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bar")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "verify",
        _cmd_verify,
        "re-hash cached assets against their cards, check card files, or check one file",
        parents=[cards, cache_dir],
        epilog="With --cards DIR and no NAME or --all, every card in DIR is checked instead.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="model name")
    p.add_argument("--all", action="store_true", help="every model of the registry (NOT CACHED is then no failure)")
    p.add_argument("--file", metavar="PATH", help="check this file against --sha256")
    p.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of --file (8 to 64 hex digits, a prefix)")
    p.add_argument("--rebuild", action="store_true", help="retrain NAME from the recipe its card records and compare digests")
    p.add_argument("--data-dir", metavar="DIR", help="with --rebuild: the training data (the digits are regenerated)")
    p.add_argument("--workdir", metavar="DIR", help="with --rebuild: where the rebuild trains (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="print JSON")

    cache_cmd = command("cache", None, "list and clean the download cache")
    cache_cmd.set_defaults(func=lambda args: _usage(cache_cmd))
    actions = cache_cmd.add_subparsers(title="actions", metavar="ACTION")
    q = _command(actions, "ls", _cmd_cache_ls, "list cached assets: name, size, when verified", parents=[cache_dir])
    q.add_argument("--json", action="store_true", help="print JSON")
    q = _command(actions, "rm", _cmd_cache_rm, "remove everything cached for models", parents=[cache_dir])
    q.add_argument("names", nargs="+", metavar="NAME", help="model name")
    q = _command(
        actions, "prune", _cmd_cache_prune, "remove leftover partial downloads and files no card refers to", parents=[cards, cache_dir]
    )
    q.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    _command(actions, "clear", _cmd_cache_clear, "remove every cached asset, the card index and hub copies", parents=[cache_dir])

    load_opts = argparse.ArgumentParser(add_help=False, formatter_class=_Formatter)
    load_opts.add_argument("--offline", action="store_true", default=None, help="never touch the network (like GHOSTHUB_OFFLINE=1)")
    load_opts.add_argument("--checkpoint", metavar="PATH", help="use this local .ckpt/.safetensors instead of the card's weights")
    load_opts.add_argument(
        "--mode",
        choices=("auto", "pynative", "graph"),
        default="auto",
        help="MindSpore execution mode; auto (default): graph mode for many images, where its compile step pays off",
    )

    p = command("predict", _cmd_predict, "print the top-k classes of images", parents=[cards, cache_dir, load_opts])
    p.add_argument("name", metavar="NAME", help="model name")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--topk", type=int, default=5, help="classes per image (default 5)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("export", _cmd_export, "export a model with MindSpore (MINDIR, ONNX, AIR)", parents=[cards, cache_dir, load_opts])
    p.add_argument("name", metavar="NAME", help="model name")
    p.add_argument("--format", dest="file_format", default="MINDIR", type=str.upper, choices=("MINDIR", "ONNX", "AIR"), help="file format (default MINDIR)")
    p.add_argument("--out", required=True, metavar="FILE", help="output file")
    p.add_argument("--batch-size", type=int, default=1, help="batch dimension of the exported input (default 1)")

    p = command("train", _cmd_train, "train a model from a recipe on an ImageFolder")
    p.add_argument("--recipe", required=True, metavar="FILE|NAME",
                   help="recipe file, or a bundled recipe: digits_demo, ghostnet_050_imagenet, ...")
    p.add_argument("--data-dir", required=True, metavar="DIR", help="DIR/train/<class>/<image>, optionally DIR/val/...")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/<recipe name>)")
    p.add_argument("--epochs", type=int, metavar="N", help="train N epochs instead of the recipe's epoch_size")
    p.add_argument("--resume", metavar="CKPT", help="continue from an epoch-NNNN.ckpt of an interrupted run")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="data-parallel processes, started with MindSpore's msrun (default 1)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--expect-dataset-digest", help=argparse.SUPPRESS)

    p = command("eval", _cmd_eval, "evaluate a model on a labelled ImageFolder: top-1, top-5, loss, images/s", parents=[cards, cache_dir])
    p.add_argument("--offline", action="store_true", default=None, help="never touch the network (like GHOSTHUB_OFFLINE=1)")
    p.add_argument("model", metavar="NAME|CHECKPOINT", help="a model name, or a checkpoint file")
    p.add_argument("--data-dir", required=True, metavar="DIR", help="DIR/val/<class>/<image> if DIR has val/, else DIR/<class>/<image>")
    p.add_argument("--arch", metavar="MODEL", help="architecture of a checkpoint ghosthub did not write, e.g. ghostnet_050")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per forward pass (default 64)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("publish", _cmd_publish, "publish a checkpoint into a hub folder: verified asset, card, index.json")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt or .safetensors file")
    p.add_argument("--name", required=True, help="model name (letters, digits, '.', '_', '+', '-')")
    p.add_argument("--hub", required=True, metavar="DIR", help="the hub folder (created if missing)")
    p.add_argument("--backbone", help="architecture (default: the checkpoint's record, else ghostnet)")
    p.add_argument("--width", type=float, help="width multiplier, e.g. 0.5 (default: the checkpoint's record)")
    p.add_argument("--dataset", help="train-dataset of the card (default: the checkpoint's record)")
    p.add_argument("--eval-dir", metavar="DIR", help="labelled ImageFolder whose top-1/top-5 become the card's evaluation")
    p.add_argument("--provenance", metavar="FILE", help="training record (default: provenance.json beside the checkpoint)")
    p.add_argument("--base-url", metavar="URL", help="where the hub will be served: asset links become absolute")
    p.add_argument("--force", action="store_true", help="replace a different card or asset of the same name")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("demo", _cmd_demo, "the main job, offline: train on scikit-learn's digits, publish, serve, load, eval, predict")
    p.add_argument("--workdir", metavar="DIR", help="where data, run, hub and cache go (default: a new temporary folder)")
    p.add_argument("--epochs", type=int, metavar="N", help="train N epochs instead of the recipe's")

    p = command("serve", _cmd_serve, "serve a hub folder over HTTP (Range support), for local use and tests")
    p.add_argument("directory", metavar="DIR", help="the hub folder (index.json, cards/, assets/)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    return parser


def _command(sub, name: str, func: Callable[[argparse.Namespace], int | None] | None, help: str, **kw) -> argparse.ArgumentParser:
    if sub is _SKIPPED:
        return _SKIPPED
    parser = sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".", formatter_class=_Formatter, **kw)
    parser.set_defaults(func=func)
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535; 0 picks a free one)")
    return port


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


# ---------------------------------------------------------------------------- list / show


def _cmd_list(args: argparse.Namespace) -> int:
    from .api import default_registry

    reg = default_registry(args.cards, hub=args.hub)
    entries = reg.select(args.pattern, backbone=args.backbone, dataset=args.dataset, file_format=args.file_format)
    if args.sort != "name":
        known = sorted({m for e in entries for m in e.metrics})
        if entries and args.sort not in known:
            print(f"error: --sort {args.sort!r}: no listed card has that metric; use 'name' or one of: {', '.join(known) or 'none'}", file=sys.stderr)
            return EXIT_USAGE
        entries.sort(key=lambda e: -e.metrics.get(args.sort, float("-inf")))
    rows = [_entry_summary(e) for e in entries]
    assets_dir = reg.settings.cache_dir / "assets"
    if assets_dir.is_dir():  # only a cache that exists can say what it holds
        for row, entry in zip(rows, entries):
            row["cached"] = _is_cached(entry, reg.settings)
    if args.json:
        _print_json(rows)
        return EXIT_OK
    if not rows:
        print("no models match", file=sys.stderr)
        return EXIT_OK
    columns = [
        ("NAME", "name"),
        ("BACKBONE", "backbone"),
        ("DATASET", "dataset"),
        ("TOP-1", "top1"),
        ("TOP-5", "top5"),
        ("FORMAT", "format"),
        ("SHA256", "sha8"),
    ]
    if rows and "cached" in rows[0]:
        columns.append(("CACHED", "cached"))
    for row in rows:
        row["sha8"] = (row["sha256"] or "")[:8] or None
        if "cached" in row:
            row["cached"] = "yes" if row["cached"] else "no"
    _print_table([[_cell(row[key]) for _, key in columns] for row in rows], [title for title, _ in columns])
    return EXIT_OK


def _is_cached(entry, settings) -> bool:
    from .cache import cached_path
    from .card import CardError, ModelCard

    try:
        return cached_path(ModelCard(title=None, fields=entry.fields, path=entry.path), settings=settings) is not None
    except CardError:  # no weights asset
        return False


def _entry_summary(entry) -> dict[str, Any]:
    metrics = entry.metrics
    first = entry.assets[0] if entry.assets else {}
    return {
        "name": entry.name,
        "backbone": entry.backbone,
        "dataset": entry.dataset,
        "top1": metrics.get("top1"),
        "top5": metrics.get("top5"),
        "format": ",".join(entry.file_formats) or None,
        "sha256": first.get("asset-sha256"),
        "path": entry.file,
    }


def _cmd_show(args: argparse.Namespace) -> int:
    from .api import default_registry

    card = default_registry(args.cards, hub=args.hub).get(args.name)
    data = {
        "name": card.name,
        "title": card.title,
        "path": str(card.path),
        "fields": card.fields,
        "metrics": card.metrics,
        "assets": [{"file-format": a.file_format, "asset-link": a.link, "asset-sha256": a.sha256} for a in card.assets],
    }
    if args.json:
        _print_json(data)
        return EXIT_OK
    width = max(len(k) for k in card.fields) + 1
    print(f"{card.name}  ({card.path})")
    for key, value in card.fields.items():
        if key == "asset":
            continue
        print(f"  {key + ':':<{width}} {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
    if card.metrics:
        print("  metrics:" + "".join(f" {k}={v:g}" for k, v in card.metrics.items()))
    for i, asset in enumerate(card.assets, 1):
        print(f"  asset {i}: {asset.file_format}  sha256 {asset.sha256}\n    {asset.link}")
    return EXIT_OK


# ---------------------------------------------------------------------------- download / verify / cache


def _cmd_download(args: argparse.Namespace) -> int:
    from .api import download
    from .errors import GhostHubError

    rows, failed = [], 0
    for name in args.names:
        try:
            path = download(
                name,
                cache_dir=args.cache_dir,
                force_download=args.force,
                offline=args.offline,
                progress=args.progress,
                file_format=args.file_format,
                cards=args.cards,
                hub=args.hub,
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
        _print_json(rows)
    return EXIT_FAIL if failed else EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.rebuild:
        if len(args.names) != 1 or args.all or args.file:
            return _usage_error("verify --rebuild: give exactly one NAME")
        return _verify_rebuild(args)
    if args.file or args.sha256:
        if not (args.file and args.sha256) or args.names or args.all:
            return _usage_error("verify: --file PATH and --sha256 HEX go together, without NAME or --all")
        return _verify_file(args)
    if args.names or args.all:
        return _verify_assets(args)
    if args.cards:
        return _verify_cards(args)
    return _usage_error("verify: give NAME..., --all, --cards DIR, or --file PATH --sha256 HEX")


def _verify_rebuild(args: argparse.Namespace) -> int:
    import gc

    from .api import rebuild

    report = rebuild(args.names[0], data_dir=args.data_dir, workdir=args.workdir, cards=args.cards, hub=args.hub, cache_dir=args.cache_dir)
    gc.collect()
    status = "OK" if report["matches"] else "MISMATCH"
    if args.json:
        _print_json({**report, "status": status})
    else:
        print(f"{status:<10} {report['name']} rebuilt from its recorded recipe  expected {report['expected']}  actual {report['actual']}")
    return EXIT_OK if report["matches"] else EXIT_FAIL


def _verify_file(args: argparse.Namespace) -> int:
    from .hashes import file_hash, hash_matches, normalize_digest

    try:
        expected = normalize_digest(args.sha256)
    except ValueError as exc:
        return _usage_error(f"verify: --sha256: {exc}")
    try:
        actual = file_hash(args.file)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    status = "OK" if hash_matches(expected, actual) else "MISMATCH"
    if args.json:
        _print_json({"path": args.file, "status": status, "expected": expected, "actual": actual})
    else:
        print(f"{status:<10} {args.file}  expected {expected}  actual {actual}")
    return EXIT_OK if status == "OK" else EXIT_FAIL


def _verify_assets(args: argparse.Namespace) -> int:
    from .api import default_registry, verify
    from .errors import GhostHubError

    names = args.names or default_registry(args.cards, cache_dir=args.cache_dir, hub=args.hub).list()
    rows, failed = [], 0
    for name in names:
        try:
            results = verify(name, cache_dir=args.cache_dir, cards=args.cards, hub=args.hub)
        except GhostHubError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        for result in results:
            if result.status == "MISMATCH" or (result.status == "NOT CACHED" and not args.all):
                failed += 1
            rows.append(
                {"name": result.name, "status": result.status, "expected": result.expected, "actual": result.actual, "path": str(result.path)}
            )
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            actual = f"  actual {row['actual']}" if row["actual"] else ""
            print(f"{row['status']:<10} {row['name']}  {row['path']}  expected {row['expected']}{actual}")
    return EXIT_FAIL if failed else EXIT_OK


def _verify_cards(args: argparse.Namespace) -> int:
    from .card import check_card_files

    problems = []
    for folder in args.cards:
        problems += check_card_files(folder)
    if args.json:
        _print_json([{"path": p.path, "line": p.line, "field": p.field, "message": str(p)} for p in problems])
    else:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {', '.join(args.cards)}", file=sys.stderr)
    return EXIT_FAIL if problems else EXIT_OK


def _cmd_cache_ls(args: argparse.Namespace) -> int:
    from . import cache, config

    found = cache.entries(config.settings(cache_dir=args.cache_dir).cache_dir)
    rows = [
        {"name": e.name, "file": e.path.name, "size": e.size, "verified_at": e.verified_at, "sha256": e.sha256, "url": e.url, "path": str(e.path)}
        for e in found
    ]
    if args.json:
        _print_json(rows)
        return EXIT_OK
    if not rows:
        print("the cache is empty", file=sys.stderr)
        return EXIT_OK
    table = [[r["name"], r["file"], _size(r["size"]), r["verified_at"] or "never"] for r in rows]
    _print_table(table, ["NAME", "FILE", "SIZE", "VERIFIED"])
    return EXIT_OK


def _cmd_cache_rm(args: argparse.Namespace) -> int:
    from . import cache, config

    root = config.settings(cache_dir=args.cache_dir).cache_dir
    failed = 0
    for name in args.names:
        removed = cache.remove(root, name)
        if removed:
            print(f"removed {name}: {len(removed)} file(s)")
        else:
            print(f"error: nothing cached for {name!r} in {root}", file=sys.stderr)
            failed += 1
    return EXIT_FAIL if failed else EXIT_OK


def _cmd_cache_prune(args: argparse.Namespace) -> int:
    from .api import prune_cache

    removed = prune_cache(cache_dir=args.cache_dir, cards=args.cards, hub=args.hub, dry_run=args.dry_run)
    for path in removed:
        print(f"{'would remove' if args.dry_run else 'removed'} {path}")
    if not removed:
        print("nothing to prune", file=sys.stderr)
    return EXIT_OK


def _cmd_cache_clear(args: argparse.Namespace) -> int:
    from . import cache, config

    root = config.settings(cache_dir=args.cache_dir).cache_dir
    removed = cache.clear(root)
    for folder in removed:
        print(f"removed {folder}")
    if not removed:
        print(f"nothing to clear in {root}", file=sys.stderr)
    return EXIT_OK


def _usage_error(message: str) -> int:
    print(f"ghosthub {message}", file=sys.stderr)
    return EXIT_USAGE


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# ---------------------------------------------------------------------------- predict / export


def _load_for(args: argparse.Namespace):
    """The card and network a predict/export command names, in the requested mode."""
    from . import api
    from .inference import choose_mode, set_mode

    set_mode(choose_mode(args.mode, len(getattr(args, "images", ()))))
    card = api.default_registry(args.cards, cache_dir=args.cache_dir, hub=args.hub).get(args.name)
    net = api.load(
        args.name,
        pretrained=args.checkpoint is None,
        checkpoint_path=args.checkpoint,
        cache_dir=args.cache_dir,
        offline=args.offline,
        cards=args.cards,
        hub=args.hub,
    )
    return card, net


def _cmd_predict(args: argparse.Namespace) -> int:
    from . import api
    from .inference import predict_images
    from .preprocess import make_transform

    card, net = _load_for(args)
    names = api.class_names(card, net.num_classes)
    transform = make_transform(**api.preprocessing(card))
    results = predict_images(net, args.images, transform, names, topk=args.topk, batch_size=args.batch_size)
    if args.json:
        _print_json([{"image": r.image, "top": [{"index": i, "label": n, "probability": p} for i, n, p in r.top]} for r in results])
        return EXIT_OK
    for r in results:
        print(r.image)
        for rank, (index, label, prob) in enumerate(r.top, 1):
            print(f"  {rank}. {prob:7.2%}  {label} ({index})")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from . import api
    from .inference import export_network

    card, net = _load_for(args)
    size = api.preprocessing(card).get("input_size", 224)
    shape = (args.batch_size, net.in_channels, size, size)
    out = export_network(net, args.out, file_format=args.file_format, input_shape=shape)
    print(f"exported {args.name} ({args.file_format}, input {'x'.join(map(str, shape))}) to {out}")
    return EXIT_OK


# ---------------------------------------------------------------------------- train / eval


def _cmd_train(args: argparse.Namespace) -> int:
    import gc

    from .recipe import load_recipe
    from .train import train

    if args.workers < 1 or (args.epochs is not None and args.epochs < 1):
        print("error: --workers and --epochs must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    recipe = load_recipe(args.recipe)
    out = args.out or os.path.join("runs", Path(recipe.source).stem)

    def report(e) -> None:
        val = f"  val top-1 {e.val_top1:6.2f}  top-5 {e.val_top5:6.2f}" if e.val_top1 is not None else ""
        print(f"epoch {e.epoch}/{e.epochs}  loss {e.train_loss:.4f}  lr {e.lr:.4g}{val}  "
              f"{e.images_per_second:.0f} img/s  {e.seconds:.1f} s{'  best' if e.best else ''}", file=sys.stderr, flush=True)

    result = train(recipe, args.data_dir, out, epochs=args.epochs, resume=args.resume, workers=args.workers,
                   callback=report, expect_dataset_digest=args.expect_dataset_digest)
    gc.collect()  # networks freed now print nothing; at interpreter exit MindSpore would complain
    if result.rank != 0 or os.environ.get("GHOSTHUB_RANK_DIR"):
        return EXIT_OK  # other ranks stay quiet; under `--workers N` the launching process reports
    if args.json:
        _print_json(result.to_dict())
        return EXIT_OK
    best = result.best
    metric = f", val top-1 {best.val_top1:.2f}%" if best and best.val_top1 is not None else ""
    print(f"best checkpoint: {result.best_checkpoint} (epoch {best.epoch if best else '?'}{metric})")
    print(f"  sha256 {result.checkpoint_sha256}")
    print(f"last checkpoint: {result.last_checkpoint}")
    print(f"provenance: {os.path.join(result.out_dir, 'provenance.json')}  ({result.images_per_second:.0f} img/s)")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    import gc

    from .evaluate import evaluate

    load = {"cards": args.cards, "hub": args.hub, "cache_dir": args.cache_dir, "offline": args.offline}
    result = evaluate(args.model, args.data_dir, arch=args.arch, batch_size=args.batch_size, **load)
    gc.collect()
    if args.json:
        _print_json({"model": args.model, "data_dir": args.data_dir, **result.to_dict()})
        return EXIT_OK
    print(f"{args.model} on {args.data_dir}: top-1 {result.top1:.2f}%  top-5 {result.top5:.2f}%  "
          f"loss {result.loss:.4f}  {result.images} images  {result.images_per_second:.0f} img/s")
    return EXIT_OK


# ---------------------------------------------------------------------------- publish / demo


def _cmd_publish(args: argparse.Namespace) -> int:
    from .publish import publish

    provenance = _read_provenance_file(args)
    metrics = None
    if args.eval_dir:
        from .evaluate import evaluate

        scores = evaluate(args.checkpoint, args.eval_dir, arch=_arch(args))
        metrics = {"top1": scores.top1, "top5": scores.top5}
        print(f"evaluated on {args.eval_dir}: top-1 {scores.top1:.2f}%  top-5 {scores.top5:.2f}%", file=sys.stderr)
    result = publish(
        args.checkpoint,
        name=args.name,
        hub=args.hub,
        backbone=args.backbone,
        width=args.width,
        dataset=args.dataset,
        metrics=metrics,
        provenance=provenance,
        provenance_strict=bool(args.provenance),  # the record found beside the checkpoint may be best.ckpt's
        base_url=args.base_url,
        force=args.force,
    )
    if args.json:
        _print_json({"name": result.name, "card": str(result.card_path), "asset": str(result.asset_path), "sha256": result.sha256, "changed": result.changed})
        return EXIT_OK
    state = "published" if result.changed else "already published (nothing changed)"
    print(f"{state}: {result.name}\n  card  {result.card_path}\n  asset {result.asset_path}\n  sha256 {result.sha256}")
    return EXIT_OK


def _arch(args: argparse.Namespace) -> str | None:
    """An architecture name for evaluate() when the command line gives one (ghostnet_050 for width 0.5)."""
    if args.width is None:
        return None
    return f"{args.backbone or 'ghostnet'}_{round(args.width * 100):03d}"


def _read_provenance_file(args: argparse.Namespace) -> dict | None:
    from .errors import GhostHubError

    path = Path(args.provenance) if args.provenance else Path(args.checkpoint).with_name("provenance.json")
    if not path.is_file():
        if args.provenance:
            raise GhostHubError(f"--provenance {path}: no such file")
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GhostHubError(f"cannot read the training record {path}: {exc}") from None
    if not isinstance(record, dict):
        raise GhostHubError(f"{path} is not a training record (expected a JSON object)")
    return record


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(args.workdir, epochs=args.epochs)
    return EXIT_OK if summary["top1"] >= 95 or args.epochs else EXIT_FAIL


# ---------------------------------------------------------------------------- serve


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    try:
        server = serve(args.directory, port=args.port, host=args.host, quiet=False)
    except OSError as exc:  # e.g. the port is taken
        from .errors import GhostHubError

        raise GhostHubError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; choose another --port (0 picks a free one)"
        ) from None
    print(f"serving {server.root} at {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


# ---------------------------------------------------------------------------- output helpers


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
