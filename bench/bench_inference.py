"""Inference throughput on CPU: ghosthub's runtime options (ISA pin, compiled, BN fused, onnxruntime) vs MindCV.

Usage::

    GLOG_v=3 python bench/bench_inference.py [--width 0.5] [--batch-sizes 1 32] [--runs 7] [--json OUT]
                                             [--configs NAME ...]

Every row runs in a fresh subprocess of this script (``--worker``) that prints one JSON line,
because oneDNN fixes its instruction set and MindSpore its execution mode once per process. The
children get no ``ONEDNN_MAX_CPU_ISA`` unless the row pins it, as a user's shell has it. All rows
use the same weights (filled by parameter name, which both implementations share) and inputs.

Figures are medians of ``--runs`` timed calls after the first call and ``--warmup`` more (the
first call, with compilation where there is one, is reported apart). With ``--rounds R`` every
row runs R times, the rows interleaved round by round (each round with a fresh cache folder), and
the table shows the median over rounds, with the spread: on a shared machine the load changes
between processes (onnxruntime alone measured 122 and 390 img/s at batch 32 minutes apart). The
ratios compare rows of the same run. ``max|dlogit|`` is each row's batch-1 logits against plain PyNative ghosthub
(``gh-pynative-native``). Rows:

- ``mindcv-pynative`` / ``mindcv-graph``: ``mindcv.create_model(...)`` then ``net(x)``, no pin.
- ``gh-pynative-native``: ghosthub's network, PyNative, oneDNN unpinned (``GHOSTHUB_CPU_ISA=native``).
- ``gh-pynative-avx2`` (+ ``-fused``): ISA pinned by ``ghosthub.runtime.pin_cpu_isa`` (+ BN folded).
- ``gh-compiled-native`` / ``gh-compiled-avx2`` (+ ``-fused``): forward compiled by
  ``ghosthub.runtime.compile_network`` (``mindspore.jit``), no compile cache.
- ``gh-default-cold`` / ``gh-default-warm``: what ``ghosthub.load`` is to do by default: pin,
  fuse, compile with the compile cache in a fresh folder (cold), then again in a new process (warm).
- ``ort-bare``: onnxruntime on the exported ONNX, numpy in and out.
- ``gh-onnxruntime``: ``ghosthub.runtime.onnx_network`` (MindSpore tensors in and out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = {0.5: "ghostnet_050", 1.0: "ghostnet_100", 1.3: "ghostnet_130"}
REFERENCE = "gh-pynative-native"
# name: (implementation, mode, ISA, BN fused, compile cache: None | "cold" | "warm")
CONFIGS = {
    "mindcv-pynative": ("mindcv", "pynative", "native", False, None),
    "mindcv-graph": ("mindcv", "graph", "native", False, None),
    "gh-pynative-native": ("ghosthub", "pynative", "native", False, None),
    "gh-pynative-avx2": ("ghosthub", "pynative", "avx2", False, None),
    "gh-pynative-avx2-fused": ("ghosthub", "pynative", "avx2", True, None),
    "gh-compiled-native": ("ghosthub", "compiled", "native", False, None),
    "gh-compiled-avx2": ("ghosthub", "compiled", "avx2", False, None),
    "gh-compiled-avx2-fused": ("ghosthub", "compiled", "avx2", True, None),
    "gh-default-cold": ("ghosthub", "compiled", "avx2", True, "cold"),
    "gh-default-warm": ("ghosthub", "compiled", "avx2", True, "warm"),
    "ort-bare": ("ort-bare", "onnxruntime", "avx2", False, None),
    "gh-onnxruntime": ("ghosthub", "onnxruntime", "avx2", False, None),
}


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


def _time_calls(call, x, args) -> tuple[float, list[float], object, list[float]]:
    """(first call s, timed wall times, first output, timed CPU times) after the first call and args.warmup more.

    CPU time (this process, all threads) is reported beside wall time because it hardly moves
    with the machine's load, which other users' jobs change from one process to the next.
    """
    t0 = time.perf_counter()
    out = call(x)
    first = time.perf_counter() - t0
    for _ in range(args.warmup):
        call(x)
    times, cpu, budget = [], [], time.perf_counter() + args.max_seconds
    for i in range(args.runs):
        c0, t0 = time.process_time(), time.perf_counter()
        call(x)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if i >= 2 and time.perf_counter() > budget:
            break  # slow rows (unpinned batch 32: seconds per call) stop after 3 runs past the budget
    return first, times, out, cpu


def worker(args) -> dict:
    """Time one configuration at each batch size in this fresh process."""
    impl, mode, isa_name, fused, cache = CONFIGS[args.config]
    started = time.perf_counter()
    if impl != "mindcv":
        from ghosthub.runtime import cpu_isa_in_use, pin_cpu_isa

        pin_cpu_isa()  # what `import ghosthub` is to do; GHOSTHUB_CPU_ISA=native in the env leaves it off
        isa_info = str(cpu_isa_in_use())
    else:
        isa_info = f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}"
    import mindspore as ms
    import numpy as np

    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE, device_target="CPU")
    if impl == "mindcv":
        import mindcv

        net = mindcv.create_model(VARIANTS[args.width])
    else:
        from ghosthub.architectures import create_model

        net = create_model("ghostnet", args.width)
    _fill(net)
    net.set_train(False)
    if fused:
        from ghosthub.runtime.fuse import fuse_batchnorm

        fuse_batchnorm(net)
    call = net
    if mode == "compiled":
        from ghosthub.runtime.compiled import compile_network

        call = compile_network(net, "graph", cache_dir=args.cache_dir if cache else None)
    elif mode == "onnxruntime":
        from ghosthub.runtime.onnxrt import onnx_network

        call = onnx_network(net, args.cache_dir)
    result = {"config": args.config, "isa": isa_info, "setup_s": time.perf_counter() - started, "batches": {}}
    rng = np.random.default_rng(1)
    inputs = {b: rng.standard_normal((b, 3, args.size, args.size)).astype(np.float32) for b in args.batch_sizes}
    for batch in args.batch_sizes:
        x = ms.Tensor(inputs[batch])
        if impl == "ort-bare":
            call(x)  # export (once per cache) and verification by ghosthub, untimed
            import onnxruntime as ort

            session = ort.InferenceSession(str(call.paths[batch]), providers=["CPUExecutionProvider"])
            name = session.get_input_names()[0] if hasattr(session, "get_input_names") else session.get_inputs()[0].name
            first, times, out, cpu = _time_calls(
                lambda a, session=session, name=name: session.run(None, {name: a})[0], inputs[batch], args
            )
        else:
            first, times, out, cpu = _time_calls(lambda a: call(a).asnumpy(), x, args)
        median = statistics.median(times)
        result["batches"][str(batch)] = {
            "first_call_s": first,
            "median_s": median,
            "images_per_s": batch / median,
            "cpu_ms_per_image": 1000 * statistics.median(cpu) / batch,
            "runs": len(times),
        }
        if batch == min(args.batch_sizes):
            np.save(os.path.join(args.cache_dir, f"logits-{args.config}.npy"), np.asarray(out))
    call = net = None  # drop the network before the next configuration
    import gc

    gc.collect()
    return result


def _child_env(config: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "GHOSTHUB_ONEDNN_PINNED", "GHOSTHUB_CPU_ISA")
    }
    env["GLOG_v"] = os.environ.get("GLOG_v", "3")
    if CONFIGS[config][2] == "native":
        env["GHOSTHUB_CPU_ISA"] = "native"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _run_worker(config: str, args, cache_dir: str) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--config",
        config,
        "--cache-dir",
        cache_dir,
        "--width",
        str(args.width),
        "--size",
        str(args.size),
        "--runs",
        str(args.runs),
        "--warmup",
        str(args.warmup),
        "--max-seconds",
        str(args.max_seconds),
        "--batch-sizes",
        *map(str, args.batch_sizes),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(config))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"  {config} failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}", file=sys.stderr)
        return {}
    result = json.loads(lines[-1])
    result["process_s"] = time.perf_counter() - t0
    return result


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        import platform

        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    isas = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{name} ({os.cpu_count()} CPUs visible; {' '.join(isas)})"


def _combine(runs: list) -> dict:
    """One row from its rounds: medians over rounds, plus each round's images/s."""
    if not runs:
        return {}
    out = {
        "config": runs[0]["config"],
        "isa": runs[0]["isa"],
        "rounds": len(runs),
        "process_s": statistics.median(r["process_s"] for r in runs),
        "batches": {},
    }
    for batch in runs[0]["batches"]:
        rows = [r["batches"][batch] for r in runs]
        out["batches"][batch] = {
            key: statistics.median(row[key] for row in rows)
            for key in ("first_call_s", "median_s", "images_per_s", "cpu_ms_per_image")
        }
        out["batches"][batch]["per_round_images_per_s"] = [row["images_per_s"] for row in rows]
    return out


def _ratio(results, a: str, b: str, batch: str) -> str:
    """Speed of row a over row b: images/s (wall) and, in brackets, by CPU time per image."""
    try:
        wall = results[a]["batches"][batch]["images_per_s"] / results[b]["batches"][batch]["images_per_s"]
        cpu = results[b]["batches"][batch]["cpu_ms_per_image"] / results[a]["batches"][batch]["cpu_ms_per_image"]
        return f"{wall:.2f}x ({cpu:.2f}x)"
    except (KeyError, ZeroDivisionError):
        return "n/a"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.5, choices=sorted(VARIANTS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--runs", type=int, default=7, help="timed calls per batch size (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls after the first")
    parser.add_argument(
        "--max-seconds", type=float, default=20.0, help="stop timing a batch size after this (>= 3 runs)"
    )
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--rounds", type=int, default=1, help="run every row this many times, interleaved")
    parser.add_argument("--json", help="also write all figures to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return

    import numpy as np

    print(f"CPU: {_cpu_model()}; load average at start {os.getloadavg()[0]:.2f}", flush=True)
    rounds: dict[str, list] = {c: [] for c in args.configs}
    logits = {}
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="ghosthub-bench-") as cache:
            for config in args.configs:
                print(f"round {r + 1}/{args.rounds}: {config} ...", file=sys.stderr, flush=True)
                result = _run_worker(config, args, cache)
                if result:
                    rounds[config].append(result)
                saved = os.path.join(cache, f"logits-{config}.npy")
                if os.path.exists(saved):
                    logits[config] = np.load(saved)
    results = {c: _combine(rs) for c, rs in rounds.items()}
    ref = logits.get(REFERENCE)
    ok = {c: r for c, r in results.items() if r}

    print(
        f"\nGhostNet width {args.width}, {args.size}x{args.size}, images/s: median of up to {args.runs} calls after "
        f"the first and {args.warmup} warm-up calls; one fresh process per row and round; median of "
        f"{args.rounds} round(s) (range in brackets); load average at end {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'row':<24}{'batch':>6}{'img/s':>9}{'(range)':>13}{'CPU ms/img':>11}{'vs mindcv-pynative (CPU)':>26}"
        f"{'1st call s':>11}{'max|dlogit|':>12}  isa"
    )
    for config, r in ok.items():
        for batch in map(str, args.batch_sizes):
            b = r["batches"][batch]
            diff = float(np.abs(logits[config] - ref).max()) if ref is not None and config in logits else float("nan")
            spread = f"({min(b['per_round_images_per_s']):.0f}-{max(b['per_round_images_per_s']):.0f})"
            print(
                f"{config:<24}{batch:>6}{b['images_per_s']:9.1f}{spread:>13}{b['cpu_ms_per_image']:11.1f}"
                f"{_ratio(ok, config, 'mindcv-pynative', batch):>26}"
                f"{b['first_call_s']:11.2f}{diff:12.1e}  {r['isa']}"
            )
    print("\nratios (same run; by CPU time per image in brackets):")
    pairs = [
        ("ISA pin, PyNative", "gh-pynative-avx2", "gh-pynative-native"),
        ("ISA pin, compiled", "gh-compiled-avx2", "gh-compiled-native"),
        ("BN fused, PyNative", "gh-pynative-avx2-fused", "gh-pynative-avx2"),
        ("BN fused, compiled", "gh-compiled-avx2-fused", "gh-compiled-avx2"),
        ("compiled vs PyNative (pinned)", "gh-compiled-avx2", "gh-pynative-avx2"),
        ("GOAL >= 3x: ghosthub default vs mindcv PyNative", "gh-default-warm", "mindcv-pynative"),
        ("ghosthub default vs mindcv graph", "gh-default-warm", "mindcv-graph"),
        ("GOAL >= 0.4x: compiled MindSpore vs bare onnxruntime", "gh-default-warm", "ort-bare"),
        ("GOAL >= 0.9x: ghosthub onnxruntime vs bare onnxruntime", "gh-onnxruntime", "ort-bare"),
    ]
    for label, a, b in pairs:
        if a in ok and b in ok:
            print(f"  {label:<56}" + "  ".join(f"batch {n}: {_ratio(ok, a, b, n)}" for n in map(str, args.batch_sizes)))
    for name in ("gh-default-cold", "gh-default-warm"):
        if name in ok:
            print(
                f"  first call of {name} (fresh process): "
                + ", ".join(
                    f"batch {n} {ok[name]['batches'][n]['first_call_s']:.2f} s" for n in map(str, args.batch_sizes)
                )
                + f"; process total {ok[name]['process_s']:.1f} s"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": _cpu_model(), "results": results, "rounds": rounds}, f, indent=1)


if __name__ == "__main__":
    main()
