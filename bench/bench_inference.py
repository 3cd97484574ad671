"""Inference throughput: ghosthub's GhostNet vs MindCV's, same weights and input, CPU, PyNative and graph mode.

Usage::

    GLOG_v=3 python bench/bench_inference.py [--width 0.5] [--batch-sizes 1 32] [--runs 7] [--json OUT]

MindSpore's execution mode is process-global, so every (implementation, mode) pair runs in a
fresh subprocess of this script (``--worker``) that prints one JSON line; the parent prints the
table and the ghosthub/mindcv ratios. Figures are medians of timed runs after warm-up; the first
call (graph compilation in graph mode) is reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

IMPLS = ("ghosthub", "mindcv")
MODES = ("pynative", "graph")
VARIANTS = {0.5: "ghostnet_050", 1.0: "ghostnet_100", 1.3: "ghostnet_130"}


def _build(impl: str, width: float):
    if impl == "ghosthub":
        from ghosthub.models import create_model

        return create_model("ghostnet", width)
    import mindcv

    return mindcv.create_model(VARIANTS[width])


def _fill(net, seed: int = 0) -> None:
    """Deterministic weights by parameter name: both implementations share names, so get equal values."""
    import mindspore as ms
    import numpy as np

    rng = np.random.default_rng(seed)
    for name, p in sorted(net.parameters_dict().items()):
        value = rng.standard_normal(p.shape).astype(np.float32) * 0.05
        if name.endswith(("moving_variance", "gamma")):
            value = np.abs(value) + 0.5
        p.set_data(ms.Tensor(value))


def worker(args) -> dict:
    """Time one implementation in one mode; return the figures as a dict."""
    import mindspore as ms
    import numpy as np

    ms.set_context(mode=ms.GRAPH_MODE if args.mode == "graph" else ms.PYNATIVE_MODE, device_target="CPU")
    t0 = time.perf_counter()
    net = _build(args.impl, args.width)
    build_s = time.perf_counter() - t0
    _fill(net)
    net.set_train(False)
    rng = np.random.default_rng(1)
    result = {"impl": args.impl, "mode": args.mode, "width": args.width, "build_s": build_s, "batches": {}}
    for batch in args.batch_sizes:
        x = ms.Tensor(rng.standard_normal((batch, 3, args.size, args.size)).astype(np.float32))
        t0 = time.perf_counter()
        logits = net(x).asnumpy()
        first_s = time.perf_counter() - t0
        for _ in range(args.warmup):
            net(x).asnumpy()
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            net(x).asnumpy()
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        result["batches"][str(batch)] = {
            "first_call_s": first_s,
            "median_s": median,
            "images_per_s": batch / median,
            "logits_head": logits[0, :8].tolist(),
            "logits_sum": float(logits.sum()),
        }
    del net
    import gc

    gc.collect()
    return result


def _run_worker(impl: str, mode: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--impl", impl, "--mode", mode,
           "--width", str(args.width), "--size", str(args.size), "--runs", str(args.runs),
           "--warmup", str(args.warmup), "--batch-sizes", *map(str, args.batch_sizes)]
    env = {**os.environ, "GLOG_v": os.environ.get("GLOG_v", "3")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"worker {impl}/{mode} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.5, choices=sorted(VARIANTS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per batch size (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs after the first call")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--json", help="also write all figures to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return

    import numpy as np

    results = {}
    for mode in args.modes:
        for impl in IMPLS:
            print(f"running {impl:8s} {mode:8s} ...", file=sys.stderr, flush=True)
            results[impl, mode] = _run_worker(impl, mode, args)

    print(f"\nGhostNet width {args.width}, {args.size}x{args.size}, CPU, median of {args.runs} runs "
          f"after {args.warmup} warm-up (images/s; first call = compile in graph mode)")
    print(f"{'mode':9s}{'batch':>6s}{'ghosthub':>11s}{'mindcv':>11s}{'ratio':>8s}"
          f"{'1st call gh/mc (s)':>22s}{'max|dlogit|':>13s}")
    for mode in args.modes:
        ours, ref = results["ghosthub", mode], results["mindcv", mode]
        for batch in map(str, args.batch_sizes):
            a, b = ours["batches"][batch], ref["batches"][batch]
            diff = float(np.abs(np.subtract(a["logits_head"], b["logits_head"])).max())
            print(f"{mode:9s}{batch:>6s}{a['images_per_s']:11.1f}{b['images_per_s']:11.1f}"
                  f"{a['images_per_s'] / b['images_per_s']:8.2f}x"
                  f"{a['first_call_s']:11.2f}/{b['first_call_s']:<9.2f}{diff:12.1e}")
    for impl in IMPLS:
        for batch in map(str, args.batch_sizes):
            rates = {m: results[impl, m]["batches"][batch]["images_per_s"] for m in args.modes}
            best = max(rates, key=rates.get)
            print(f"{impl} batch {batch}: fastest mode {best} "
                  + ", ".join(f"{m} {r:.1f}" for m, r in rates.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([results[k] for k in sorted(results)], f, indent=1)


if __name__ == "__main__":
    main()
