"""``ghosthub predict``, ``ghosthub export`` and ``ghosthub eval``: running a model."""

from __future__ import annotations

import argparse

from ._common import (
    BATCH,
    EXIT_OK,
    TOPK,
    Formatter,
    add_command,
    cache_options,
    cards_options,
    client,
    input_file,
    output_file,
    print_json,
)


def add_commands(command) -> None:
    cards, cache_dir = cards_options(), cache_options()
    load_opts = argparse.ArgumentParser(add_help=False, formatter_class=Formatter)
    load_opts.add_argument(
        "--offline", action="store_true", default=None, help="never touch the network (like GHOSTHUB_OFFLINE=1)"
    )
    load_opts.add_argument(
        "--checkpoint",
        dest="checkpoint_path",
        metavar="PATH",
        type=input_file("a .ckpt or .safetensors file"),
        help="use this local .ckpt/.safetensors instead of the card's weights",
    )
    load_opts.add_argument(
        "--mode",
        choices=("auto", "pynative", "graph"),
        default="auto",
        help="auto/graph (default): the forward runs as one compiled graph, cached under the ghosthub cache "
        "(3-4x faster; 2.4 s to compile once, 0.2 s with the cache warm); pynative: op by op",
    )
    runtime = argparse.ArgumentParser(add_help=False, formatter_class=Formatter)
    runtime.add_argument(
        "--runtime",
        choices=("mindspore", "onnxruntime"),
        default="mindspore",
        help="onnxruntime: export once into the cache, check against MindSpore, run with ONNX Runtime "
        "(pip install 'ghosthub[onnx]')",
    )

    p = add_command(
        command("predict"),
        "predict",
        _cmd_predict,
        "print the top-k classes of images",
        parents=[cards, cache_dir, load_opts, runtime],
    )
    p.add_argument("name", metavar="NAME|CHECKPOINT", help="a model name, or a checkpoint file")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders of them")
    p.add_argument(
        "--arch", metavar="MODEL", help="architecture of a checkpoint ghosthub did not write, e.g. ghostnet_050"
    )
    p.add_argument("--topk", type=TOPK, default=5, metavar="K", help="classes per image (default 5)")
    p.add_argument("--batch-size", type=BATCH, default=32, metavar="N", help="images per forward pass (default 32)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add_command(
        command("export"),
        "export",
        _cmd_export,
        "export a model with MindSpore (MINDIR, ONNX, AIR)",
        parents=[cards, cache_dir, load_opts],
    )
    p.add_argument("name", metavar="NAME", help="model name")
    p.add_argument(
        "--format",
        dest="file_format",
        default="MINDIR",
        type=str.upper,
        choices=("MINDIR", "ONNX", "AIR"),
        help="file format (default MINDIR)",
    )
    p.add_argument("--out", required=True, metavar="FILE", type=output_file, help="output file (its folder must exist)")
    p.add_argument(
        "--batch-size", type=BATCH, default=1, metavar="N", help="batch dimension of the exported input (default 1)"
    )

    p = add_command(
        command("eval"),
        "eval",
        _cmd_eval,
        "evaluate a model on a labelled ImageFolder: top-1, top-5, loss, images/s",
        parents=[cards, cache_dir, runtime],
    )
    p.add_argument(
        "--offline", action="store_true", default=None, help="never touch the network (like GHOSTHUB_OFFLINE=1)"
    )
    p.add_argument(
        "--mode", choices=("auto", "pynative", "graph"), default="auto", help="as for predict (default auto)"
    )
    p.add_argument("model", metavar="NAME|CHECKPOINT", help="a model name, or a checkpoint file")
    p.add_argument(
        "--data-dir",
        required=True,
        metavar="DIR",
        help="DIR/val/<class>/<image> if DIR has val/, else DIR/<class>/<image>",
    )
    p.add_argument(
        "--arch", metavar="MODEL", help="architecture of a checkpoint ghosthub did not write, e.g. ghostnet_050"
    )
    p.add_argument("--batch-size", type=BATCH, default=64, metavar="N", help="images per forward pass (default 64)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _load_for(args: argparse.Namespace, *, mode: str, runtime: str = "mindspore"):
    """The network (BatchNorm folded, in ``mode``), preprocessing and class names a predict/export command names."""
    from ..tasks.ready import load_for_inference

    ready = load_for_inference(
        client(args),
        args.name,
        checkpoint_path=args.checkpoint_path,
        arch=getattr(args, "arch", None),
        mode=mode,
        runtime=runtime,
    )
    return ready.net, ready.preprocessing, ready.class_names()


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..data.transforms import make_transform
    from ..tasks.inference import image_files, predict_images

    images = image_files(args.images)
    net, pre, names = _load_for(args, mode=args.mode, runtime=args.runtime)
    transform = make_transform(**pre._asdict())
    results = predict_images(net, images, transform, names, topk=args.topk, batch_size=args.batch_size)
    if args.json:
        print_json(
            [
                {"image": r.image, "top": [{"index": i, "label": n, "probability": p} for i, n, p in r.top]}
                for r in results
            ]
        )
        return EXIT_OK
    for r in results:
        print(r.image)
        for rank, (index, label, prob) in enumerate(r.top, 1):
            print(f"  {rank}. {prob:7.2%}  {label} ({index})")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from ..tasks.inference import export_network

    net, pre, _ = _load_for(args, mode="pynative")  # exported with BatchNorm folded
    size = pre.input_size
    shape = (args.batch_size, net.in_channels, size, size)
    out = export_network(net, args.out, file_format=args.file_format, input_shape=shape)
    print(f"exported {args.name} ({args.file_format}, input {'x'.join(map(str, shape))}) to {out}")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    from ..tasks.evaluate import evaluate_model

    result = evaluate_model(
        client(args),
        args.model,
        args.data_dir,
        arch=args.arch,
        batch_size=args.batch_size,
        mode=args.mode,
        runtime=args.runtime,
    )
    if args.json:
        print_json({"model": args.model, "data_dir": args.data_dir, **result.to_dict()})
        return EXIT_OK
    print(
        f"{args.model} on {args.data_dir}: top-1 {result.top1:.2f}%  top-5 {result.top5:.2f}%  "
        f"loss {result.loss:.4f}  {result.images} images  {result.images_per_second:.0f} img/s"
    )
    return EXIT_OK
