"""``ghosthub train``: a recipe and an ImageFolder in, checkpoints, metrics and provenance out."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._common import EXIT_OK, EXIT_USAGE, add_command, print_json


def add_commands(command) -> None:
    p = add_command(command("train"), "train", _cmd_train, "train a model from a recipe on an ImageFolder")
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


def _cmd_train(args: argparse.Namespace) -> int:
    import gc

    from ..training.recipe import load_recipe
    from ..training.trainer import train

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
        print_json(result.to_dict())
        return EXIT_OK
    best = result.best
    metric = f", val top-1 {best.val_top1:.2f}%" if best and best.val_top1 is not None else ""
    print(f"best checkpoint: {result.best_checkpoint} (epoch {best.epoch if best else '?'}{metric})")
    print(f"  sha256 {result.checkpoint_sha256}")
    print(f"last checkpoint: {result.last_checkpoint}")
    print(f"provenance: {os.path.join(result.out_dir, 'provenance.json')}  ({result.images_per_second:.0f} img/s)")
    return EXIT_OK
