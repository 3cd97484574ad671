"""Benchmark fine-tuning from the hub: accuracy gain over training from scratch, throughput, rebuild.

1. ``ghosthub demo --finetune`` (in this process): pretrain GhostNet-0.5 on the digits 0-4 and
   publish it, fine-tune it from the hub with ``digits_finetune`` on 10 images of each of the
   digits 5-9, train the same recipe from scratch on the same split; top-1 of both on the
   held-out 5-9 digits and the wall time of each step. Target: fine-tuned >= scratch + 10.
2. Training images/s with the backbone frozen (``freeze: backbone``: no backbone gradients)
   against full fine-tuning, same recipe, data and base, each in a fresh process; the median
   over epochs after the first (which compiles the graph), and the ratio.
3. ``verify --rebuild`` of the fine-tuned asset in a fresh process: the base found by its digest
   in the cache, the SHA-256 reproduced, and its wall time.

    python bench/bench_finetune.py [--workdir DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

THROUGHPUT = r"""
import json, sys
from ghosthub.client import Client
from ghosthub.training.finetune import resolve_base
from ghosthub.training.recipe import load_recipe
from ghosthub.training.trainer import train
hub, cache, data, out, freeze, epochs = sys.argv[1:7]
frozen = {"freeze": "backbone", "freeze_epochs": 0}
changes = frozen if freeze == "1" else {"freeze_epochs": 0, "backbone_lr_scale": 1.0}
recipe = load_recipe("digits_finetune", pretrained="digits04_ghostnet_050", epoch_size=int(epochs), **changes)
base = resolve_base(recipe, registry=Client(hub=hub, cache_dir=cache, progress=False).registry)
result = train(recipe, data, out, base=base, progress=False)
rates = [e.images_per_second for e in result.epochs if e.images_per_second]
print(json.dumps({"rates": rates, "seconds": [e.seconds for e in result.epochs]}))
"""

REBUILD = r"""
import json, sys, time
from ghosthub.client import Client
from ghosthub.training.rebuild import rebuild_model
hub, cache, work = sys.argv[1:4]
t = time.perf_counter()
client = Client(hub=hub, cache_dir=cache, progress=False)
report = rebuild_model(client, "digits59_10shot_ghostnet_050", workdir=work)
print(json.dumps({"matches": report.matches, "expected": report.expected_sha256, "actual": report.actual_sha256,
                  "seconds": time.perf_counter() - t}))
"""


def run_json(code: str, *args: str) -> dict:
    env = {**os.environ, "GLOG_v": "3", "GHOSTHUB_NO_PROGRESS": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    import statistics

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="where data, runs, hub and cache go (default: a temporary folder)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each throughput run (default 4)")
    args = parser.parse_args()
    os.environ.setdefault("GHOSTHUB_NO_PROGRESS", "1")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="ghosthub-bench-finetune-"))

    from ghosthub.demo import run_finetune_demo

    t = time.perf_counter()
    summary = run_finetune_demo(work)
    print(f"\n1. few-shot digits 5-9 (10 images per class), top-1 on {work}/digits5-9-10shot/val:")
    print(f"   fine-tuned from the hub  {summary['finetuned_top1']:6.2f}%  in {summary['finetune_seconds']:6.1f} s")
    print(f"   from scratch             {summary['scratch_top1']:6.2f}%  in {summary['scratch_seconds']:6.1f} s")
    print(
        f"   gain {summary['gain']:+.2f} points (target >= +10); pretraining {summary['base_seconds']:.1f} s; "
        f"whole demo {time.perf_counter() - t:.1f} s"
    )

    hub, cache, data = str(work / "hub"), str(work / "cache"), str(work / "digits5-9-10shot")
    rates = {}
    for label, freeze in (("frozen backbone (linear probe)", "1"), ("full fine-tuning", "0")):
        got = run_json(THROUGHPUT, hub, cache, data, str(work / f"throughput-{freeze}"), freeze, str(args.epochs))
        rates[label] = statistics.median(got["rates"])
        print(
            f"2. {label:<32} median {rates[label]:7.1f} img/s over epochs 2-{args.epochs} "
            f"(epoch seconds {', '.join(f'{s:.1f}' for s in got['seconds'])})"
        )
    frozen, full = rates.values()
    print(f"   ratio frozen / full: {frozen / full:.2f}x")

    got = run_json(REBUILD, hub, cache, str(work / "rebuild"))
    print(
        f"3. verify --rebuild digits59_10shot_ghostnet_050: {'MATCH' if got['matches'] else 'MISMATCH'} "
        f"sha256 {got['actual']} (card {got['expected']}) in {got['seconds']:.1f} s"
    )
    return 0 if got["matches"] and summary["gain"] >= 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
