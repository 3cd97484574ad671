"""Small helpers shared by the bench scripts: timing fresh processes, medians, printing."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

# Children may write bytecode, as an installed package has it (pip compiles on install): a shell
# with PYTHONDONTWRITEBYTECODE=1 would otherwise time compiling ghosthub's sources on every run.
_PYCACHE = os.path.join(tempfile.gettempdir(), f"ghosthub-bench-pycache-{os.getuid() if hasattr(os, 'getuid') else 0}")


def time_process(argv, *, runs: int, env=None, cwd=None, warmup: int = 1) -> list[float]:
    """Wall times (s) of ``runs`` fresh processes, after ``warmup`` untimed ones."""
    env = {**os.environ, "GLOG_v": "3", "PYTHONPYCACHEPREFIX": _PYCACHE, **(env or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def median(values) -> float:
    return statistics.median(values)


def report(name: str, values, unit: str = "s") -> None:
    values = list(values)
    print(
        f"{name:<58} median {median(values):8.3f} {unit}  (min {min(values):.3f}, max {max(values):.3f}, "
        f"n={len(values)})"
    )


def ghosthub_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ghosthub", *args]
