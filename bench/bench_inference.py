"""Inference throughput: ghosthub's GhostNet vs MindCV's, same weights and input, CPU, PyNative and graph mode.

Usage::

    GLOG_v=3 python bench/bench_inference.py [--width 0.5] [--batch-sizes 1 32] [--runs 7] [--json OUT]

MindSpore's execution mode is process-global, so each mode runs in a fresh subprocess of this
script (``--worker``) that prints one JSON line; the parent prints the table and the
ghosthub/mindcv ratios. Inside a worker both networks get the same weights and input and their
timed runs alternate, so a busy machine slows both alike. Figures are medians after warm-up; the
first call (graph compilation in graph mode) is reported apart, with the logits' difference.
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
    """Time both implementations in one mode, alternating their runs so load noise hits both alike."""
    import mindspore as ms
    import numpy as np

    ms.set_context(mode=ms.GRAPH_MODE if args.mode == "graph" else ms.PYNATIVE_MODE, device_target="CPU")
    nets, result = {}, {"mode": args.mode, "width": args.width}
    for impl in IMPLS:
        t0 = time.perf_counter()
        nets[impl] = _build(impl, args.width)
        result[impl] = {"build_s": time.perf_counter() - t0, "batches": {}}
        _fill(nets[impl])
        nets[impl].set_train(False)
    rng = np.random.default_rng(1)
    for batch in args.batch_sizes:
        x = ms.Tensor(rng.standard_normal((batch, 3, args.size, args.size)).astype(np.float32))
        times, first, logits = {}, {}, {}
        for impl, net in nets.items():
            t0 = time.perf_counter()
            logits[impl] = net(x).asnumpy()
            first[impl] = time.perf_counter() - t0
            for _ in range(args.warmup):
                net(x).asnumpy()
            times[impl] = []
        for i in range(args.runs):
            for impl in IMPLS if i % 2 == 0 else IMPLS[::-1]:  # swap who goes first each round
                t0 = time.perf_counter()
                nets[impl](x).asnumpy()
                times[impl].append(time.perf_counter() - t0)
        diff = float(np.abs(logits["ghosthub"] - logits["mindcv"]).max())
        for impl in IMPLS:
            median = statistics.median(times[impl])
            result[impl]["batches"][str(batch)] = {
                "first_call_s": first[impl], "median_s": median, "images_per_s": batch / median,
                "max_abs_logit_diff": diff,
            }
    del nets
    import gc

    gc.collect()
    return result


def _run_worker(mode: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--mode", mode,
           "--width", str(args.width), "--size", str(args.size), "--runs", str(args.runs),
           "--warmup", str(args.warmup), "--batch-sizes", *map(str, args.batch_sizes)]
    env = {**os.environ, "GLOG_v": os.environ.get("GLOG_v", "3")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"worker {mode} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
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
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return

    results = {}
    for mode in args.modes:
        print(f"running {mode} ...", file=sys.stderr, flush=True)
        results[mode] = _run_worker(mode, args)

    print(f"\nGhostNet width {args.width}, {args.size}x{args.size}, CPU, images/s: median of {args.runs} "
          f"alternating runs after {args.warmup} warm-up; first call = graph compilation in graph mode")
    print(f"{'mode':9s}{'batch':>6s}{'ghosthub':>11s}{'mindcv':>11s}{'ratio':>8s}"
          f"{'1st call gh/mc (s)':>22s}{'max|dlogit|':>13s}")
    for mode in args.modes:
        ours, ref = results[mode]["ghosthub"], results[mode]["mindcv"]
        for batch in map(str, args.batch_sizes):
            a, b = ours["batches"][batch], ref["batches"][batch]
            print(f"{mode:9s}{batch:>6s}{a['images_per_s']:11.1f}{b['images_per_s']:11.1f}"
                  f"{a['images_per_s'] / b['images_per_s']:8.2f}x"
                  f"{a['first_call_s']:11.2f}/{b['first_call_s']:<9.2f}{a['max_abs_logit_diff']:12.1e}")
    for impl in IMPLS:
        for batch in map(str, args.batch_sizes):
            rates = {m: results[m][impl]["batches"][batch]["images_per_s"] for m in args.modes}
            print(f"{impl} batch {batch}: fastest mode {max(rates, key=rates.get)} ("
                  + ", ".join(f"{m} {r:.1f}" for m, r in rates.items()) + ")")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
