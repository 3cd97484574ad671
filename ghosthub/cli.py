"""The ``ghosthub`` command: a thin layer that turns arguments into API calls and results into text."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from ._version import __version__

# Exit codes: 0 success, 1 a check or operation failed, 2 usage error.
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    # MindSpore's INFO/WARNING log lines would bury our output; users can still override.
    os.environ.setdefault("GLOG_v", "3")
    parser = build_parser()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ghosthub",
        description="A model-zoo hub for MindSpore: model cards in, verified weights and ready networks out.",
    )
    parser.add_argument("--version", action="version", version=f"ghosthub {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    cards = argparse.ArgumentParser(add_help=False)
    cards.add_argument(
        "--cards",
        metavar="DIR",
        action="append",
        default=[],
        help="card folder searched before GHOSTHUB_CARDS and the bundled cards (repeatable)",
    )

    p = _command(sub, "list", _cmd_list, "list the models of the registry", parents=[cards])
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern on the name, e.g. 'ghostnet_*'")
    p.add_argument("--backbone", help="only this backbone-name (pattern)")
    p.add_argument("--dataset", help="only this train-dataset (pattern)")
    p.add_argument("--format", dest="file_format", help="only cards with an asset of this file-format")
    p.add_argument("--sort", default="name", help="sort by 'name' or a metric such as top1 or top5 (best first)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = _command(sub, "show", _cmd_show, "show one model card", parents=[cards])
    p.add_argument("name", help="model name")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = _command(sub, "train", _cmd_train, "train a model from a recipe on an ImageFolder")
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

    p = _command(sub, "eval", _cmd_eval, "evaluate a model on a labelled ImageFolder: top-1, top-5, loss, images/s")
    p.add_argument("model", metavar="NAME|CHECKPOINT", help="a model name, or a checkpoint file")
    p.add_argument("--data-dir", required=True, metavar="DIR", help="DIR/val/<class>/<image> if DIR has val/, else DIR/<class>/<image>")
    p.add_argument("--arch", metavar="MODEL", help="architecture of a checkpoint ghosthub did not write, e.g. ghostnet_050")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per forward pass (default 64)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = _command(sub, "serve", _cmd_serve, "serve a hub folder over HTTP (Range support), for local use and tests")
    p.add_argument("directory", metavar="DIR", help="the hub folder (index.json, cards/, assets/)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    return parser


def _command(sub, name: str, func: Callable[[argparse.Namespace], int | None], help: str, **kw) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".", **kw)
    parser.set_defaults(func=func)
    return parser


# ---------------------------------------------------------------------------- list / show


def _cmd_list(args: argparse.Namespace) -> int:
    from .api import default_registry

    entries = default_registry(args.cards).select(args.pattern, backbone=args.backbone, dataset=args.dataset, file_format=args.file_format)
    if args.sort != "name":
        entries.sort(key=lambda e: -e.metrics.get(args.sort, float("-inf")))
    rows = [_entry_summary(e) for e in entries]
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
    for row in rows:
        row["sha8"] = (row["sha256"] or "")[:8] or None
    _print_table([[_cell(row[key]) for _, key in columns] for row in rows], [title for title, _ in columns])
    return EXIT_OK


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

    card = default_registry(args.cards).get(args.name)
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

    result = evaluate(args.model, args.data_dir, arch=args.arch, batch_size=args.batch_size)
    gc.collect()
    if args.json:
        _print_json({"model": args.model, "data_dir": args.data_dir, **result.to_dict()})
        return EXIT_OK
    print(f"{args.model} on {args.data_dir}: top-1 {result.top1:.2f}%  top-5 {result.top5:.2f}%  "
          f"loss {result.loss:.4f}  {result.images} images  {result.images_per_second:.0f} img/s")
    return EXIT_OK


# ---------------------------------------------------------------------------- serve


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    server = serve(args.directory, port=args.port, host=args.host, quiet=False)
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
