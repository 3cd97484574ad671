"""Figures for the fetch layer: download and verify throughput against curl and sha256sum, cache-hit cost.

Serves one random file (256 MiB by default) on 127.0.0.1 from this process with
``os.sendfile`` and Range support, then runs each command in a fresh process,
several times, and prints medians and ratios:

- ``curl -o`` vs ``ghosthub download`` (fresh cache each run): throughput; and curl
  doing the same work (``curl -o``, then ``openssl dgst -sha256``, then ``sync`` of the file);
- ``sha256sum`` vs ``ghosthub verify``: throughput;
- ``ghosthub download`` of a cached asset vs ``python -c pass``: work beyond
  interpreter start-up;
- ``curl -o`` vs ``ghosthub download`` from a second server that caps every
  connection at ``--rate-mib`` MiB/s, as a CDN does: what parallel ranges buy;
- ``ghosthub mirror`` of 4 models from a URL hub (``ghosthub serve``): wall
  time of a first run and of a second run, and the asset requests of each.

Child Pythons may write bytecode (to a private folder), as an installed package
would have it. Usage::

    python bench/bench_fetch.py [--size-mib 256] [--runs 5] [--rate-mib 16] [--throttled-runs 3]
                                [--only all|fetch|throttled|mirror]
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(ROOT))
from ghosthub import ModelCard, render_card  # noqa: E402


def bench_card(url: str, digest: str, name: str = "bench_asset") -> str:
    """The text of a card whose one asset is the served file."""
    fields = {"model-name": name, "backbone-name": "ghostnet", "module-type": "cv", "fine-tunable": "True"}
    fields.update(
        {"model-version": "1.0", "author": "bench", "update-time": "2026-01-01", "repo-link": "https://example.org"}
    )
    fields.update({"user-id": "bench", "used-for": "inference", "mindspore-version": "2.5", "license": "Apache2.0"})
    fields.update(
        summary="a random file for the fetch benchmark",
        asset=[{"file-format": "ckpt", "asset-link": url, "asset-sha256": digest}],
    )
    return render_card(ModelCard(title=name, fields=fields))


def make_handler(folder: Path, rate: float | None = None):
    """Serve the files of ``folder`` with Range support (``bytes=A-`` and ``bytes=A-B``), through sendfile.

    With ``rate``, every connection is capped at ``rate`` bytes per second, as a CDN caps each connection.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            try:
                self._get()
            except (BrokenPipeError, ConnectionResetError):
                pass  # a client that stops reading: ghosthub closes a piece's connection at its end

        def _get(self):
            path = folder / Path(self.path).name
            size = path.stat().st_size
            start, stop = 0, size
            value = self.headers.get("Range", "")
            first, _, last = value.removeprefix("bytes=").partition("-")
            if value.startswith("bytes=") and first.isdigit():
                start = int(first)
                stop = min(int(last) + 1, size) if last.isdigit() else size
            ranged = bool(value)
            self.send_response(206 if ranged else 200)
            if ranged:
                self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
            self.send_header("Content-Length", str(stop - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", '"bench"')
            self.end_headers()
            self.wfile.flush()
            with open(path, "rb") as f:
                if not rate:
                    self.connection.sendfile(f, offset=start, count=stop - start)
                    return
                began, sent, step = time.monotonic(), 0, 1 << 18
                while start + sent < stop:
                    n = min(step, stop - start - sent)
                    self.connection.sendfile(f, offset=start + sent, count=n)
                    sent += n
                    ahead = began + sent / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)

    return Handler


def serve(handler) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def timed(cmd: list[str], env: dict, runs: int, before=None) -> list[tuple[float, float]]:
    """(wall, cpu) seconds of each run; cpu is the child's user + system time, less moved by other load."""
    times = []
    for _ in range(runs):
        if before:
            before()
        # Start clean: curl leaves hundreds of MiB unflushed, and on ext4 the next fsync
        # (ghosthub's) would pay for writing them out.
        os.sync()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append((wall, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime))
    return times


def report(results: dict, size: int) -> None:
    """The figures of the capped server and of mirroring, where they were measured."""
    wall = {k: statistics.median(w for w, _ in v) for k, v in results.items() if k != "mirror requests"}
    mib = size / (1 << 20)
    print(f"CPU: {_cpu_model()}; load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if "curl -o (capped)" in wall:
        for key in ("curl -o (capped)", "ghosthub download (capped)"):
            print(f"  {key:28s} {wall[key]:7.3f} s wall {mib / wall[key]:8.1f} MiB/s")
        print(
            f"  capped throughput / curl        {wall['curl -o (capped)'] / wall['ghosthub download (capped)']:.2f}  "
            "(goal >= 4)"
        )
    for key in ("mirror (first run)", "mirror (second run)"):
        if key in wall:
            print(f"  {key:28s} {wall[key]:7.3f} s wall")
    if "mirror requests" in results:
        first, second = results["mirror requests"]
        print(f"  asset requests: first run {first}, second run {second}  (goal: second 0)")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def mirror_bench(work: Path, env: dict, ghosthub: list[str], results: dict, runs: int, mib: int = 32) -> None:
    """Mirror 4 models from a URL hub (ghosthub's own server): wall time, then a second run that must fetch no asset."""
    from ghosthub.hub import serve as hub_serve
    from ghosthub.hub.index import FORMAT, index_bytes

    hub = work / "hub"
    (hub / "cards").mkdir(parents=True)
    (hub / "assets").mkdir()
    models = {}
    for i in range(4):
        name = f"bench_m{i}"
        data = os.urandom(mib << 20)
        digest = hashlib.sha256(data).hexdigest()
        asset = f"{name}-{digest[:8]}.ckpt"
        (hub / "assets" / asset).write_bytes(data)
        text = bench_card(f"../assets/{asset}", digest, name)
        (hub / "cards" / f"{name}.md").write_text(text)
        models[name] = {
            "card": f"cards/{name}.md",
            "card-sha256": hashlib.sha256(text.encode()).hexdigest(),
            "assets": [{"path": f"assets/{asset}", "file-format": "ckpt", "sha256": digest, "size": len(data)}],
        }
    (hub / "index.json").write_bytes(index_bytes({"format": FORMAT, "updated": None, "models": models}))

    asset_requests = [0]
    get = hub_serve._Handler.do_GET

    def counting_get(self):
        if self.path.startswith("/assets/"):
            asset_requests[0] += 1
        get(self)

    hub_serve._Handler.do_GET = counting_get
    server = hub_serve.serve(hub).start()
    dest, cache = work / "mirror", work / "mirror-cache"
    mirror = [*ghosthub, "mirror", "bench_m*", "--to", str(dest), "--hub", server.url, "--cache-dir", str(cache)]

    def fresh_mirror():
        shutil.rmtree(dest, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)

    def fresh_cache():  # the mirror stays; the cache does not, so nothing can come from it
        shutil.rmtree(cache, ignore_errors=True)

    results["mirror (first run)"], results["mirror (second run)"], counts = [], [], [0, 0]
    try:
        for _ in range(runs):
            before = asset_requests[0]
            results["mirror (first run)"] += timed(mirror, env, 1, fresh_mirror)
            counts[0] = asset_requests[0] - before
            before = asset_requests[0]
            results["mirror (second run)"] += timed(mirror, env, 1, fresh_cache)
            counts[1] = asset_requests[0] - before
    finally:
        server.stop()
        hub_serve._Handler.do_GET = get
    results["mirror requests"] = counts
    print(f"mirror: 4 models of {mib} MiB from a URL hub served by ghosthub serve, {runs} runs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--rate-mib", type=float, default=16.0, help="per-connection cap of the throttled server (MiB/s)"
    )
    parser.add_argument(
        "--throttled-runs", type=int, default=3, help="runs against the throttled server (curl: size/rate each)"
    )
    parser.add_argument("--only", choices=["all", "fetch", "throttled", "mirror"], default="all")
    args = parser.parse_args()
    if not shutil.which("curl") or not shutil.which("sha256sum"):
        print("needs curl and sha256sum", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="ghosthub-bench-"))
    try:
        data_file = work / "asset.ckpt"
        digest = hashlib.sha256()
        with open(data_file, "wb") as f:
            for _ in range(args.size_mib):
                block = os.urandom(1 << 20)
                digest.update(block)
                f.write(block)
        size = data_file.stat().st_size

        small = os.urandom(4096)
        (work / "small.ckpt").write_bytes(small)
        server, base = serve(make_handler(work))
        slow_server, slow_base = serve(make_handler(work, rate=args.rate_mib * (1 << 20)))
        url = f"{base}/asset.ckpt"
        slow_url = f"{slow_base}/asset.ckpt"
        cards = work / "cards"
        cards.mkdir()
        (cards / "bench_asset.md").write_text(bench_card(url, digest.hexdigest()))
        (cards / "bench_slow.md").write_text(bench_card(slow_url, digest.hexdigest(), "bench_slow"))
        small_url = url.replace("asset.ckpt", "small.ckpt")
        (cards / "bench_small.md").write_text(bench_card(small_url, hashlib.sha256(small).hexdigest(), "bench_small"))

        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(work / "pycache"), GHOSTHUB_NO_PROGRESS="1")
        for name in ("GHOSTHUB_OFFLINE", "GHOSTHUB_MIRROR", "GHOSTHUB_TOKEN", "http_proxy", "HTTP_PROXY"):
            env.pop(name, None)
        py = sys.executable
        cache = work / "cache"
        # What the installed `ghosthub` console script runs.
        ghosthub = [py, "-c", "import sys; from ghosthub.cli import run; sys.exit(run())"]
        download = [*ghosthub, "download", "bench_asset", "--cards", str(cards), "--cache-dir", str(cache)]
        verify = [*ghosthub, "verify", "bench_asset", "--cards", str(cards), "--cache-dir", str(cache)]
        out = work / "curl.out"

        def fresh_cache():
            # The asset is gone; the card index stays, as on a machine that has run ghosthub before.
            shutil.rmtree(cache / "assets", ignore_errors=True)

        def fresh_out():
            out.unlink(missing_ok=True)

        # Warm up: bytecode, the page cache, the card index.
        subprocess.run(download, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        subprocess.run(["curl", "-s", "-o", str(out), url], check=True)
        fresh_cache()

        results: dict[str, list] = {}
        n = args.runs
        load_before = f"{os.getloadavg()[0]:.2f}"

        def pair(name_a, cmd_a, before_a, name_b, cmd_b, before_b, runs=n, *more):
            """Alternate two (or more: name, cmd, before after ``runs``) commands, so all see the same machine load."""
            entries = [(name_a, cmd_a, before_a), (name_b, cmd_b, before_b), *zip(more[::3], more[1::3], more[2::3])]
            for name, _, _ in entries:
                results[name] = []
            for _ in range(runs):
                for name, cmd, before in entries:
                    results[name] += timed(cmd, env, 1, before)

        # curl doing what one ghosthub download does: fetch, then hash, then flush the file to disk. The
        # hash is OpenSSL's, as ghosthub's is (coreutils' sha256sum may lack the CPU's SHA instructions).
        hasher = "openssl dgst -sha256" if shutil.which("openssl") else "sha256sum"
        curl_verified = ["sh", "-c", f'curl -s -o "$1" "$2" && {hasher} "$1" && sync "$1"', "sh", str(out), url]

        small_download = [*ghosthub, "download", "bench_small", "--cards", str(cards), "--cache-dir", str(cache)]
        cached_file = cache / "assets/bench_asset" / digest.hexdigest() / "asset.ckpt"
        slow_download = [*ghosthub, "download", "bench_slow", "--cards", str(cards), "--cache-dir", str(cache)]
        if args.only in ("all", "throttled"):
            # Every connection capped, as by a CDN: curl has one, ghosthub several.
            curl = ["curl", "-s", "-o", str(out), slow_url]
            pair("curl -o (capped)", curl, fresh_out, "ghosthub download (capped)", slow_download, fresh_cache,
                 runs=args.throttled_runs)  # fmt: skip
        if args.only in ("all", "mirror"):
            mirror_bench(work, env, ghosthub, results, args.throttled_runs)
        if args.only == "fetch":
            curl = ["curl", "-s", "-o", str(out), url]
            pair("curl -o", curl, fresh_out, "ghosthub download", download, fresh_cache, n,
                 "curl, SHA-256, sync", curl_verified, fresh_out)  # fmt: skip
            wall = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
            cpu = {k: statistics.median(c for _, c in v) for k, v in results.items()}
            print(f"CPU: {_cpu_model()}, {os.cpu_count()} CPUs; {n} runs each; medians")
            for key in wall:
                print(f"  {key:28s} {wall[key]:7.3f} s wall   cpu {cpu[key]:6.3f} s")
            print(f"  download throughput / curl      {wall['curl -o'] / wall['ghosthub download']:.2f}  (goal >= 1.0)")
            print(
                f"  the same work / curl's          {wall['curl, SHA-256, sync'] / wall['ghosthub download']:.2f}  "
                "(curl, then the SHA-256, then sync)"
            )
            return 0
        if args.only == "throttled" or args.only == "mirror":
            report(results, size)
            return 0
        # A 4 KiB asset shows what each costs before the first byte (start-up, imports).
        pair(
            "curl -o (4 KiB)",
            ["curl", "-s", "-o", str(out), small_url],
            fresh_out,
            "ghosthub download (4 KiB)",
            small_download,
            fresh_cache,
        )
        pair("curl -o", ["curl", "-s", "-o", str(out), url], fresh_out, "ghosthub download", download, fresh_cache, n,
             "curl, SHA-256, sync", curl_verified, fresh_out)  # fmt: skip
        pair("sha256sum", ["sha256sum", str(cached_file)], None, "ghosthub verify", verify, None)
        pair("python -c pass", [py, "-c", "pass"], None, "ghosthub download (cached)", download, None, runs=max(n, 15))
        hit_t = results["ghosthub download (cached)"]
        server.shutdown()
        slow_server.shutdown()

        # In-process cost of a cache hit, imports excluded: the fetch layer's own work.
        probe = (
            "import time, ghosthub; t = time.perf_counter(); "
            f"ghosthub.download('bench_asset', cards=[{str(cards)!r}], cache_dir={str(cache)!r}); "
            "print((time.perf_counter() - t) * 1000)"
        )
        own = statistics.median(
            float(
                subprocess.run([py, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            )
            for _ in range(5)
        )
        # Where a cache miss's start-up goes: ghosthub's command line, then requests and the transport.
        steps = (
            "import time; t = time.perf_counter(); import ghosthub.cli, ghosthub.client, ghosthub.download.fetch; "
            "a = time.perf_counter(); import ghosthub.download.transport; print((a - t) * 1000, (time.perf_counter() "
            "- a) * 1000)"
        )
        runs = [
            subprocess.run(
                [py, "-c", steps], env=env, cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.split()
            for _ in range(9)
        ]
        own_imports, transport_imports = (statistics.median(float(r[i]) for r in runs) for i in (0, 1))

        timings = {k: v for k, v in results.items() if k != "mirror requests"}
        wall = {k: statistics.median(w for w, _ in v) for k, v in timings.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in timings.items()}
        mib = size / (1 << 20)
        print(f"asset: {mib:.0f} MiB on 127.0.0.1; {n} runs each (cache hit: {len(hit_t)}); medians")
        print(f"load average before/after: {load_before} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        keys = (
            "curl -o",
            "ghosthub download",
            "curl, SHA-256, sync",
            "curl -o (4 KiB)",
            "ghosthub download (4 KiB)",
            "sha256sum",
            "ghosthub verify",
        )
        for key in keys:
            print(f"  {key:28s} {wall[key]:7.3f} s wall {mib / wall[key]:8.1f} MiB/s   cpu {cpu[key]:6.3f} s")
        for key in ("python -c pass", "ghosthub download (cached)"):
            print(f"  {key:28s} {wall[key] * 1000:7.1f} ms wall   cpu {cpu[key] * 1000:6.1f} ms")
        print(f"  {'ghosthub.download() hit':28s} {own:7.1f} ms in-process, after imports")
        print(
            f"  {'imports of a cache miss':28s} {own_imports:7.1f} ms ghosthub's, then {transport_imports:.1f} ms "
            "requests and the transport"
        )
        print("ratios:")
        print(f"  download throughput / curl      {wall['curl -o'] / wall['ghosthub download']:.2f}  (goal >= 1.0)")
        print(
            f"  the same work / curl's          {wall['curl, SHA-256, sync'] / wall['ghosthub download']:.2f}  "
            "(curl, then the SHA-256, then sync)"
        )
        per_byte = (wall["curl -o"] - wall["curl -o (4 KiB)"]) / (
            wall["ghosthub download"] - wall["ghosthub download (4 KiB)"]
        )
        print(f"  the same, start-up of each left out {per_byte:.2f}  (time for 256 MiB less time for 4 KiB)")
        print(f"  verify throughput / sha256sum   {wall['sha256sum'] / wall['ghosthub verify']:.2f}  (goal >= 0.9)")
        extra_wall = (wall["ghosthub download (cached)"] - wall["python -c pass"]) * 1000
        extra_cpu = (cpu["ghosthub download (cached)"] - cpu["python -c pass"]) * 1000
        print(f"  cache hit beyond start-up       {extra_wall:.1f} ms wall, {extra_cpu:.1f} ms cpu  (goal <= 50)")
        report(results, size)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
