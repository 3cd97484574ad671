"""Benchmark s3:// hubs against moto's S3 API server on 127.0.0.1.

Figures, each against its baseline measured in the same run:
- uploading a 256 MiB asset: ghosthub's upload alone (``upload_asset``: read, hash, parts) and the
  whole hub write (``publish_model``: probe, asset, card, pages, index by compare-and-swap) against
  boto3's ``upload_file`` of the same file (goal: >= 0.9x its speed), alternating, medians;
- ``ghosthub publish`` end to end of a real checkpoint of that size (hash, strict load, upload,
  pages, index) into the s3 hub, against ``upload_file`` of the same checkpoint and the same
  publish into a hub folder;
- 8 publishers at once, each a different model: wall time and compare-and-swap retries;
- ``ghosthub list`` and a cached ``ghosthub.load`` (fresh processes) from the s3 hub against
  the same hub as a folder, and ``list`` with ``GHOSTHUB_HUB_TTL`` (the copy used without asking).

    pip install '.[s3]' 'moto[server]'
    python bench/bench_s3.py [--size-mib 256] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
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
    parser.add_argument("--runs", type=int, default=5)
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
        publish_figures(client, tmp, args.size_mib, max(1, (args.runs + 1) // 2))
        concurrent_figures(client, tmp, args.runs)
        read_figures(tmp, args.runs)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # a checkpoint of --size-mib and hub folders


def upload_figures(client, tmp: Path, size_mib: int, runs: int) -> None:
    """ghosthub's upload and hub write of one asset against boto3's upload_file; the order rotates each run."""
    from ghosthub import config
    from ghosthub._utils.places import hub_place
    from ghosthub.hub.commit import publish_model
    from ghosthub.hub.index import asset_file_name
    from ghosthub.hub.store import writable_store
    from ghosthub.hub.upload import upload_asset
    from tests.support.s3 import card_for

    path = tmp / "asset.ckpt"
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    sha = file_sha256(path)
    settings = config.settings()
    threads = settings.connections or 10
    asset = asset_file_name("big", sha, "ckpt")

    def boto3_upload_file():
        key = f"plain/{uuid.uuid4().hex}.ckpt"
        start = time.perf_counter()
        client.upload_file(str(path), "bench", key)
        return time.perf_counter() - start, [key]

    def ghosthub_upload():  # the asset's upload alone: the store was opened (and probed) before
        prefix = f"upload-{uuid.uuid4().hex[:8]}"
        store = writable_store(hub_place(f"s3://bench/{prefix}"), settings)
        start = time.perf_counter()
        upload_asset(store, f"assets/{asset}", path, sha, part_size=settings.part_size, threads=threads)
        return time.perf_counter() - start, [f"{prefix}/assets/{asset}"]

    def ghosthub_hub_write():  # everything a publish does to the store
        prefix = f"hub-{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        store = writable_store(hub_place(f"s3://bench/{prefix}"), settings)
        entry = {"assets": [{"path": f"assets/{asset}", "file-format": "ckpt", "sha256": sha, "size": size_mib << 20}]}
        publish_model(
            store, "big", (path, sha, "ckpt", f"assets/{asset}"), card_for("big", asset, sha), entry,
            part_size=settings.part_size, threads=threads,
        )  # fmt: skip
        return time.perf_counter() - start, [f"{prefix}/assets/{asset}"]

    writable_store(hub_place("s3://bench/warm-up"), settings)  # ghosthub's client made, as boto3's already is
    ways = [boto3_upload_file, ghosthub_upload, ghosthub_hub_write]
    times = {way.__name__: [] for way in ways}
    for run in range(runs):
        for way in ways[run % 3 :] + ways[: run % 3]:
            took, keys = way()
            times[way.__name__].append(took)
            for key in keys:  # moto keeps objects in memory: the next run starts as this one did
                client.delete_object(Bucket="bench", Key=key)
    base = median(times["boto3_upload_file"])
    report(f"boto3 upload_file, {size_mib} MiB", times["boto3_upload_file"])
    report(f"ghosthub upload_asset (read, hash, parts), {size_mib} MiB", times["ghosthub_upload"])
    report("ghosthub publish_model (probe, asset, card, pages, index)", times["ghosthub_hub_write"])
    print(f"  speed ratio upload_asset / upload_file: {base / median(times['ghosthub_upload']):.2f}x (goal >= 0.9x)")
    print(f"  speed ratio publish_model / upload_file: {base / median(times['ghosthub_hub_write']):.2f}x")
    path.unlink()


def publish_figures(client, tmp: Path, size_mib: int, runs: int) -> None:
    """`ghosthub publish` of a real checkpoint of about ``size_mib`` into s3 and into a folder, and upload_file."""
    import mindspore as ms

    from ghosthub.models import create_model
    from ghosthub.tasks.publish import publish

    # GhostNet 1.0's 5.2 M parameters, and a classifier wide enough to bring the file to the size asked.
    classes = max(1000, ((size_mib << 20) // 4 - 5_200_000) // 1281)
    net = create_model("ghostnet", 1.0, num_classes=classes)
    ckpt = tmp / "big.ckpt"
    ms.save_checkpoint(net, str(ckpt))
    del net
    mib = ckpt.stat().st_size / (1 << 20)
    s3_times, folder_times, plain = [], [], []
    for run in range(runs):
        key = f"plain/{uuid.uuid4().hex}.ckpt"
        start = time.perf_counter()
        client.upload_file(str(ckpt), "bench", key)
        plain.append(time.perf_counter() - start)
        client.delete_object(Bucket="bench", Key=key)
        prefix = f"e2e-{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        done = publish(ckpt, name="big_net", hub=f"s3://bench/{prefix}", width=1.0, provenance=None)
        s3_times.append(time.perf_counter() - start)
        client.delete_object(Bucket="bench", Key=done.asset_path.split("/", 3)[3])
        start = time.perf_counter()
        publish(ckpt, name="big_net", hub=tmp / f"folder-{run}", width=1.0, provenance=None)
        folder_times.append(time.perf_counter() - start)
    report(f"boto3 upload_file of the checkpoint, {mib:.0f} MiB", plain)
    report("ghosthub publish into s3 (hash, strict load, upload, pages, index)", s3_times)
    report("ghosthub publish into a folder (copy while hashing, strict load, commit)", folder_times)
    print(f"  publish into s3 takes {median(s3_times) / median(plain):.2f}x upload_file's time; "
          f"{median(s3_times) - median(plain):.2f} s more (hash + strict load + pages + index)")  # fmt: skip
    ckpt.unlink()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
    fresh = time_process(ghosthub_cmd("list", "--hub", hub), runs=max(5, runs), env={"GHOSTHUB_HUB_TTL": "600"})
    code = "import sys, ghosthub; ghosthub.load('bench_net', hub=sys.argv[1], num_classes=4)"
    loads = {s: time_process([sys.executable, "-c", code, spec], runs=runs) for s, spec in
             (("folder", str(folder)), ("s3", hub))}  # fmt: skip
    report("ghosthub list --hub FOLDER (fresh process)", lists["folder"])
    report("ghosthub list --hub s3://... (fresh process, asks the hub)", lists["s3"])
    report("ghosthub list --hub s3://... with GHOSTHUB_HUB_TTL=600", fresh)
    print(f"  list: s3 / folder = {median(lists['s3']) / median(lists['folder']):.2f}x the time; "
          f"within the TTL {median(fresh) / median(lists['folder']):.2f}x")  # fmt: skip
    report("cached load from a folder hub (fresh process)", loads["folder"])
    report("cached load from an s3 hub (fresh process)", loads["s3"])
    print(f"  load: s3 / folder = {median(loads['s3']) / median(loads['folder']):.2f}x the time")


if __name__ == "__main__":
    main()
