"""Benchmark s3:// hubs against moto's S3 API server on 127.0.0.1.

Figures, each against its baseline measured in the same run:
- publishing a 256 MiB asset into an s3 hub (asset, card, index by compare-and-swap) against
  boto3's ``upload_file`` of the same file (goal: >= 0.9x its speed);
- 8 publishers at once, each a different model: wall time and compare-and-swap retries;
- ``ghosthub list`` and a cached ``ghosthub.load`` (fresh processes) from the s3 hub against
  the same hub as a folder.

    pip install '.[s3]' 'moto[server]'
    python bench/bench_s3.py [--size-mib 256] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _util import ghosthub_cmd, median, report, time_process

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from tests.support.s3 import MotoServer, aws_environment

    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    print(f"CPU: {cpu}; {os.cpu_count()} cores")
    server = MotoServer()
    tmp = Path(tempfile.mkdtemp(prefix="ghosthub-bench-s3-"))
    os.environ.update(aws_environment(server.url, "bench-secret", tmp), GHOSTHUB_CACHE=str(tmp / "cache"))
    os.environ["GHOSTHUB_NO_PROGRESS"] = "1"
    try:
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket="bench")
        upload_figures(client, tmp, args.size_mib, args.runs)
        concurrent_figures(client, tmp, args.runs)
        read_figures(tmp, args.runs)
    finally:
        server.stop()


def upload_figures(client, tmp: Path, size_mib: int, runs: int) -> None:
    """ghosthub's publish of one asset against boto3's upload_file, alternating, each on a fresh key."""
    from ghosthub import config
    from ghosthub._utils.places import hub_place
    from ghosthub.hub.commit import publish_model
    from ghosthub.hub.index import asset_file_name
    from ghosthub.hub.store import writable_store
    from tests.support.s3 import card_for

    path = tmp / "asset.ckpt"
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    settings = config.settings()
    ours, theirs = [], []
    for _ in range(runs):
        key = f"plain/{uuid.uuid4().hex}.ckpt"
        start = time.perf_counter()
        client.upload_file(str(path), "bench", key)
        theirs.append(time.perf_counter() - start)
        client.delete_object(Bucket="bench", Key=key)
        prefix = f"hub-{uuid.uuid4().hex[:8]}"
        asset = asset_file_name("big", sha, "ckpt")
        start = time.perf_counter()
        store = writable_store(hub_place(f"s3://bench/{prefix}"), settings)
        entry = {
            "assets": [{"path": f"assets/{asset}", "file-format": "ckpt", "sha256": sha, "size": path.stat().st_size}]
        }
        publish_model(
            store, "big", (path, sha, "ckpt", f"assets/{asset}"), card_for("big", asset, sha), entry,
            part_size=settings.part_size, threads=settings.connections or 10,
        )  # fmt: skip
        ours.append(time.perf_counter() - start)
        client.delete_object(Bucket="bench", Key=f"{prefix}/assets/{asset}")
    mib = size_mib
    report(f"boto3 upload_file, {mib} MiB", theirs)
    report(f"ghosthub publish into s3 (probe, asset, card, index), {mib} MiB", ours)
    print(f"  speed ratio ghosthub / upload_file: {median(theirs) / median(ours):.2f}x (goal >= 0.9x)")
    path.unlink()


def concurrent_figures(client, tmp: Path, runs: int) -> None:
    """8 publisher processes committing at one moment: wall time from that moment, retries summed."""
    walls, retries = [], []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for run in range(runs):
        hub = f"s3://bench/eight-{run}"
        start_at = time.time() + 4.0
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.s3",
                    hub,
                    f"model_{i}",
                    str(i),
                    "65536",
                    str(start_at),
                    str(tmp),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for i in range(8)
        ]
        results = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
        walls.append(time.time() - start_at)
        retries.append(sum(r.get("retries", 0) for r in results))
        index = json.loads(client.get_object(Bucket="bench", Key=f"eight-{run}/index.json")["Body"].read())
        assert len(index["models"]) == 8 and all(r["ok"] for r in results), results
    report("8 publishers at once: wall time from the common start", walls)
    print(f"  compare-and-swap retries per run: {retries} (all 8 models in the index every run)")


def read_figures(tmp: Path, runs: int) -> None:
    """`ghosthub list` and a cached load, fresh processes, the s3 hub against the same hub as a folder."""
    import ghosthub
    from ghosthub.tasks.publish import publish
    from tests.support.publishing import save_checkpoints

    ckpt = save_checkpoints(tmp, seeds=(1,))[1]
    hub = "s3://bench/read"
    publish(ckpt, name="bench_net", hub=hub, width=0.5, dataset="toy")
    folder = tmp / "folder-hub"
    ghosthub.Client().mirror(["bench_net"], folder, hub=hub)
    for spec in (str(folder), hub):
        subprocess.run(ghosthub_cmd("download", "bench_net", "--hub", spec), check=True, capture_output=True)
    lists = {s: time_process(ghosthub_cmd("list", "--hub", spec), runs=max(5, runs)) for s, spec in
             (("folder", str(folder)), ("s3", hub))}  # fmt: skip
    code = "import sys, ghosthub; ghosthub.load('bench_net', hub=sys.argv[1], num_classes=4)"
    loads = {s: time_process([sys.executable, "-c", code, spec], runs=runs) for s, spec in
             (("folder", str(folder)), ("s3", hub))}  # fmt: skip
    report("ghosthub list --hub FOLDER (fresh process)", lists["folder"])
    report("ghosthub list --hub s3://... (fresh process, copy synced)", lists["s3"])
    print(f"  list: s3 / folder = {median(lists['s3']) / median(lists['folder']):.2f}x the time")
    report("cached load from a folder hub (fresh process)", loads["folder"])
    report("cached load from an s3 hub (fresh process)", loads["s3"])
    print(f"  load: s3 / folder = {median(loads['s3']) / median(loads['folder']):.2f}x the time")


if __name__ == "__main__":
    main()
