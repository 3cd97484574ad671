"""The MindSpore Hub 2.x zoo through ghosthub: what builds here, MindCV parity, load time, compiled inference.

Usage::

    GLOG_v=3 python bench/bench_zoo.py [--corpus DIR] [--parts census sweep speed] [--archs NAME ...]
                                       [--load-runs 2] [--speed-archs resnet50 mobilenet_v3_large_100 convnext_tiny]
                                       [--batch-sizes 1 32] [--runs 5] [--json OUT]

Parts (all by default):

- ``census``: the distinct model names of MindSpore Hub 2.x (``mindspore/2.3`` and ``2.5`` of the
  card corpus) and, for each, :func:`ghosthub.architectures.availability`: built in, MindCV's, or
  which library it needs. No MindSpore import.
- ``sweep``: every MindCV card the census finds buildable (or ``--archs``), one fresh process each:
  mindcv's network with seeded weights and randomised BatchNorm statistics, saved by MindSpore;
  ``ghosthub.load(path, architecture=...)`` must give mindcv's logits (max |difference| <= 1e-5 of
  max |logit|); then ``ghosthub.load`` against ``mindcv.create_model(name, checkpoint_path=path)``,
  timed alternately (``--load-runs`` each, median). ghosthub's first load of an architecture also
  runs mindcv's network once (the one-time check of :mod:`ghosthub.architectures.mindcv`): shown
  apart.
- ``speed``: images/s at each batch size, one fresh process per row, same weights by parameter name:
  mindcv's network called as its users call it (``net(x)``, PyNative) in a process without ghosthub
  (oneDNN at the CPU's own ISA) and with ``ONEDNN_MAX_CPU_ISA=AVX2`` (the cap ``import ghosthub``
  sets), against ``ghosthub.load(..., mode="auto", fuse=True)``. Ratios are of rows of this run.

Figures are for the machine it runs on (the CPU model is printed); on a shared machine the load
changes from one process to the next, so rerun before trusting a small ratio.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RTOL = 1e-5
SPEED_ARCHS = ("resnet50", "mobilenet_v3_large_100", "convnext_tiny")
SPEED_ROWS = ("mindcv-native", "mindcv-avx2", "ghosthub-auto-fused")


def cpu_model() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    isas = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{name} ({os.cpu_count()} CPUs; {' '.join(isas)})"


# ---------------------------------------------------------------------------------------------- census


def census(corpus: Path) -> dict:
    """Each distinct model name of the 2.3 and 2.5 folders (2.5's card where both have one) -> availability."""
    sys.path.insert(0, str(REPO))
    from ghosthub.architectures import availability
    from ghosthub.modelcard import load_card

    cards = {}
    for version in ("2.3", "2.5"):
        for path in sorted((corpus / "mindspore" / version).glob("*.md")):
            card = load_card(path)
            cards[card.name] = card
    found = {name: availability(card)._asdict() for name, card in sorted(cards.items(), key=lambda kv: kv[0].lower())}
    buildable = [n for n, a in found.items() if a["buildable"]]
    by_library: dict = {}
    for name, a in found.items():
        if not a["buildable"]:
            by_library.setdefault(a["reason"], []).append(name)
    print(f"MindSpore Hub 2.x: {len(found)} distinct models, {len(buildable)} an installed architecture answers to")
    for library in sorted({a["library"] for a in found.values() if a["buildable"]}):
        names = [n for n in buildable if found[n]["library"] == library]
        print(f"  built by {library} ({len(names)}): {', '.join(names)}")
    for reason, names in sorted(by_library.items()):
        print(f"  {reason} ({len(names)}): {', '.join(names)}")
    return found


# ---------------------------------------------------------------------------------------------- sweep


def _seeded(mindcv, name: str, seed: int = 0):
    import mindspore as ms
    import numpy as np

    ms.set_seed(seed)
    net = mindcv.create_model(name, num_classes=1000)
    rng = np.random.default_rng(seed)
    for p in net.get_parameters():
        if p.name.endswith("moving_mean"):
            p.set_data(ms.Tensor(rng.normal(0, 0.1, p.shape).astype(np.float32)))
        elif p.name.endswith("moving_variance"):
            p.set_data(ms.Tensor(rng.uniform(0.5, 1.5, p.shape).astype(np.float32)))
    net.set_train(False)
    return net


def sweep_worker(name: str, folder: str, load_runs: int) -> dict:
    """One architecture in this fresh process: parity with mindcv, then load times (JSON on stdout)."""
    import gc

    os.environ["GHOSTHUB_CACHE"] = os.path.join(folder, "cache")
    import mindcv
    import mindspore as ms
    import numpy as np

    import ghosthub
    from ghosthub.architectures.mindcv import PROVIDER

    real = (PROVIDER.names() or {}).get(name.lower(), name)  # mindcv's own spelling (BiT_resnet50)
    result = {"arch": name, "mindcv_name": real}
    t = time.perf_counter()
    try:
        ref = _seeded(mindcv, real)
    except Exception as exc:  # mindcv itself: what ghosthub must report as mindcv's failure too
        result["mindcv_build_error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
    else:
        result["mindcv_build_s"] = time.perf_counter() - t
    path = os.path.join(folder, f"{real}.ckpt")
    size = (ghosthub.architectures.find_architecture(name)[0].preprocessing or {}).get("input_size", 224)
    side = size if isinstance(size, int) else size[-1]
    x = ms.Tensor(np.random.default_rng(1).standard_normal((1, 3, side, side)).astype(np.float32))
    if "mindcv_build_error" not in result:
        ms.save_checkpoint(ref, path)
        result["checkpoint_mb"] = os.path.getsize(path) / 2**20
        try:
            expected = ref(x).asnumpy()
        except Exception as exc:
            result["mindcv_forward_error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
        del ref
        gc.collect()
    try:
        t = time.perf_counter()
        net = ghosthub.load(path, architecture=name) if os.path.exists(path) else ghosthub.load(name, False)
        result["ghosthub_first_load_s"] = time.perf_counter() - t
        got = net(x).asnumpy()
        del net
        gc.collect()
    except ghosthub.GhostHubError as exc:
        result["ghosthub_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return result
    if "mindcv_forward_error" not in result:
        result["max_rel_diff"] = float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-30))
    ours, theirs = [], []
    for _ in range(load_runs):  # alternately, so that a change of machine load hits both
        t = time.perf_counter()
        net = mindcv.create_model(real, num_classes=1000, checkpoint_path=path)
        theirs.append(time.perf_counter() - t)
        del net
        gc.collect()
        t = time.perf_counter()
        net = ghosthub.load(path, architecture=name)
        ours.append(time.perf_counter() - t)
        del net
        gc.collect()
    result.update(ghosthub_load_s=statistics.median(ours), mindcv_load_s=statistics.median(theirs))
    return result


def sweep(archs: list[str], load_runs: int) -> list[dict]:
    rows = []
    print(f"\nMindCV parity and load time, one process per architecture ({load_runs} timed loads each)")
    print(f"{'architecture':<24} {'max rel diff':>12} {'parity':>7} {'ghosthub s':>10} {'mindcv s':>9} {'ratio':>6}")
    for name in archs:
        with tempfile.TemporaryDirectory(prefix="ghosthub-zoo-") as folder:
            row = _run_json(["--worker", "sweep", "--arch", name, "--folder", folder, "--load-runs", str(load_runs)])
        rows.append(row or {"arch": name, "worker_failed": True})
        if not row or "ghosthub_error" in row:
            print(f"{name:<24} {'-':>12} {'-':>7}  {(row or {}).get('ghosthub_error', 'worker failed')[:150]}")
            continue
        diff = row.get("max_rel_diff")
        ok = "ok" if diff is not None and diff <= RTOL else "FAIL"
        ratio = row["ghosthub_load_s"] / row["mindcv_load_s"]
        print(
            f"{name:<24} {diff if diff is not None else float('nan'):>12.2e} {ok:>7} {row['ghosthub_load_s']:>10.2f} "
            f"{row['mindcv_load_s']:>9.2f} {ratio:>6.2f}   (first load {row['ghosthub_first_load_s']:.2f} s)"
        )
    timed = [r for r in rows if "ghosthub_load_s" in r]
    if timed:
        import math

        ratios = [r["ghosthub_load_s"] / r["mindcv_load_s"] for r in timed]
        geo = math.exp(statistics.fmean(math.log(r) for r in ratios))
        within = sum(1 for r in ratios if r <= 1.0)
        same = sum(1 for r in timed if r.get("max_rel_diff") is not None and r["max_rel_diff"] <= RTOL)
        print(
            f"parity <= {RTOL:g}: {same} of {len(timed)}; load time ghosthub/mindcv: median "
            f"{statistics.median(ratios):.2f}, geometric mean {geo:.2f}, <= 1.0x for {within} of {len(timed)} "
            "(goal <= 1.0x)"
        )
    return rows


# ---------------------------------------------------------------------------------------------- speed


def speed_worker(row: str, name: str, batches: list[int], runs: int, folder: str) -> dict:
    """Images/s of one row at each batch size in this fresh process (JSON on stdout)."""
    import gc

    if row.startswith("ghosthub"):
        os.environ["GHOSTHUB_CACHE"] = os.path.join(folder, "cache")
    import mindcv
    import mindspore as ms
    import numpy as np

    net = mindcv.create_model(name, num_classes=1000)
    rng = np.random.default_rng(0)
    for pname, p in sorted(net.parameters_dict().items()):  # the same weights in every row, by name
        value = rng.standard_normal(p.shape).astype(np.float32) * 0.05
        if pname.endswith(("moving_variance", "gamma")):
            value = np.abs(value) + 0.5
        p.set_data(ms.Tensor(value))
    net.set_train(False)
    call = net
    if row.startswith("ghosthub"):
        import ghosthub

        path = os.path.join(folder, f"{name}.ckpt")
        ms.save_checkpoint(net, path)
        del net
        gc.collect()
        call = ghosthub.load(path, architecture=name, mode="auto", fuse=True)
    result = {"row": row, "arch": name, "onednn": os.environ.get("ONEDNN_MAX_CPU_ISA", "unset"), "batches": {}}
    data = np.random.default_rng(1).standard_normal((max(batches), 3, 224, 224)).astype(np.float32)
    for batch in batches:
        x = ms.Tensor(data[:batch])
        t = time.perf_counter()
        out = call(x).asnumpy()
        first = time.perf_counter() - t
        call(x)  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            call(x).asnumpy()
            times.append(time.perf_counter() - t)
        result["batches"][str(batch)] = {"first_s": first, "images_per_s": batch / statistics.median(times)}
        if batch == min(batches):
            np.save(os.path.join(folder, f"logits-{row}.npy"), out)
    return result


def speed(archs: list[str], batches: list[int], runs: int) -> dict:
    out = {}
    print(f"\nImages/s at batch {' / '.join(map(str, batches))}, one fresh process per row, median of {runs} calls")
    for name in archs:
        with tempfile.TemporaryDirectory(prefix="ghosthub-zoo-speed-") as folder:
            rows = {}
            for row in SPEED_ROWS:
                env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "GHOSTHUB_ONEDNN_PINNED")}
                if row == "mindcv-avx2":
                    env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
                cmd = ["--worker", "speed", "--row", row, "--arch", name, "--folder", folder, "--runs", str(runs)]
                rows[row] = _run_json([*cmd, "--batch-sizes", *map(str, batches)], env=env)
            diff = _logit_diff(folder)
        out[name] = rows
        for row in SPEED_ROWS:
            got = rows.get(row) or {}
            figures = " / ".join(f"{got['batches'][str(b)]['images_per_s']:7.2f}" for b in batches) if got else "failed"
            print(f"  {name:<24} {row:<22} {figures}")
        ours = rows.get("ghosthub-auto-fused")
        for base in ("mindcv-native", "mindcv-avx2"):
            if ours and rows.get(base):
                ratios = [
                    ours["batches"][str(b)]["images_per_s"] / rows[base]["batches"][str(b)]["images_per_s"]
                    for b in batches
                ]
                print(f"  {name:<24} ghosthub / {base:<11} {' / '.join(f'{r:7.2f}' for r in ratios)} x")
        if diff is not None:
            print(f"  {name:<24} max |logit difference| ghosthub vs mindcv (batch {min(batches)}): {diff:.2e}")
    return out


def _logit_diff(folder: str) -> float | None:
    import numpy as np

    paths = [os.path.join(folder, f"logits-{row}.npy") for row in ("mindcv-native", "ghosthub-auto-fused")]
    if not all(os.path.exists(p) for p in paths):
        return None
    a, b = (np.load(p) for p in paths)
    return float(np.abs(a - b).max())


# ---------------------------------------------------------------------------------------------- plumbing


def _corpus() -> Path:
    """The card corpus beside the checkout (../shared of the main checkout or of a worktree's parent)."""
    for base in (os.environ.get("GHOSTHUB_TEST_CORPUS"), REPO.parent / "shared", REPO.parent.parent / "shared"):
        if base and (Path(base) / "corpus" / "mshub-cards").is_dir():
            return Path(base) / "corpus" / "mshub-cards"
        if base and Path(base).name == "mshub-cards" and Path(base).is_dir():
            return Path(base)
    return REPO.parent / "shared" / "corpus" / "mshub-cards"


def _run_json(args: list[str], env: dict | None = None) -> dict:
    env = dict(env or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("GLOG_v", "3")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"  worker {' '.join(args[:4])} failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
        return {}
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=_corpus(), help="the MindSpore Hub card corpus")
    parser.add_argument(
        "--parts", nargs="+", default=["census", "sweep", "speed"], choices=["census", "sweep", "speed"]
    )
    parser.add_argument("--archs", nargs="+", help="sweep these architectures (default: every buildable MindCV card)")
    parser.add_argument("--load-runs", type=int, default=2)
    parser.add_argument("--speed-archs", nargs="+", default=list(SPEED_ARCHS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--worker", choices=["sweep", "speed"], help=argparse.SUPPRESS)
    parser.add_argument("--arch", help=argparse.SUPPRESS)
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "sweep":
        print(json.dumps(sweep_worker(args.arch, args.folder, args.load_runs)))
        return 0
    if args.worker == "speed":
        print(json.dumps(speed_worker(args.row, args.arch, args.batch_sizes, args.runs, args.folder)))
        return 0

    print(f"CPU: {cpu_model()}; python {sys.version.split()[0]}")
    report: dict = {"cpu": cpu_model()}
    archs = args.archs
    if "census" in args.parts or ("sweep" in args.parts and archs is None):
        if not args.corpus.is_dir():
            print(f"no card corpus at {args.corpus}: pass --corpus DIR, or --archs NAME ... for the sweep")
            return 2
        report["census"] = census(args.corpus)
        if archs is None:
            archs = [
                a["architecture"]
                for a in report["census"].values()
                if a["library"] == "mindcv" or (a["buildable"] and a["library"] == "ghosthub")
            ]
            archs = sorted({a for a in archs if a}, key=str.lower)
    if "sweep" in args.parts:
        # GhostNet's card is built by ghosthub's own network: compared with mindcv's ghostnet_050.
        archs = ["ghostnet_050" if a == "ghostnet" else a for a in archs]
        report["sweep"] = sweep(archs, args.load_runs)
    if "speed" in args.parts:
        report["speed"] = speed(args.speed_archs, args.batch_sizes, args.runs)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
