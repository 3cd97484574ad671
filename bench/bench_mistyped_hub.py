"""Benchmark a mistyped hub: `ghosthub list` with GHOSTHUB_HUB on a port nothing listens on, nothing cached.

Target: median <= 2 s (a refused connection is reported at once, not retried with backoff);
the baseline is `ghosthub list` with no hub, measured in the same run. Each run has an empty
cache of its own, so no remembered failure shortens it.

With ``--before CHECKOUT`` the same command of another checkout (e.g. main) runs too, taking
turns with this one, from a temporary folder outside both (``python -m`` puts the current
folder first on sys.path).

    python bench/bench_mistyped_hub.py [--runs 7] [--before /path/to/main]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import median, report

REPO = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_list(checkout: Path, hub: str | None, folder: Path) -> float:
    """Wall time of one fresh `ghosthub list` of ``checkout`` with an empty cache (and ``hub`` if given)."""
    with tempfile.TemporaryDirectory(dir=folder) as cache:
        env = {**os.environ, "GLOG_v": "3", "PYTHONPATH": str(checkout), "GHOSTHUB_CACHE": cache}
        env.pop("GHOSTHUB_HUB", None)
        if hub:
            env["GHOSTHUB_HUB"] = hub
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "ghosthub", "list"],
            env=env,
            cwd=folder,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--before", type=Path, help="another checkout to time the same way")
    args = parser.parse_args()
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    hub = f"http://127.0.0.1:{closed_port()}/"
    checkouts = {"after": REPO} | ({"before": args.before.resolve()} if args.before else {})
    times: dict[str, list[float]] = {f"{k} {case}": [] for k in checkouts for case in ("no hub", "mistyped hub")}
    with tempfile.TemporaryDirectory() as folder:
        for checkout in checkouts.values():  # untimed: bytecode written, files in the page cache
            run_list(checkout, None, Path(folder))
        for _ in range(args.runs):
            for label, checkout in checkouts.items():
                times[f"{label} no hub"].append(run_list(checkout, None, Path(folder)))
                times[f"{label} mistyped hub"].append(run_list(checkout, hub, Path(folder)))
    for name, values in times.items():
        report(f"ghosthub list, {name} ({hub if 'mistyped' in name else 'bundled cards'})", values)
    after = median(times["after mistyped hub"])
    ratio = after / median(times["after no hub"])
    print(f"mistyped hub, this checkout: {after:.2f} s (target <= 2 s: {'met' if after <= 2 else 'NOT met'}), ", end="")
    print(f"{ratio:.1f}x a `ghosthub list` without a hub")
    if args.before:
        before = median(times["before mistyped hub"])
        print(f"mistyped hub, --before checkout: {before:.2f} s ({before / after:.0f}x this checkout's)")


if __name__ == "__main__":
    main()
