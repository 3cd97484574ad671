"""Benchmark a hub's pages: their bytes, the cost they add to a publish, and the browser's time to show them.

Figures (issue 25): the bytes of the pages of a 2-model and a 1,000-model hub; the time to
render every page of a 1,000-model hub from nothing; the time to publish one model into a
1,000-model hub with pages against without (the same publish with the page step left out,
alternated run by run on two copies of the hub); the time headless Chromium takes to show
the index of 1,000 models, served by ``ghosthub serve``, and to filter it.

The 2-model hub is two real publishes (one fine-tuned from the other, with a recorded
history); the 1,000-model hub adds 998 cards in the published form, each with a 30-epoch
training record, beside a real asset. ``--screenshot PATH`` saves the 2-model hub's index
as the README shows it.

    python bench/bench_pages.py [--models 1000] [--runs 7] [--screenshot docs/hub-index.png]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import median, report

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("GLOG_v", "3")


def history(seed: int, epochs: int = 30) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_loss": round(2.3 * math.exp(-e / (8 + seed % 5)) + 0.05, 4),
            "val_loss": round(2.2 * math.exp(-e / (9 + seed % 3)) + 0.15, 4),
            "val_top1": round(98 - 80 * math.exp(-e / 6), 2),
            "val_top5": round(100 - 40 * math.exp(-e / 3), 2),
            "lr": round(0.1 * (1 + math.cos(math.pi * e / epochs)) / 2, 6),
        }
        for e in range(1, epochs + 1)
    ]


def checkpoint(folder: Path, seed: int) -> Path:
    import mindspore as ms

    from ghosthub.architectures import create_model

    ms.set_seed(seed)
    path = folder / f"seed{seed}.ckpt"
    ms.save_checkpoint(create_model("ghostnet", 0.5, num_classes=10), str(path))
    return path


def two_model_hub(root: Path, work: Path) -> None:
    import datetime

    from ghosthub.tasks.publish import publish

    today = datetime.date(2026, 12, 8)
    base = {"seed": 0, "epochs": 30, "best_epoch": 30, "history": history(0)}
    publish(
        checkpoint(work, 1),
        name="ghostnet_050_digits",
        hub=root,
        width=0.5,
        dataset="sklearn-digits",
        metrics={"top1": 97.49, "top5": 99.86},
        provenance=base,
        today=today,
        summary="GhostNet-0.5 trained on scikit-learn's handwritten digits",
    )
    tuned = {**base, "seed": 1, "epochs": 12, "best_epoch": 11, "history": history(1, 12)}
    tuned.update(base_model="ghostnet_050_digits", base_sha256="ab" * 32)
    publish(
        checkpoint(work, 2),
        name="ghostnet_050_digits_ft",
        hub=root,
        width=0.5,
        dataset="digits-grey",
        metrics={"top1": 96.1, "top5": 99.7},
        provenance=tuned,
        today=today,
        summary="fine-tuned from ghostnet_050_digits on grey-scale digits",
    )


def grow(root: Path, total: int) -> None:
    """Add cards in the published form (each with a training record) until the hub lists ``total`` models."""
    from ghosthub.hub.index import INDEX, index_bytes, model_entry, read_index
    from ghosthub.modelcard import parse_card, render_card
    from ghosthub.modelcard.provenance import provenance_block

    index = read_index(root / INDEX)
    seed_name = sorted(index["models"])[0]
    seed_card = parse_card((root / "cards" / f"{seed_name}.md").read_bytes())
    seed_entry = index["models"][seed_name]
    for i in range(total - len(index["models"])):
        name = f"net_{i:04d}"
        record = {"seed": i, "epochs": 30, "best_epoch": 30, "history": history(i)}
        fields = {
            "model-name": name,
            "evaluation": f"top1acc{60 + i % 40}.25 | top5acc{85 + i % 15}.50",
            "train-dataset": ("imagenet", "digits", "pets")[i % 3],
        }
        if i % 4:
            fields["base-model"] = f"net_{i // 4:04d}"
        card = seed_card.replace(title=name, body=f"# {name}\n" + provenance_block(name, record), **fields)
        text = render_card(card).encode()
        (root / "cards" / f"{name}.md").write_bytes(text)
        index["models"][name] = model_entry(parse_card(text), hashlib.sha256(text).hexdigest(), seed_entry["assets"])
    (root / INDEX).write_bytes(index_bytes(index))


def page_bytes(root: Path) -> tuple[int, int, int]:
    """(all pages, index.html, the largest model page) in bytes."""
    models = [p.stat().st_size for p in (root / "models").glob("*.html")]
    index = (root / "index.html").stat().st_size
    return index + sum(models), index, max(models)


def publish_times(with_pages: Path, without: Path, work: Path, runs: int) -> tuple[list[float], list[float]]:
    """One publish at a time into each copy of the hub, alternated: (with pages, with the page step left out)."""
    import ghosthub.tasks.publish as publish_module

    real = publish_module.stage_pages
    ckpt = checkpoint(work, 3)
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(runs + 1):  # the first round warms both up, untimed
        for pages, root in ((True, with_pages), (False, without)):
            publish_module.stage_pages = real if pages else (lambda *a, **k: [])
            start = time.perf_counter()
            publish_module.publish(ckpt, name=f"new_{i:02d}", hub=root, width=0.5, provenance=None)
            if i:
                times[pages].append(time.perf_counter() - start)
    publish_module.stage_pages = real
    return times[True], times[False]


def browser(width: int = 1280, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        f"--user-data-dir={tempfile.mkdtemp(prefix='bench-chromium-')}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))


def serve(root: Path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ghosthub", "serve", str(root), "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    return proc, line.split(" at ")[1].split(";")[0].split(" ")[0]


def browser_times(root: Path, models: int, runs: int) -> tuple[list[float], list[float]]:
    """(seconds from navigation to the table shown and its script done, seconds to filter it) per load."""
    proc, url = serve(root)
    driver = browser()
    shown, filtered = [], []
    try:
        for i in range(runs + 1):
            start = time.perf_counter()
            driver.get(f"{url}index.html?run={i}")  # returns once the load event has fired
            count = driver.find_element("id", "count").text
            elapsed = time.perf_counter() - start
            assert count == f"{models} of {models} models", count
            ms = driver.execute_script(
                "var f = document.getElementById('filter'), t = performance.now();"
                "f.value = 'net_01'; f.dispatchEvent(new Event('input'));"
                "document.body.offsetHeight;"  # the new layout, not only the script's work
                "return performance.now() - t;"
            )
            if i:  # the first load warms the browser up
                shown.append(elapsed)
                filtered.append(ms / 1000)
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)
    return shown, filtered


def screenshot(root: Path, out: Path) -> None:
    """The 2-model hub's index as the README shows it: cropped to the page's content, a small palette PNG."""
    from PIL import Image

    proc, url = serve(root)
    driver = browser(1400, 900)
    try:
        driver.get(url + "index.html")
        png = driver.get_screenshot_as_png()
        bottom = driver.execute_script("return document.querySelector('main').getBoundingClientRect().bottom")
        ratio = driver.execute_script("return window.devicePixelRatio")
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.crop((0, 0, image.size[0], min(image.size[1], int((bottom + 24) * ratio))))
    out.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=64).save(out, optimize=True)
    print(
        f"{'screenshot of the 2-model index':<58} {out} ({out.stat().st_size} bytes, {image.size[0]}x{image.size[1]})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--screenshot", type=Path, help="save the 2-model hub's index page here (PNG)")
    args = parser.parse_args()

    from ghosthub.hub.index import INDEX, read_index
    from ghosthub.hub.site import refresh_pages

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"cpu: {cpu}\npython {sys.version.split()[0]}, {args.runs} runs each, medians\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = tmp / "small"
        two_model_hub(small, tmp)
        total, index, largest = page_bytes(small)
        print(f"{'pages of the 2-model hub':<58} {total:8d} B  (index.html {index} B, largest model page {largest} B)")
        if args.screenshot:
            screenshot(small, args.screenshot)

        big = tmp / "big"
        shutil.copytree(small, big)
        shutil.rmtree(big / "models")
        (big / "index.html").unlink()
        grow(big, args.models)
        start = time.perf_counter()
        written = refresh_pages(big)
        first = time.perf_counter() - start
        assert len(written) == args.models + 1, len(written)
        total, index, largest = page_bytes(big)
        print(
            f"{f'pages of the {args.models}-model hub':<58} {total:8d} B  (index.html {index} B, "
            f"largest model page {largest} B)"
        )
        print(f"{f'render and write every page of the {args.models}-model hub':<58} {first:8.3f} s")
        start = time.perf_counter()
        assert refresh_pages(big) == []
        print(f"{'check them all again (nothing to write)':<58} {time.perf_counter() - start:8.3f} s")

        bare = tmp / "bare"
        shutil.copytree(big, bare, ignore=shutil.ignore_patterns("models", "index.html"))
        with_pages, without = publish_times(big, bare, tmp, args.runs)
        report(f"publish one model into {args.models} models, with pages", with_pages)
        report(f"publish one model into {args.models} models, without pages", without)
        print(
            f"{'pages cost per publish':<58} {median(with_pages) - median(without):8.3f} s  "
            f"({median(with_pages) / median(without):.2f}x)"
        )

        if shutil.which("chromium") and shutil.which("chromedriver"):
            listed = len(read_index(big / INDEX)["models"])  # the publishes above added a few
            shown, filtered = browser_times(big, listed, args.runs)
            report(f"Chromium: index of {args.models}+ models shown (load, script done)", shown)
            report("Chromium: filter that table (one input event, to layout)", filtered)
        else:
            print("Chromium or chromedriver not installed: no browser figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
