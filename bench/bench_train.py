"""Benchmark training and evaluation throughput; the demo's top-1; 2 msrun workers beside 1.

ghosthub's trainer against a MindCV-style loop (mindcv.create_model / create_loss /
create_scheduler / create_optimizer / create_trainer -> mindspore.Model.train, as MindCV's
train.py does, with dataset sink mode off and on) with mindcv's GhostNet, and with ghosthub's
GhostNet in MindCV's loop to tell the loop from the network; on the same ImageFolder
(scikit-learn's digits), the same recipe (digits_demo) and the same data pipeline, each run in a
fresh process with the same thread count. Throughput counts every step after the first (which
compiles the graph), data loading included. Runs alternate; medians and ratios are reported.

Target: ghosthub >= 1.0x of the MindCV-style loop.

    python bench/bench_train.py [--runs 3] [--epochs 2] [--skip-demo] [--skip-workers]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RECIPE = "digits_demo"


def run_json(code: str, *args: str, env: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object on its last stdout line."""
    env = {**os.environ, "GLOG_v": "3", "GHOSTHUB_NO_PROGRESS": "1", "PYTHONPATH": str(REPO), **(env or {})}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


GHOSTHUB_TRAIN = """
import json, sys, time
from ghosthub.train import train
from ghosthub.recipe import load_recipe
data, out, epochs, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
recipe = load_recipe("digits_demo", epoch_size=epochs, val_while_train=False)
start = time.perf_counter()
result = train(recipe, data, out, workers=workers)
print(json.dumps({"images_per_second": result.images_per_second, "seconds": time.perf_counter() - start}))
"""

# MindCV's own training path (train.py): its factories, then mindspore.Model.train. The data
# pipeline is ghosthub's for the same recipe, so only the training loop differs.
MINDCV_TRAIN = """
import json, sys, time
import mindspore as ms
from mindspore.train.callback import Callback
from mindcv.loss import create_loss
from mindcv.models import create_model
from mindcv.optim import create_optimizer
from mindcv.scheduler import create_scheduler
from mindcv.utils.trainer_factory import create_trainer
from ghosthub.imagefolder import scan_image_folder, train_dataset
from ghosthub.recipe import load_recipe

data, epochs, sink, network = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "sink", sys.argv[4]
r = load_recipe("digits_demo", epoch_size=epochs)
ms.set_context(mode=ms.GRAPH_MODE)
ms.device_context.cpu.op_tuning.threads_num(r.threads)
ms.set_seed(r.seed)
folder = scan_image_folder(data + "/train")
dataset = train_dataset(folder, r, epoch=0, workers=r.num_parallel_workers)
steps = dataset.get_dataset_size()
if network == "mindcv":
    net = create_model(r.model, num_classes=len(folder.classes), drop_rate=r.drop_rate)
else:  # ghosthub's GhostNet (same parameters) in MindCV's loop: separates the loop from the network
    from ghosthub.architectures import create_model as ghosthub_model
    net = ghosthub_model(r.backbone, r.width, num_classes=len(folder.classes), drop_rate=r.drop_rate)
loss = create_loss(name="CE", label_smoothing=r.label_smoothing)
lr = create_scheduler(steps, scheduler=r.scheduler, lr=r.lr, min_lr=r.min_lr, warmup_epochs=r.warmup_epochs,
                      decay_epochs=r.decay_epochs, num_epochs=max(epochs, r.warmup_epochs + r.decay_epochs))
opt = create_optimizer(net.trainable_params(), opt=r.opt, lr=lr, weight_decay=r.weight_decay, momentum=r.momentum,
                       nesterov=r.use_nesterov, weight_decay_filter="norm_and_bias")
model = create_trainer(net, loss, opt, metrics=None, amp_level=r.amp_level, amp_cast_list=None,
                       loss_scale_type=r.loss_scale_type, loss_scale=r.loss_scale)

class StepTimes(Callback):
    # In sink mode MindSpore calls this once per sunk epoch, else once per step.
    def __init__(self):
        self.marks = []
    def on_train_step_end(self, run_context):
        self.marks.append((time.perf_counter(), run_context.original_args().cur_step_num))

times = StepTimes()
start = time.perf_counter()
model.train(epochs, dataset, callbacks=[times], dataset_sink_mode=sink)
seconds = time.perf_counter() - start
(t0, s0), (t1, s1) = times.marks[0], times.marks[-1]
rate = (s1 - s0) * r.batch_size / (t1 - t0)
print(json.dumps({"images_per_second": rate, "seconds": seconds}))
"""

GHOSTHUB_EVAL = """
import json, sys
from ghosthub.evaluate import evaluate
result = evaluate(sys.argv[1], sys.argv[2], progress=False)
print(json.dumps(result.to_dict()))
"""

DEMO = """
import json, sys, time
from ghosthub.train import train
start = time.perf_counter()
result = train("digits_demo", sys.argv[1], sys.argv[2])
print(json.dumps({"top1": result.best.val_top1, "seconds": time.perf_counter() - start,
                  "epochs": len(result.epochs), "sha256": result.checkpoint_sha256}))
"""


def summary(name: str, values: list[float], unit: str) -> float:
    med = statistics.median(values)
    print(f"{name:<52} median {med:6.1f} {unit}  (runs: {', '.join(f'{v:.1f}' for v in values)})", flush=True)
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each training measurement (default 3)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per throughput run (default 2)")
    parser.add_argument("--skip-demo", action="store_true", help="skip the full demo run (top-1, time)")
    parser.add_argument("--skip-workers", action="store_true", help="skip the 2-worker msrun runs")
    args = parser.parse_args()

    import mindspore

    from ghosthub.data.digits import write_digits

    print(
        f"python {sys.version.split()[0]}, mindspore {mindspore.__version__}, {os.cpu_count()} CPUs, "
        f"recipe {RECIPE}, {args.runs} runs x {args.epochs} epochs\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="ghosthub-bench-") as tmp:
        tmp = Path(tmp)
        data = tmp / "digits"
        write_digits(data)
        variants = {  # name -> (mode, network) of the MindCV-style loop
            "MindCV-style loop, mindcv GhostNet, sink off": ("steps", "mindcv"),
            "MindCV-style loop, mindcv GhostNet, sink on": ("sink", "mindcv"),
            "MindCV-style loop, ghosthub GhostNet, sink off": ("steps", "ghosthub"),
            "MindCV-style loop, ghosthub GhostNet, sink on": ("sink", "ghosthub"),
        }
        rates = {name: [] for name in variants}
        ours, two = [], []
        for i in range(args.runs):
            for name, (mode, network) in variants.items():
                rates[name].append(
                    run_json(MINDCV_TRAIN, str(data), str(args.epochs), mode, network)["images_per_second"]
                )
            ours.append(
                run_json(GHOSTHUB_TRAIN, str(data), str(tmp / f"one-{i}"), str(args.epochs), "1")["images_per_second"]
            )
            if not args.skip_workers:
                two.append(
                    run_json(GHOSTHUB_TRAIN, str(data), str(tmp / f"two-{i}"), str(args.epochs), "2")[
                        "images_per_second"
                    ]
                )
        print("training images/s (digits, 32x32, batch 32, ghostnet_050, data loading included)")
        medians = {name: summary("  " + name, values, "img/s") for name, values in rates.items()}
        ours_rate = summary("  ghosthub train, 1 process", ours, "img/s")
        for network in ("mindcv", "ghosthub"):
            names = [n for n, (_, net) in variants.items() if net == network]
            fastest = max(names, key=medians.get)
            per_run = [o / max(rates[n][i] for n in names) for i, o in enumerate(ours)]
            print(
                f"  ratio ghosthub train / MindCV-style loop with the {network} GhostNet (faster mode): "
                f"{ours_rate / medians[fastest]:.2f}x (median of per-run ratios {statistics.median(per_run):.2f}x)"
            )
        if two:
            two_rate = summary("  ghosthub train --workers 2 (msrun, both ranks)", two, "img/s")
            print(f"  ratio 2 workers / 1 worker: {two_rate / ours_rate:.2f}x")
        evals = [
            run_json(GHOSTHUB_EVAL, str(tmp / "one-0" / "best.ckpt"), str(data))["images_per_second"]
            for _ in range(args.runs)
        ]
        summary("eval images/s (359 val digits, batch 64)", evals, "img/s")
        if not args.skip_demo:
            demo = run_json(DEMO, str(data), str(tmp / "demo"))
            print(
                f"demo: digits_demo {demo['epochs']} epochs, val top-1 {demo['top1']:.2f}%, "
                f"{demo['seconds']:.0f} s in train() (sha256 {demo['sha256'][:12]})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
