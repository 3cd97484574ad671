"""Uploading an asset into an s3 hub: the bytes sent are the bytes hashed, and the upload shows itself.

Against moto's S3 API server on 127.0.0.1 (resuming a killed upload and the races are in test_store.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import pty
import select
import struct
import subprocess
import sys
import termios

import pytest

from ghosthub import config
from ghosthub._utils.places import hub_place
from ghosthub.errors import PublishError
from ghosthub.hub.store import writable_store
from ghosthub.hub.upload import upload_asset
from tests.support.paths import REPO
from tests.support.s3 import MOTO

pytestmark = [
    pytest.mark.skipif(not os.path.exists(MOTO), reason="moto_server is not installed (pip install 'moto[server]')"),
    pytest.mark.timeout(180),
]
PART = 5 << 20  # the smallest part stores accept


def store_of(s3):
    return writable_store(hub_place(s3.hub), config.settings())


@pytest.mark.parametrize("size", [100_000, 3 * PART + 1234], ids=["one request", "in parts"])
def test_a_file_that_changed_since_it_was_hashed_is_never_completed(s3, tmp_path, size):
    path = tmp_path / "weights.ckpt"
    data = os.urandom(size)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-10] + os.urandom(10))  # rewritten after it was hashed (a training still saving it)
    with pytest.raises(PublishError, match=rf"weights.ckpt changed while it was uploaded .* SHA-256 {sha}"):
        upload_asset(store_of(s3), "assets/m-1a2b3c4d.ckpt", path, sha, part_size=PART, threads=2, progress=False)
    assert "team/assets/m-1a2b3c4d.ckpt" not in s3.objects("team/")
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []  # its parts went too
    path.write_bytes(data)
    done = upload_asset(store_of(s3), "assets/m-1a2b3c4d.ckpt", path, sha, part_size=PART, threads=2, progress=False)
    assert done.created and s3.objects("team/assets/")["team/assets/m-1a2b3c4d.ckpt"] == data


def test_an_upload_logs_when_it_starts_and_ends_when_stderr_is_no_terminal(s3, tmp_path, caplog):
    path = tmp_path / "weights.ckpt"
    data = os.urandom(2 * PART)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    store = store_of(s3)
    with caplog.at_level(logging.INFO, logger="ghosthub"):
        upload_asset(store, "assets/m-1a2b3c4d.ckpt", path, sha, part_size=PART, progress=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "ghosthub.upload"]
    url = f"s3://{s3.bucket}/team/assets/m-1a2b3c4d.ckpt"
    assert lines[0] == f"uploading {url} (10.0 MiB)"
    assert lines[1].startswith(f"uploaded {url} (10.0 MiB) in ") and len(lines) == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ghosthub"):
        upload_asset(store, "assets/m-1a2b3c4d.ckpt", path, sha, part_size=PART, progress=False)
    assert not [r for r in caplog.records if r.name == "ghosthub.upload"]


def test_an_upload_draws_a_byte_bar_on_a_terminal(s3, tmp_path):
    path = tmp_path / "weights.ckpt"
    path.write_bytes(os.urandom(3 * PART))
    code = (
        "import hashlib, sys; from pathlib import Path; from ghosthub import config; "
        "from ghosthub._utils.places import hub_place; from ghosthub.hub.store import writable_store; "
        "from ghosthub.hub.upload import upload_asset; p = Path(sys.argv[2]); "
        "upload_asset(writable_store(hub_place(sys.argv[1]), config.settings()), 'assets/bar-1a2b3c4d.ckpt', p, "
        f"hashlib.sha256(p.read_bytes()).hexdigest(), part_size={PART})"
    )
    env = {k: v for k, v in os.environ.items() if k != "GHOSTHUB_NO_PROGRESS"}
    env["PYTHONPATH"] = str(REPO)
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    proc = subprocess.Popen([sys.executable, "-c", code, s3.hub, str(path)], env=env, stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        try:
            chunk = os.read(main, 4096) if ready else b""
        except OSError:  # the child closed its end
            chunk = b""
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.wait(60) == 0, shown
    text = shown.decode(errors="replace")
    assert "bar-1a2b3c4d.ckpt" in text and "15.0 MiB" in text and "\r" in text, text  # a bar, redrawn in place
    assert "ghosthub: uploading" not in text  # the bar, not the lines
