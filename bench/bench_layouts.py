"""Benchmark loading foreign-layout weights against the same weights in ghosthub's layout.

For each source (the fixtures of tests/support/ghostnet_family: timm v1 / V2 / V3 at width 0.5, the
model zoo's 1x, V2 1x and 600M), the source-named weights are written as a file (safetensors for
timm, a MindSpore .ckpt for the model zoo), converted once with ``ghosthub convert`` to a native
.ckpt, and both are loaded through the full ``ghosthub.load(PATH)`` path in the same process,
alternately. The mapping's own cost (``layouts.to_ghosthub``, V3 fusion included) is timed on the
read arrays and reported as a share of the foreign load. Target: mapping < 10% of load.

With ``--timm-names FILE`` (a ``{model: [[name, shape], ...]}`` dump of timm's parameters, such as
../shared/reference/ghostnet-params/timm_params.json), timm's ghostnetv3_100 at width 1.0 is
added, with random weights.

    python bench/bench_layouts.py [--runs 5] [--timm-names FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _util import median

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sources(timm_names: str | None):
    from tests.support.family import FIXTURES, load_fixture

    for name in FIXTURES:
        params, *_ = load_fixture(name)
        yield name, params
    if timm_names:
        dump = json.loads(Path(timm_names).read_text())["ghostnetv3_100"]
        rng = np.random.default_rng(0)
        params = {}
        for n, shape in dump.items() if isinstance(dump, dict) else [(e[0], e[1]) for e in dump]:
            if n.endswith("num_batches_tracked"):
                params[n] = np.array(0, np.int64)
                continue
            a = rng.standard_normal(shape).astype(np.float32) * 0.1
            params[n] = np.abs(a) + 0.5 if n.endswith("running_var") else a
        yield "timm_ghostnetv3_100 (random)", params


def write(params: dict, path: Path) -> None:
    if path.suffix == ".safetensors":
        from ghosthub.weights.formats import write_safetensors

        write_safetensors(path, params)
    else:
        import mindspore as ms

        ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in params.items()], str(path))


def timed(fn) -> float:
    start = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - start
    del out
    gc.collect()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timm-names", metavar="FILE")
    args = parser.parse_args()

    import ghosthub
    from ghosthub.architectures.ghostnet import layouts
    from ghosthub.weights.convert import convert_weights
    from ghosthub.weights.formats import read_ckpt_arrays, read_safetensors, stubs
    from ghosthub.weights.plan import plan_weights

    print(f"CPU: {cpu_model()}; runs per file: {args.runs}")
    print(
        f"{'source':<30} {'layout':<14} {'native s':>9} {'foreign s':>10} {'ratio':>6} {'mapping s':>10} {'share':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, params in sources(args.timm_names):
            suffix = ".safetensors" if name.startswith("timm") else ".ckpt"
            foreign = Path(tmp) / f"{name.split()[0]}{suffix}"
            native = Path(tmp) / f"{name.split()[0]}-native.ckpt"
            write(params, foreign)
            convert_weights(foreign, native)
            plan = plan_weights(foreign)
            arrays = read_safetensors(foreign) if suffix == ".safetensors" else read_ckpt_arrays(foreign, plan.tensors)
            network = {k: v for k, v in plan.tensors.items() if k in arrays}
            ghosthub.load(str(foreign)), ghosthub.load(str(native))  # warm-up: imports, kernels
            nat, fgn, mapping = [], [], []
            for _ in range(args.runs):
                nat.append(timed(lambda native=native: ghosthub.load(str(native))))
                fgn.append(timed(lambda foreign=foreign: ghosthub.load(str(foreign))))
                # Both mapping passes a load makes: names and shapes (stand-ins), then the arrays.
                mapping.append(
                    timed(
                        lambda network=network, arrays=arrays, plan=plan: (
                            layouts.to_ghosthub(stubs(network), plan.layout),
                            layouts.to_ghosthub(arrays, plan.layout),
                        )
                    )
                )
            n, f, m = median(nat), median(fgn), median(mapping)
            print(f"{name:<30} {plan.layout:<14} {n:9.3f} {f:10.3f} {f / n:6.2f} {m:10.3f} {m / f:6.1%}")


if __name__ == "__main__":
    main()
