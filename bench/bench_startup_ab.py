"""A/B start-up of two checkouts: `import ghosthub`, `ghosthub list`, a cached download and a cached load.

Each figure is the wall time of a fresh interpreter, run from a folder outside both checkouts
(``python -c`` puts the current folder first on ``sys.path``) with ``PYTHONPATH`` naming the
checkout; the two checkouts alternate run by run, so both see the same machine load. Also
measured in the after checkout: a cached download that imports ``dataclasses`` first, the
cost a ``@dataclasses.dataclass`` Settings would add to every cache hit.

    python bench/bench_startup_ab.py --before /path/to/main [--after .] [--runs 21] [--load-runs 7]

The cache hit uses a card in a temporary folder whose asset is a random GhostNet-0.5
checkpoint written there (relative link, nothing fetched); the first download fills the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import median

REPO = Path(__file__).resolve().parent.parent

CARD = """---
model-name: bench_net
backbone-name: ghostnet
width: "0.5"
module-type: cv
fine-tunable: "True"
model-version: "1.0"
author: bench
update-time: "2026-01-01"
repo-link: https://example.org/bench
user-id: bench
used-for: inference
mindspore-version: "2.5"
license: Apache2.0
summary: a bench card
asset:
  - file-format: ckpt
    asset-link: weights/bench_net.ckpt
    asset-sha256: {sha}
---
# bench_net
"""

WRITE_CHECKPOINT = """
import sys, mindspore as ms
from ghosthub.architectures import create_model
ms.save_checkpoint(create_model("ghostnet", 0.5), sys.argv[1])
"""


def cases(cards: Path) -> dict[str, list[str]]:
    """Each measured command, as an argv."""
    py = sys.executable
    download = f"from ghosthub.api import download; download('bench_net', cards=[{str(cards)!r}])"
    return {
        "import ghosthub": [py, "-c", "import ghosthub"],
        "ghosthub list": [py, "-m", "ghosthub", "list"],
        "ghosthub download (cached, CLI)": [py, "-m", "ghosthub", "download", "bench_net", "--cards", str(cards)],
        "ghosthub.download (cached, Python)": [py, "-c", download],
        "ghosthub.load (cached)": [
            py,
            "-c",
            f"import ghosthub; ghosthub.load('bench_net', cards=[{str(cards)!r}])",
        ],
    }


def run_once(argv: list[str], tree: Path, env: dict, cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        argv,
        env={**env, "PYTHONPATH": str(tree)},
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, type=Path, help="the baseline checkout")
    parser.add_argument("--after", default=REPO, type=Path, help="the checkout measured against it (default: this)")
    parser.add_argument("--runs", type=int, default=21, help="runs of each short command per checkout")
    parser.add_argument("--load-runs", type=int, default=7, help="runs of the cached load per checkout")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs (shared: other work may be running)")
    for label, tree in trees.items():
        print(f"{label}: {tree}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cards, cwd = tmp / "cards", tmp / "cwd"
        (cards / "weights").mkdir(parents=True)
        cwd.mkdir()
        env = {**os.environ, "GLOG_v": "3", "GHOSTHUB_CACHE": str(tmp / "cache"), "XDG_DATA_HOME": str(tmp / "data")}
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")  # both trees compile once, as installed packages are
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        ckpt = cards / "weights" / "bench_net.ckpt"
        subprocess.run(
            [sys.executable, "-c", WRITE_CHECKPOINT, str(ckpt)],
            env={**env, "PYTHONPATH": str(trees["after"])},
            cwd=cwd,
            check=True,
        )
        (cards / "bench_net.md").write_text(CARD.format(sha=hashlib.sha256(ckpt.read_bytes()).hexdigest()))
        commands = cases(cards)
        for tree in trees.values():  # warm: bytecode compiled, the cache filled and its record written
            for argv in commands.values():
                run_once(argv, tree, env, cwd)

        print(f"\n{'':<40} {'before':>9} {'after':>9} {'after/before':>13}   (median s)")
        for name, argv in commands.items():
            runs = args.load_runs if name.startswith("ghosthub.load") else args.runs
            times: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(runs):
                for label, tree in trees.items():
                    times[label].append(run_once(argv, tree, env, cwd))
            before, after = median(times["before"]), median(times["after"])
            print(f"{name:<40} {before:9.3f} {after:9.3f} {after / before:13.3f}   n={runs}")
        with_dataclasses = [
            sys.executable,
            "-c",
            "import dataclasses; " + commands["ghosthub.download (cached, Python)"][2],
        ]
        plain, costly = [], []
        for _ in range(args.runs):
            plain.append(run_once(commands["ghosthub.download (cached, Python)"], trees["after"], env, cwd))
            costly.append(run_once(with_dataclasses, trees["after"], env, cwd))
        print(
            f"\nafter, cached ghosthub.download: {median(plain):.3f} s; with `import dataclasses` first "
            f"{median(costly):.3f} s (+{(median(costly) - median(plain)) * 1000:.1f} ms), n={args.runs}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
