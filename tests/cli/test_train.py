"""`ghosthub train` stopped by Ctrl-C or SIGTERM says how to resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

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


def test_train_checks_its_inputs_before_announcing_the_compile(tmp_path, capsys):
    """A missing data folder, a bad recipe or an output folder that cannot be made fail at once, unannounced."""
    from ghosthub.cli import main

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY, encoding="utf-8")
    data = make_image_folder(tmp_path / "data", train=1, val=0)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    run = str(tmp_path / "run")
    cases = [
        (["--recipe", str(recipe), "--data-dir", str(tmp_path / "nodata"), "--out", run], str(tmp_path / "nodata")),
        (["--recipe", str(tmp_path / "norecipe.yaml"), "--data-dir", str(data), "--out", run], "norecipe.yaml"),
    ]
    for argv, named in cases:
        code = main(["train", *argv])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("error: ") and named in err, err
        assert "compiles the network graph" not in err and "Traceback" not in err and "made this folder" not in err
    with pytest.raises(SystemExit) as info:  # an output folder that cannot be made: refused before anything runs
        main(["train", "--recipe", str(recipe), "--data-dir", str(data), "--out", str(blocked / "run")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"{blocked / 'run'} cannot be made: {blocked} is not a folder" in err
