"""The demo, offline: scikit-learn's digits -> train -> publish -> serve -> load -> evaluate -> predict."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from ._utils.spelling import said

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
        Folder for the data, the run, the hub and the cache, kept afterwards (made if missing).
        By default a temporary folder, removed at the end.
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
    from .hub.serve import serve
    from .runtime.isa import cpu_isa_in_use

    with _work_folder(workdir, "ghosthub-demo-") as work:
        data, run, hub, cache = work / "digits", work / "run", work / "hub", work / "cache"
        started = time.perf_counter()
        summary: dict[str, Any] = {"workdir": str(work), "kept": bool(workdir), "model": MODEL_NAME}
        say = _Steps(out, STEPS, width=8)
        print(
            f"ghosthub demo: GhostNet-0.5 on scikit-learn's handwritten digits, offline; files in {work}"
            + ("" if workdir else " (a temporary folder, removed at the end)"),
            file=out,
            flush=True,
        )
        print(f"CPU: {cpu_isa_in_use()}", file=out, flush=True)
        _demo_data(data, say)
        result = _demo_train(data, run, epochs, progress, say, summary)
        _demo_publish(result, hub, work, say, summary)
        with serve(hub) as server:
            ready = _demo_load(server.url, cache, work, say, summary)
        try:
            folder = _demo_evaluate(ready, data / "val", say, summary)
            _demo_predict(ready, folder, say)
        finally:
            del ready
            gc.collect()

        summary["seconds"] = time.perf_counter() - started
        verdict = "reached" if summary["top1"] >= 95 else "MISSED"
        print(
            f"done in {summary['seconds']:.0f} s: {MODEL_NAME} top-1 {summary['top1']:.2f}% on held-out digits "
            f"({verdict} the 95% target); " + _where_the_work_went(work, hub, kept=bool(workdir)),
            file=out,
            flush=True,
        )
    return summary


@contextlib.contextmanager
def _work_folder(workdir: str | os.PathLike | None, prefix: str):
    """The demo's folder: ``workdir`` (made if missing, kept), else a temporary one removed at the end, error or not."""
    if workdir:
        work = Path(workdir)
        work.mkdir(parents=True, exist_ok=True)
        yield work
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def _where_the_work_went(work: Path, hub: Path, *, kept: bool) -> str:
    """The end of the demo's last line: where its files are, or that they are gone and how to keep them."""
    if kept:
        return f"hub in {hub}, serve it with `ghosthub serve {hub}`"
    from ._utils.units import size

    total = sum(p.stat().st_size for p in work.rglob("*") if p.is_file() and not p.is_symlink())
    return (
        f"its files ({size(total)}: data, run, hub, cache) are removed with {work}; "
        f"{said('workdir') or 'workdir='} keeps them"
    )


class _Steps:
    """Prints a demo's numbered steps: ``N/TOTAL label text  [seconds since the step began]``."""

    def __init__(self, out: TextIO, total: int, *, width: int) -> None:
        self.out, self.total, self.width = out, total, width

    def __call__(self, step: int, label: str, text: str, since: float) -> None:
        elapsed = time.perf_counter() - since
        print(f"{step}/{self.total} {label:<{self.width}} {text}  [{elapsed:.1f} s]", file=self.out, flush=True)


def _demo_data(data: Path, say: _Steps) -> None:
    """Step 1: scikit-learn's digits written as an ImageFolder (train and held-out val)."""
    from .data.digits import write_digits

    t = time.perf_counter()
    counts = write_digits(data)
    say(
        1,
        "data",
        f"{counts['train']} train / {counts['val']} held-out 8x8 digits written as an ImageFolder in {data}",
        t,
    )


def _demo_train(data: Path, run: Path, epochs, progress, say: _Steps, summary: dict):
    """Step 2: ``ghosthub.train`` with the demo recipe; the trainer logs a line per epoch (on stderr in the command)."""
    from .training.trainer import train

    t = time.perf_counter()
    result = train(RECIPE, data, run, epochs=epochs, progress=progress)
    best = result.best
    summary.update(
        train_top1=best.val_top1, train_seconds=time.perf_counter() - t, images_per_second=result.images_per_second
    )
    say(
        2,
        "train",
        f"recipe {RECIPE}: {len(result.epochs)} epochs at {result.images_per_second:.0f} img/s, "
        f"best val top-1 {best.val_top1:.2f}% (epoch {best.epoch})",
        t,
    )
    return result


def _demo_publish(result, hub: Path, work: Path, say: _Steps, summary: dict) -> None:
    """Step 3: the best checkpoint published into a hub folder, with its training provenance."""
    from .tasks.publish import publish

    t = time.perf_counter()
    best = result.best
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
    say(
        3, "publish", f"{MODEL_NAME} -> {published.asset_path.relative_to(work)} (sha256 {published.sha256[:16]}...)", t
    )


def _demo_load(url: str, cache: Path, work: Path, say: _Steps, summary: dict):
    """Step 4: the model loaded back from the served hub (download, SHA-256, strict load), ready to run."""
    from .client import Client
    from .tasks.ready import load_for_inference

    t = time.perf_counter()
    client = Client(hub=url, cache_dir=cache, progress=False)
    ready = load_for_inference(client, MODEL_NAME, mode="auto", fuse=True)  # compiled, BatchNorm folded
    cached = client.download(MODEL_NAME)  # a cache hit now: no connection
    summary["hub_url"] = url
    say(
        4,
        "load",
        f"ghosthub.load({MODEL_NAME!r}, hub={url!r}): downloaded, sha256 verified, strict load "
        f"({cached.stat().st_size / 2**20:.1f} MiB into {cache.relative_to(work)}/)",
        t,
    )
    return ready


def _demo_evaluate(ready, val: Path, say: _Steps, summary: dict):
    """Step 5: top-1 and top-5 on the held-out digits, labelled by the classes the card records."""
    from .data.imagefolder import scan_image_folder
    from .tasks.evaluate import evaluate_folder

    t = time.perf_counter()
    folder = scan_image_folder(val, classes=ready.classes)
    scores = evaluate_folder(ready.net, folder, ready.preprocessing, progress=False)
    summary.update(top1=scores.top1, top5=scores.top5, eval_images_per_second=scores.images_per_second)
    say(
        5,
        "eval",
        f"top-1 {scores.top1:.2f}%  top-5 {scores.top5:.2f}%  loss {scores.loss:.3f} on {scores.images} held-out "
        "digits "
        f"({scores.images_per_second:.0f} img/s)",
        t,
    )
    return folder


def _demo_predict(ready, folder, say: _Steps) -> None:
    """Step 6: the top class of six held-out digits, beside the true one."""
    from .data.transforms import make_transform
    from .tasks.inference import predict_images

    t = time.perf_counter()
    picked = folder.samples[:: max(1, len(folder.samples) // 6)][:6]
    samples = [folder.root / path for path, _ in picked]
    truth = [folder.classes[label] for _, label in picked]
    transform = make_transform(**ready.preprocessing._asdict())
    predictions = predict_images(ready.net, samples, transform, ready.class_names(), topk=1)
    shown = "  ".join(f"{true}->{p.top[0][1]} ({p.top[0][2]:.0%})" for true, p in zip(truth, predictions))
    say(6, "predict", f"true->predicted: {shown}", t)


BASE_NAME = "digits04_ghostnet_050"
FINETUNED_NAME = "digits59_10shot_ghostnet_050"
FINETUNE_RECIPE = "digits_finetune"
SHOTS = 10
WIN_POINTS = 10.0  # fine-tuning must beat training from scratch by this many top-1 points


def run_finetune_demo(
    workdir: str | os.PathLike | None = None,
    *,
    base_epochs: int | None = None,
    epochs: int | None = None,
    progress: bool | None = None,
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Fine-tuning from the hub, offline: pretrain on digits 0-4, fine-tune on 10 images of each of 5-9.

    The steps a user would run: train ``digits_demo`` on the digits 0-4 and publish it to a
    hub folder; serve it; fine-tune it from the hub (download, SHA-256 verification) with
    ``digits_finetune`` on a few-shot split of the digits 5-9 (``SHOTS`` training images per
    class); train the same recipe from scratch on the same split; evaluate both on the
    held-out 5-9 digits; publish the fine-tuned model, whose card names its base.

    Parameters
    ----------
    workdir : folder for the data, runs, hub and cache, kept (default: a temporary folder, removed at the end).
    base_epochs : pretrain this many epochs instead of ``digits_demo``'s.
    epochs : fine-tune (and train from scratch) this many epochs instead of ``digits_finetune``'s.
    progress : progress bars (default: on a terminal, unless ``GHOSTHUB_NO_PROGRESS=1``).
    out : where the summary goes.

    Returns
    -------
    dict
        ``finetuned_top1``, ``scratch_top1``, ``gain``, ``seconds`` of each step, the hub and the models' digests.
    """
    with _work_folder(workdir, "ghosthub-finetune-demo-") as work:
        return _finetune_demo(work, bool(workdir), base_epochs=base_epochs, epochs=epochs, progress=progress, out=out)


def _finetune_demo(work: Path, kept: bool, *, base_epochs, epochs, progress, out: TextIO) -> dict[str, Any]:
    """:func:`run_finetune_demo` in its work folder (``kept``: the user's, else a temporary one)."""
    from .client import Client
    from .data.digits import dataset_name, write_digits
    from .data.imagefolder import scan_image_folder
    from .hub.serve import serve
    from .tasks.evaluate import evaluate_folder
    from .tasks.publish import publish
    from .tasks.ready import network_preprocessing
    from .training.finetune import resolve_base, scratch_recipe
    from .training.recipe import Recipe, load_recipe
    from .training.trainer import train

    steps = 5
    hub, cache = work / "hub", work / "cache"
    started = time.perf_counter()
    summary: dict[str, Any] = {"workdir": str(work), "kept": kept, "base": BASE_NAME, "model": FINETUNED_NAME}

    say = _Steps(out, steps, width=9)
    print(
        f"ghosthub demo --finetune: pretrain on the digits 0-4, fine-tune from the hub on {SHOTS} images of each "
        f"of 5-9, offline; files in {work}" + ("" if kept else " (a temporary folder, removed at the end)"),
        file=out,
        flush=True,
    )
    t = time.perf_counter()
    pre_data, few_data = work / "digits0-4", work / f"digits5-9-{SHOTS}shot"
    pre_name, few_name = dataset_name((0, 4)), dataset_name((5, 9), SHOTS)
    pre_counts = write_digits(pre_data, classes=(0, 4))
    few_counts = write_digits(few_data, classes=(5, 9), shots=SHOTS)
    say(
        1,
        "data",
        f"digits 0-4: {pre_counts['train']} train images; digits 5-9: {few_counts['train']} train "
        f"({SHOTS} per class), {few_counts['val']} held out",
        t,
    )

    t = time.perf_counter()
    pre = train(
        load_recipe(RECIPE, dataset=pre_name), pre_data, work / "run-base", epochs=base_epochs, progress=progress
    )
    published = publish(
        pre.best_checkpoint,
        name=BASE_NAME,
        hub=hub,
        dataset=pre_name,
        provenance=pre.provenance,
        metrics={"top1": pre.best.val_top1, "top5": pre.best.val_top5},
        summary="GhostNet-0.5 trained on the digits 0-4 by `ghosthub demo --finetune` (the base model)",
        force=True,
    )
    summary.update(base_top1=pre.best.val_top1, base_sha256=published.sha256, base_seconds=time.perf_counter() - t)
    say(
        2,
        "pretrain",
        f"{RECIPE} on the digits 0-4: val top-1 {pre.best.val_top1:.2f}%; published {BASE_NAME} "
        f"(sha256 {published.sha256[:16]}...)",
        t,
    )

    def held_out(result) -> float:
        import gc

        from .weights.checkpoint import read_with_info
        from .weights.network import build_network

        params, info = read_with_info(result.best_checkpoint)
        net = build_network(info["backbone"], info["width"], params=params, checkpoint_path=result.best_checkpoint)
        try:
            folder = scan_image_folder(few_data / "val", classes=info.get("classes"))
            return evaluate_folder(net, folder, network_preprocessing(net, info), progress=False).top1
        finally:
            del net
            gc.collect()

    with serve(hub) as server:
        t = time.perf_counter()
        client = Client(hub=server.url, cache_dir=cache, progress=False)
        recipe = load_recipe(FINETUNE_RECIPE, pretrained=BASE_NAME, dataset=few_name)
        base = resolve_base(recipe, registry=client.registry, progress=False)  # downloaded and verified
        tuned = train(recipe, few_data, work / "run-finetune", epochs=epochs, progress=progress, base=base)
        summary.update(finetuned_top1=held_out(tuned), finetune_seconds=time.perf_counter() - t, hub_url=server.url)
    say(
        3,
        "finetune",
        f"{FINETUNE_RECIPE} from {BASE_NAME} (via {server.url}, sha256 verified): top-1 "
        f"{summary['finetuned_top1']:.2f}% on the {few_counts['val']} held-out digits 5-9",
        t,
    )

    t = time.perf_counter()
    # The very recipe the fine-tuning ran (the base's preprocessing filled in), from random weights.
    baseline = scratch_recipe(Recipe.from_dict(tuned.provenance["recipe"], source=FINETUNE_RECIPE))
    scratch = train(baseline, few_data, work / "run-scratch", progress=progress)
    summary.update(scratch_top1=held_out(scratch), scratch_seconds=time.perf_counter() - t)
    say(4, "scratch", f"the same recipe from random weights: top-1 {summary['scratch_top1']:.2f}%", t)

    t = time.perf_counter()
    final = publish(
        tuned.best_checkpoint,
        name=FINETUNED_NAME,
        hub=hub,
        dataset=few_name,
        provenance=tuned.provenance,
        metrics={"top1": summary["finetuned_top1"]},
        summary=f"{BASE_NAME} fine-tuned on {SHOTS} images of each of the digits 5-9 by `ghosthub demo --finetune`",
        force=True,
    )
    summary["sha256"] = final.sha256
    say(
        5,
        "publish",
        f"{FINETUNED_NAME} (base-model: {BASE_NAME})"
        + (f"; rebuild it with `ghosthub rebuild {FINETUNED_NAME} --hub {hub}`" if kept else ""),
        t,
    )

    summary["gain"] = summary["finetuned_top1"] - summary["scratch_top1"]
    summary["seconds"] = time.perf_counter() - started
    verdict = "reached" if summary["gain"] >= WIN_POINTS else "MISSED"
    print(
        f"done in {summary['seconds']:.0f} s: fine-tuned {summary['finetuned_top1']:.2f}% vs from scratch "
        f"{summary['scratch_top1']:.2f}% top-1 on held-out digits 5-9 ({summary['gain']:+.2f} points; {verdict} "
        f"the +{WIN_POINTS:g} target); " + _where_the_work_went(work, hub, kept=kept),
        file=out,
        flush=True,
    )
    return summary
