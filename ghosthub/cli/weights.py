"""``ghosthub inspect`` and ``ghosthub convert``: what a weights file holds, and rewriting it in ghosthub's layout."""

from __future__ import annotations

from ._common import EXIT_OK, add_command, client, input_file, output_file, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

_LAYOUT_HELP = (
    "the source's layout (GhostNet: mindcv, timm, timm-v3, modelzoo, modelzoo-v2, modelzoo-600m); default: from "
    "its names"
)
_ARCHITECTURE_HELP = "the architecture, for weights whose names do not say it (e.g. resnet18 for MindCV's)"


def add_commands(command) -> None:
    p = add_command(
        command("inspect"),
        "inspect",
        _cmd_inspect,
        "what a weights file holds: family, width, classes, layout, parameters, SHA-256, record",
    )
    p.add_argument(
        "file",
        metavar="FILE",
        type=input_file("a .ckpt, .safetensors or (with torch) .pth file"),
        help="a .ckpt, .safetensors or (with torch) .pth file",
    )
    p.add_argument("--layout", help=_LAYOUT_HELP)
    p.add_argument("--architecture", help=_ARCHITECTURE_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add_command(
        command("convert"),
        "convert",
        _cmd_convert,
        "rewrite weights of any supported layout in ghosthub's names, with its record",
    )
    p.add_argument(
        "src",
        metavar="SRC",
        type=input_file("a .ckpt, .safetensors or (with torch) .pth file"),
        help="a .ckpt, .safetensors or (with torch) .pth file",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DST",
        type=output_file,
        help="DST.ckpt or DST.safetensors (its folder must exist)",
    )
    p.add_argument("--layout", help=_LAYOUT_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ..architectures import using_cache
    from ..weights.convert import describe_weights

    with using_cache(client(args).settings.cache_dir):  # what architectures learn stays in this cache
        info = describe_weights(args.file, layout=args.layout, architecture=args.architecture)
    if args.json:
        print_json(info)
        return EXIT_OK
    options = ", ".join(f"{k}={v}" for k, v in info["options"].items())
    lines = [
        ("file", info["file"]),
        ("format", f"{info['format']} ({info['size']:,} bytes)"),
        ("family", info["family"] + (f" ({options})" if options else "")),
        ("width", "-" if info["width"] is None else f"{info['width']:g}"),
        ("classes", info["num_classes"]),
        ("in_channels", info["in_channels"]),
        ("layout", info["layout"]),
        (
            "parameters",
            f"{info['parameters']:,} in {info['tensors']} tensors"
            + (f" (+{info['training_state']} training-state entries, not loaded)" if info["training_state"] else ""),
        ),
        ("sha256", info["sha256"]),
    ]
    for key, value in lines:
        print(f"{key:<12} {value}")
    record = info["record"]
    if record:
        print("record")
        for key in sorted(record):
            print(f"  {key:<14} {record[key]}")
    else:
        print("record       none (not written by ghosthub)")
    return EXIT_OK


def _cmd_convert(args: argparse.Namespace) -> int:
    from ..weights.convert import convert_weights

    result = convert_weights(args.src, args.out, layout=args.layout)
    if args.json:
        print_json({k: result[k] for k in ("out", "sha256", "layout", "architecture")})
        return EXIT_OK
    arch = result["architecture"]
    size = "" if arch["width"] is None else f" width {arch['width']:g}"
    print(
        f"converted {args.src} ({result['layout']}) -> {result['out']}\n"
        f"  {arch['family']}{size}, {arch['num_classes']} classes\n  sha256 {result['sha256']}"
    )
    return EXIT_OK
