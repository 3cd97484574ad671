"""``ghosthub demo``: train, publish, serve, load, evaluate and predict offline on scikit-learn's digits."""

from __future__ import annotations

from ._common import EPOCHS, EXIT_FAIL, EXIT_OK, add_command, output_folder, says_if_made

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_commands(command) -> None:
    p = add_command(
        command("demo"),
        "demo",
        _cmd_demo,
        "a complete run, offline: train GhostNet on scikit-learn's digits, publish, serve, load, eval, predict",
    )
    p.add_argument(
        "--workdir",
        metavar="DIR",
        type=output_folder,
        help="where data, run, hub and cache go, kept afterwards (made if missing; default: a temporary folder, "
        "removed at the end)",
    )
    p.add_argument("--epochs", type=EPOCHS, metavar="N", help="train N epochs instead of the recipe's")
    p.add_argument(
        "--finetune",
        action="store_true",
        help="fine-tuning instead: pretrain on the digits 0-4, publish, fine-tune from the hub on 10 images "
        "of each of 5-9, and compare with training from scratch",
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import WIN_POINTS, run_demo, run_finetune_demo

    with says_if_made(args.workdir, "--workdir"):
        if args.finetune:
            summary = run_finetune_demo(args.workdir, epochs=args.epochs)
            return EXIT_OK if summary["gain"] >= WIN_POINTS or args.epochs else EXIT_FAIL
        summary = run_demo(args.workdir, epochs=args.epochs)
        return EXIT_OK if summary["top1"] >= 95 or args.epochs else EXIT_FAIL
