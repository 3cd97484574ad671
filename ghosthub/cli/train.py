"""``ghosthub train`` and ``ghosthub rebuild``: a recipe and data in, checkpoints out; a published model retrained."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import config
from ._common import (
    EPOCHS,
    EXIT_FAIL,
    EXIT_OK,
    WORKERS,
    add_command,
    add_rebuild_options,
    cache_options,
    cards_options,
    client,
    input_file,
    output_folder,
    print_json,
    says_if_made,
)


def add_commands(command) -> None:
    p = add_command(
        command("train"),
        "train",
        _cmd_train,
        "train a model from a recipe on an ImageFolder",
        parents=[cards_options(), cache_options()],
    )
    p.add_argument(
        "--recipe",
        required=True,
        metavar="FILE|NAME",
        help="recipe file, or a bundled recipe: digits_demo, ghostnet_050_imagenet, ...",
    )
    p.add_argument("--data-dir", required=True, metavar="DIR", help="DIR/train/<class>/<image>, optionally DIR/val/...")
    p.add_argument(
        "--out",
        dest="out_dir",
        metavar="DIR",
        type=output_folder,
        help="output folder, made if missing (default: runs/<recipe name>)",
    )
    p.add_argument("--epochs", type=EPOCHS, metavar="N", help="train N epochs instead of the recipe's epoch_size")
    p.add_argument(
        "--resume",
        metavar="CKPT",
        type=input_file("an epoch-NNNN.ckpt of an interrupted run"),
        help="continue from an epoch-NNNN.ckpt of an interrupted run",
    )
    p.add_argument(
        "--pretrained",
        metavar="NAME|PATH",
        help="fine-tune from a hub model's verified weights (NAME) or a local checkpoint (PATH); "
        "sets the recipe's pretrained or ckpt_path",
    )
    p.add_argument(
        "--workers",
        type=WORKERS,
        default=1,
        metavar="N",
        help="data-parallel processes, started with MindSpore's msrun (default 1)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--expect-dataset-digest", help=argparse.SUPPRESS)

    p = add_command(
        command("rebuild"),
        "rebuild",
        cmd_rebuild,
        "retrain a published model from the recipe its card records and compare the checkpoint's SHA-256",
        parents=[cards_options(), cache_options()],
        epilog="Exit status 0 when the rebuilt checkpoint has the card's digest, 1 when it differs. "
        "`ghosthub verify --rebuild NAME` is the same command.",
    )
    p.add_argument("name", metavar="NAME", help="model name (its card must record its training provenance)")
    add_rebuild_options(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _cmd_train(args: argparse.Namespace) -> int:
    import gc

    from ..training.finetune import resolve_base
    from ..training.recipe import load_recipe
    from ..training.trainer import train

    recipe = load_recipe(args.recipe)
    if args.pretrained:
        local = Path(args.pretrained).expanduser().is_file()
        recipe = recipe.replace(
            pretrained=False if local else args.pretrained,
            ckpt_path=str(Path(args.pretrained).expanduser().resolve()) if local else None,
        )
    # The base comes from this command's hub and cache (--hub, --cache-dir), verified as `download` does.
    base = resolve_base(recipe, registry=client(args).registry) if recipe.finetuning and args.workers == 1 else None
    out = args.out_dir or os.path.join("runs", Path(recipe.source).stem)

    # The trainer logs what it will do once its inputs have passed their checks, then a line per epoch.
    try:
        with _signals_as_interrupt(), says_if_made(out, "--out"):
            result = train(
                recipe,
                args.data_dir,
                out,
                epochs=args.epochs,
                resume=args.resume,
                workers=args.workers,
                expect_dataset_digest=args.expect_dataset_digest,
                base=base,
            )
    except _Interrupted as stop:
        return _interrupted(args, out, stop.signum)
    gc.collect()  # networks freed now print nothing; at interpreter exit MindSpore would complain
    if result.rank != 0 or config.rank_dir() is not None:
        return EXIT_OK  # other ranks stay quiet; under `--workers N` the launching process reports
    if args.json:
        print_json(result.to_dict())
        return EXIT_OK
    best = result.best
    metric = f", val top-1 {best.val_top1:.2f}%" if best and best.val_top1 is not None else ""
    print(f"best checkpoint: {result.best_checkpoint} (epoch {best.epoch if best else '?'}{metric})")
    print(f"  sha256 {result.checkpoint_sha256}")
    if result.provenance.get("base_sha256"):
        print(f"  fine-tuned from {result.provenance['base_model']} (sha256 {result.provenance['base_sha256']})")
    print(f"last checkpoint: {result.last_checkpoint}")
    print(f"provenance: {os.path.join(result.out_dir, 'provenance.json')}  ({result.images_per_second:.0f} img/s)")
    return EXIT_OK


def cmd_rebuild(args: argparse.Namespace) -> int:
    """``ghosthub rebuild NAME`` (and ``verify --rebuild NAME``): retrain and report OK or MISMATCH."""
    import gc

    from ..training.rebuild import rebuild_model

    with says_if_made(args.workdir, "--workdir"):
        report = rebuild_model(
            client(args),
            args.name,
            data_dir=args.data_dir,
            workdir=args.workdir,
            workers=getattr(args, "workers", 1),
            announce=lambda line: print(line, file=sys.stderr, flush=True),  # what it costs, before it starts
        )
    gc.collect()  # networks freed now print nothing; at interpreter exit MindSpore would complain
    status = "OK" if report.matches else "MISMATCH"
    row = {
        "name": report.name,
        "expected": report.expected_sha256,
        "actual": report.actual_sha256,
        "matches": report.matches,
        "status": status,
        "why": report.why,
    }
    if getattr(args, "json", False):
        print_json(row)
    else:
        print(
            f"{status:<10} {row['name']} rebuilt from its recorded recipe  expected {row['expected']}  actual "
            f"{row['actual']}" + (f"\n  {report.why}" if report.why else "")
        )
    return EXIT_OK if report.matches else EXIT_FAIL


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (a scheduler's stop, `kill`) while training."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _signals_as_interrupt:
    """Turn SIGINT and SIGTERM into :class:`_Interrupted`, so that train stops where Python can say how to resume."""

    def __enter__(self):
        import signal

        self._old = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[signum] = signal.signal(signum, self._raise)
            except ValueError:  # not the main thread: leave the signals alone
                pass
        return self

    @staticmethod
    def _raise(signum, frame):
        raise _Interrupted(signum)

    def __exit__(self, *exc):
        import signal

        for signum, handler in self._old.items():
            signal.signal(signum, handler)


def _interrupted(args: argparse.Namespace, out: str, signum: int) -> int:
    """Say what was kept and how to go on; exit 128 + the signal, as the shell would."""
    import re

    found = sorted(
        (int(m.group(1)), p)
        for p in Path(out).glob("epoch-*.ckpt")
        if (m := re.fullmatch(r"epoch-(\d+)\.ckpt", p.name))
    )
    # MindSpore turns Ctrl-C into SIGTERM on some paths: name neither for sure.
    name = "Ctrl-C or SIGTERM" if signum in (2, 15) else f"signal {signum}"
    if found:
        epoch, last = found[-1]
        command = f"ghosthub train --recipe {args.recipe} --data-dir {args.data_dir} --out {out} --resume {last}"
        if args.epochs:
            command += f" --epochs {args.epochs}"
        print(
            f"\ninterrupted ({name}); the last finished epoch is {epoch}, saved in {last}\nresume with: {command}",
            file=sys.stderr,
            flush=True,
        )
    else:
        print(
            f"\ninterrupted ({name}) before the first epoch finished: nothing to resume from; "
            "run the same command again to start over",
            file=sys.stderr,
            flush=True,
        )
    return 128 + signum
