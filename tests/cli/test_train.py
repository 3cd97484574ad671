"""`ghosthub train` stopped by Ctrl-C or SIGTERM says how to resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.support.images import make_image_folder
from tests.support.paths import REPO
from tests.support.recipes import TINY


def test_an_interrupted_train_names_the_checkpoint_to_resume_from(tmp_path):
    signum = signal.SIGINT  # Ctrl-C; MindSpore may turn it into SIGTERM, which takes the same path
    data = make_image_folder(tmp_path / "data")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY, encoding="utf-8")
    out = tmp_path / "run"
    env = {**os.environ, "GLOG_v": "3", "GHOSTHUB_NO_PROGRESS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ghosthub",
            "train",
            "--recipe",
            str(recipe),
            "--data-dir",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "500",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (out / "epoch-0001.ckpt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.2)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM), err[-2000:]
    assert "interrupted (Ctrl-C or SIGTERM)" in err
    assert "compiles the network graph" in err
    last = sorted(out.glob("epoch-*.ckpt"))[-1]
    assert f"resume with: ghosthub train --recipe {recipe} --data-dir {data} --out {out} --resume {last}" in err
    assert "Traceback" not in err
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in out.glob("*.ckpt")), "training checkpoints are not 0400"
