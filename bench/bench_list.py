"""Benchmark `ghosthub list`: a fresh process vs mindcv.list_models, and a folder of 10,000 cards.

Targets: median `ghosthub list` <= 0.25 s and >= 8x faster than
`python -c "import mindcv; mindcv.list_models('ghost*')"` in the same run;
`ghosthub list --cards DIR` over 10,000 cards <= 1.5 s median, second run included.

With ``--against CHECKOUT``: `ghosthub list` (the bundled cards, warm parse index) of another
checkout (A, e.g. main) against this one (B), in fresh processes taking turns, from a temporary
folder outside both (``python -m`` puts the current folder first on sys.path); target B <= A.

    python bench/bench_list.py [--runs 15] [--cards 10000]
    python bench/bench_list.py --against ../main [--runs 21]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

from _util import ghosthub_cmd, median, report, time_process

REPO = Path(__file__).resolve().parent.parent


def make_cards(folder: Path, count: int) -> None:
    """Write ``count`` valid cards shaped like the seed card, each with its own name and digest."""
    sys.path.insert(0, str(REPO))
    from ghosthub.modelcard import load_card, render_card

    seed = load_card(REPO / "cards" / "ghostnet_050.md")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = f"bench_net_{i:05d}"
        asset = [{"file-format": "ckpt", "asset-link": f"https://example.org/{name}.ckpt", "asset-sha256": f"{i:08x}"}]
        card = seed.replace(
            title=name, **{"model-name": name, "asset": asset, "evaluation": f"top1acc{i % 100}.5 | top5acc90.1"}
        )
        (folder / f"{name}.md").write_text(render_card(card), encoding="utf-8")


def compare(other: Path, runs: int) -> int:
    """`ghosthub list` of ``other`` (A) and of this checkout (B), fresh processes taking turns, warm caches."""
    import os

    checkouts = {"A": other.resolve(), "B": REPO}
    print(f"python {sys.version.split()[0]}, {runs} runs each, taking turns, medians; CPU {cpu_model()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        envs = {
            key: {
                "GHOSTHUB_CACHE": str(tmp / key / "cache"),
                "XDG_DATA_HOME": str(tmp / key / "data"),
                "PYTHONPATH": str(path),
            }
            for key, path in checkouts.items()
        }
        for key, path in checkouts.items():
            cards = len(os.listdir(path / "cards"))
            print(f"  {key}: {path} ({cards} bundled cards)")
            time_process(ghosthub_cmd("list"), runs=0, warmup=2, env=envs[key], cwd=tmp)  # parse index, bytecode
        times: dict[str, list[float]] = {"A": [], "B": []}
        for _ in range(runs):
            for key in times:
                times[key] += time_process(ghosthub_cmd("list"), runs=1, warmup=0, env=envs[key], cwd=tmp)
    print()
    for key in times:
        ms = [1000 * t for t in times[key]]
        print(
            f"{key}: ghosthub list   median {median(ms):6.1f} ms  (min {min(ms):.1f}, max {max(ms):.1f}, n={len(ms)})"
        )
    ratio = median(times["B"]) / median(times["A"])
    print(f"{'B / A':<58} {ratio:8.2f} x   (target <= 1.0, noise a few %)")
    return 0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--against", type=Path, metavar="CHECKOUT", help="A/B against another checkout's list")
    args = parser.parse_args()
    if args.against:
        return compare(args.against, args.runs)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {"GHOSTHUB_CACHE": str(tmp / "cache"), "XDG_DATA_HOME": str(tmp / "data"), "PYTHONPATH": str(REPO)}

        print(f"python {sys.version.split()[0]}, {args.runs} runs each, medians; CPU {cpu_model()}\n")
        small = time_process(ghosthub_cmd("list"), runs=args.runs, env=env, cwd=tmp)
        report("ghosthub list (fresh process)", small)
        if importlib.util.find_spec("mindcv"):
            mindcv = time_process(
                [sys.executable, "-c", "import mindcv; mindcv.list_models('ghost*')"],
                runs=max(3, args.runs // 3),
                env=env,
                cwd=tmp,
            )
            report("python -c 'import mindcv; mindcv.list_models(\"ghost*\")'", mindcv)
            print(f"{'speed-up over mindcv':<58} {median(mindcv) / median(small):8.1f} x   (target >= 8x)")
        else:
            print("mindcv is not installed: `pip install mindcv==0.3.0` for the baseline")
        print(f"{'target: ghosthub list <= 0.25 s':<58} {'met' if median(small) <= 0.25 else 'NOT MET'}\n")

        folder = tmp / "many"
        make_cards(folder, args.cards)
        cold = time_process(ghosthub_cmd("list", "--cards", str(folder)), runs=1, warmup=0, env=env, cwd=tmp)
        report(f"ghosthub list --cards DIR ({args.cards} cards), first run", cold)
        warm = time_process(
            ghosthub_cmd("list", "--cards", str(folder)), runs=max(3, args.runs // 3), warmup=0, env=env, cwd=tmp
        )
        report(f"ghosthub list --cards DIR ({args.cards} cards), later runs", warm)
        every = cold + warm
        report("  all runs, first included", every)
        print(f"{'target: <= 1.5 s median, second run included':<58} {'met' if median(every) <= 1.5 else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
