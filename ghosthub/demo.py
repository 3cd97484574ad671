"""The demo, offline: scikit-learn's digits -> train -> publish -> serve -> load -> evaluate -> predict."""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["MODEL_NAME", "RECIPE", "run_demo"]

RECIPE = "digits_demo"
MODEL_NAME = "digits_ghostnet_050"
STEPS = 6


def run_demo(
    workdir: str | os.PathLike | None = None,
    *,
    epochs: int | None = None,
    progress: bool | None = None,
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Train GhostNet on scikit-learn's digits, publish it to a hub, serve it, load it back and use it.

    Every step is the real one a user would run: ``ghosthub.train`` on an
    ImageFolder, ``publish`` into a hub folder, ``serve`` on 127.0.0.1, then
    ``ghosthub.load(MODEL_NAME, hub=URL)`` (download, SHA-256 verification,
    strict loading), evaluation on the held-out digits and top-k predictions.
    Nothing leaves the machine.

    Parameters
    ----------
    workdir : str or os.PathLike, optional
        Folder for the data, the run, the hub and the cache (default: a new temporary folder, kept).
    epochs : int, optional
        Train this many epochs instead of the recipe's.
    progress : bool, optional
        Progress bars (default: on a terminal, unless ``GHOSTHUB_NO_PROGRESS=1``).
    out : text stream
        Where the summary goes.

    Returns
    -------
    dict
        What each step produced: ``top1``, ``top5``, ``sha256``, ``hub_url``, ``seconds`` ...
    """
    from .client import Client
    from .data.digits import write_digits
    from .data.imagefolder import scan_image_folder
    from .data.transforms import make_transform
    from .hub.serve import serve
    from .tasks.evaluate import evaluate_folder, network_preprocessing
    from .tasks.inference import predict_images
    from .tasks.publish import publish
    from .training.trainer import train

    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="ghosthub-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    data, run, hub, cache = work / "digits", work / "run", work / "hub", work / "cache"
    started = time.perf_counter()
    summary: dict[str, Any] = {"workdir": str(work), "model": MODEL_NAME}

    def say(step: int, label: str, text: str, since: float) -> None:
        print(f"{step}/{STEPS} {label:<8} {text}  [{time.perf_counter() - since:.1f} s]", file=out, flush=True)

    print(f"ghosthub demo: GhostNet-0.5 on scikit-learn's handwritten digits, offline; files in {work}", file=out, flush=True)

    t = time.perf_counter()
    counts = write_digits(data)
    say(1, "data", f"{counts['train']} train / {counts['val']} held-out 8x8 digits written as an ImageFolder in {data}", t)

    t = time.perf_counter()
    print(f"{' ' * 4}training {RECIPE}: the first step compiles the network graph (about 15-30 s), then one line per epoch",
          file=out, flush=True)

    def epoch_line(e) -> None:  # through a pipe too: no minutes of silence
        val = f"  val top-1 {e.val_top1:6.2f}%" if e.val_top1 is not None else ""
        print(f"    epoch {e.epoch}/{e.epochs}  loss {e.train_loss:.4f}{val}  {e.seconds:.1f} s", file=out, flush=True)

    result = train(RECIPE, data, run, epochs=epochs, progress=progress, callback=epoch_line)
    best = result.best
    summary.update(train_top1=best.val_top1, train_seconds=time.perf_counter() - t, images_per_second=result.images_per_second)
    say(
        2,
        "train",
        f"recipe {RECIPE}: {len(result.epochs)} epochs at {result.images_per_second:.0f} img/s, "
        f"best val top-1 {best.val_top1:.2f}% (epoch {best.epoch})",
        t,
    )

    t = time.perf_counter()
    published = publish(
        result.best_checkpoint,
        name=MODEL_NAME,
        hub=hub,
        dataset="sklearn-digits",
        metrics={"top1": best.val_top1, "top5": best.val_top5},
        provenance=result.provenance,
        summary="GhostNet-0.5 trained from scratch on scikit-learn's handwritten digits by `ghosthub demo`",
        force=True,  # the demo's own hub: a rerun with other settings replaces its card
    )
    summary["sha256"] = published.sha256
    say(3, "publish", f"{MODEL_NAME} -> {published.asset_path.relative_to(work)} (sha256 {published.sha256[:16]}...)", t)

    with serve(hub) as server:
        t = time.perf_counter()
        client = Client(hub=server.url, cache_dir=cache, progress=False)
        net = client.load(MODEL_NAME)
        cached = client.download(MODEL_NAME)  # a cache hit now: no connection
        summary["hub_url"] = server.url
        say(
            4,
            "load",
            f"ghosthub.load({MODEL_NAME!r}, hub={server.url!r}): downloaded, sha256 verified, strict load "
            f"({cached.stat().st_size / 2**20:.1f} MiB into {cache.relative_to(work)}/)",
            t,
        )
    try:
        t = time.perf_counter()
        info = client.record(MODEL_NAME)
        folder = scan_image_folder(data / "val", classes=info.get("classes"))
        scores = evaluate_folder(net, folder, network_preprocessing(net, info), progress=False)
        summary.update(top1=scores.top1, top5=scores.top5, eval_images_per_second=scores.images_per_second)
        say(
            5,
            "eval",
            f"top-1 {scores.top1:.2f}%  top-5 {scores.top5:.2f}%  loss {scores.loss:.3f} on {scores.images} held-out digits "
            f"({scores.images_per_second:.0f} img/s)",
            t,
        )

        t = time.perf_counter()
        samples = [folder.root / path for path, _ in folder.samples[:: max(1, len(folder.samples) // 6)][:6]]
        truth = [folder.classes[label] for _, label in folder.samples[:: max(1, len(folder.samples) // 6)][:6]]
        transform = make_transform(**client.preprocessing(MODEL_NAME)._asdict())
        predictions = predict_images(net, samples, transform, client.class_names(MODEL_NAME, net.num_classes), topk=1)
        shown = "  ".join(f"{true}->{p.top[0][1]} ({p.top[0][2]:.0%})" for true, p in zip(truth, predictions))
        say(6, "predict", f"true->predicted: {shown}", t)
    finally:
        del net
        gc.collect()

    summary["seconds"] = time.perf_counter() - started
    verdict = "reached" if summary["top1"] >= 95 else "MISSED"
    print(
        f"done in {summary['seconds']:.0f} s: {MODEL_NAME} top-1 {summary['top1']:.2f}% on held-out digits "
        f"({verdict} the 95% target); hub in {hub}, serve it with `ghosthub serve {hub}`",
        file=out,
        flush=True,
    )
    return summary
