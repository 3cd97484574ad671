"""Count the calls that cross into the cache module to serve one cache hit.

A cache hit should be one question to the cache ("is this file vouched for? then serve it"),
not a conversation. This script fetches a small asset once (a relative link to a local file, so
no network), then traces, with ``sys.setprofile``, a second request for it three ways:

- ``ghosthub.download(name, ...)``: the top-level verb, which makes a fresh Client;
- ``client.download(name)`` on a Client held across calls;
- ``fetch_asset(entry, settings=...)``: the path ``ghosthub.load`` takes for a card's weights.

For each it prints the calls whose callee is on the cache's side (``ghosthub/download/cache.py``,
and ``layout.py`` beside it where there is one) and whose caller is not (each call's name, in
order), and their count. Not a timing: the counts are exact.

    python bench/bench_cache_crossings.py [--repo CHECKOUT]

``--repo`` counts another checkout's (e.g. the baseline's) with the same script.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CARD = """---
model-name: tiny_050
backbone-name: ghostnet
module-type: cv
fine-tunable: "True"
model-version: "1.0"
author: bench
update-time: "2026-01-01"
repo-link: https://example.org/bench
user-id: bench
used-for: inference
mindspore-version: "2.5"
license: Apache2.0
summary: a bench card
asset:
  - file-format: ckpt
    asset-link: weights/tiny.ckpt
    asset-sha256: {sha}
---
# tiny_050
"""


def crossings(call) -> list[str]:
    """The cache functions ``call()`` enters from outside the cache's modules, in order."""
    import ghosthub.download.cache as cache_module

    folder = os.path.dirname(os.path.realpath(cache_module.__file__))
    inside = {os.path.join(folder, "cache.py"), os.path.join(folder, "layout.py")}
    seen: list[str] = []

    def profile(frame, event, arg):
        if event != "call" or os.path.realpath(frame.f_code.co_filename) not in inside:
            return
        caller = frame.f_back
        if caller is not None and os.path.realpath(caller.f_code.co_filename) not in inside:
            seen.append(f"{Path(caller.f_code.co_filename).stem}.{caller.f_code.co_name} -> {frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to count (default: this one)")
    sys.path.insert(0, str(parser.parse_args().repo.resolve()))
    import ghosthub
    from ghosthub import config
    from ghosthub.api import download  # importing ghosthub.download.* binds the subpackage to ghosthub.download
    from ghosthub.download.fetch import fetch_asset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = os.urandom(1 << 16)
        (tmp / "cards" / "weights").mkdir(parents=True)
        (tmp / "cards" / "weights" / "tiny.ckpt").write_bytes(data)
        (tmp / "cards" / "tiny_050.md").write_text(CARD.format(sha=hashlib.sha256(data).hexdigest()))
        where = {"cards": [tmp / "cards"], "cache_dir": tmp / "cache"}
        first = download("tiny_050", **where)  # the miss: fills the cache
        client = ghosthub.Client(**where)
        entry = client.registry.entry("tiny_050")
        settings = config.settings(cache_dir=tmp / "cache")
        cases = {
            "ghosthub.download(name) (fresh Client)": lambda: download("tiny_050", **where),
            "client.download(name) (Client held)": lambda: client.download("tiny_050"),
            "fetch_asset(entry) (the path load takes)": lambda: fetch_asset(entry, settings=settings),
        }
        print(f"ghosthub at {Path(ghosthub.__file__).parent}")
        for label, call in cases.items():
            call()  # warm: registry scanned, modules imported
            seen = crossings(call)
            assert call() == first
            print(f"\n{label}: {len(seen)} call(s) into the cache")
            for line in seen:
                print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
