"""``ghosthub embed``: pooled features of images, saved as a NumPy array for a classifier trained elsewhere."""

from __future__ import annotations

from ._common import BATCH, EXIT_OK, add_command, cache_options, cards_options, client, input_file, output_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_commands(command) -> None:
    p = add_command(
        command("embed"),
        "embed",
        _cmd_embed,
        "save the pooled features of images (before the classifier) as a .npy array",
        parents=[cards_options(), cache_options()],
    )
    p.add_argument("name", metavar="NAME", help="model name")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE.npy",
        type=output_file,
        help="output file: one row of features per image, in order (its folder must exist)",
    )
    p.add_argument(
        "--offline", action="store_true", default=None, help="never touch the network (like GHOSTHUB_OFFLINE=1)"
    )
    p.add_argument(
        "--checkpoint",
        dest="checkpoint_path",
        metavar="PATH",
        type=input_file("a .ckpt or .safetensors file"),
        help="use this local .ckpt/.safetensors instead of the card's weights",
    )
    p.add_argument("--batch-size", type=BATCH, default=32, metavar="N", help="images per forward pass (default 32)")


def _cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from .._utils.fs import atomic_path
    from ..tasks.inference import set_mode

    set_mode("pynative")  # a few images: no compile step
    features = client(args).embed(
        args.name, args.images, checkpoint_path=args.checkpoint_path, batch_size=args.batch_size
    )
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as f:  # np.save(path) would add .npy to the temporary name
            np.save(f, features)
    print(f"{features.shape[0]} x {features.shape[1]} features of {args.name} -> {args.out}")
    return EXIT_OK
