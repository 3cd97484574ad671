"""Data-parallel training on local worker processes started by MindSpore's launcher, msrun."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import config
from .._utils.fs import read_json, write_json
from ..errors import TrainError, shorten
from ..runtime.isa import child_env
from .recipe import Recipe, load_recipe
from .results import TrainResult

__all__ = ["launch"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_MS_LOG_LINE = re.compile(r"\[(INFO|WARNING|DEBUG)\] ")


def _follow(path: Path, stop: threading.Event, stream) -> None:
    """Echo a worker's log to ``stream`` as it grows, minus MindSpore's own log lines."""
    while not path.exists() and not stop.is_set():
        time.sleep(0.2)
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        while True:
            line = f.readline()
            if not line:
                if stop.is_set():
                    return
                time.sleep(0.2)
                continue
            if not _MS_LOG_LINE.match(line):
                stream.write(line)
                stream.flush()


def launch(
    recipe: str | os.PathLike | Recipe,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    workers: int,
    resume: str | os.PathLike | None = None,
    progress: bool | None = None,
    port: int | None = None,
    echo: bool = True,
    expect_dataset_digest: str | None = None,
) -> TrainResult:
    """Train data-parallel on ``workers`` local processes started by MindSpore's launcher, msrun.

    Runs ``msrun --worker_num N --local_worker_num N --master_port P --join True`` with
    ``ghosthub train`` as the task; logs go to ``out_dir/msrun/``. For several machines, run
    ``msrun`` yourself with ``ghosthub train ...`` as the task: the trainer finds its rank from
    msrun's environment.

    Parameters
    ----------
    recipe, data_dir, out_dir, resume, progress, expect_dataset_digest
        As for :func:`train`.
    workers : int
        Number of processes (ranks).
    port : int, optional
        The scheduler's port (default: a free one).
    echo : bool
        Copy rank 0's output (progress, epoch lines) to stderr while it runs.

    Returns
    -------
    TrainResult
        Rank 0's result, with ``rank_weights_sha256`` of every rank.

    Raises
    ------
    TrainError
        A worker failed (the message shows the end of its log), or the ranks ended with
        different weights.
    """
    recipe = load_recipe(recipe)
    out_dir = Path(out_dir).resolve()
    run_dir = out_dir / "msrun"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "bin").mkdir(parents=True)
    recipe_file = run_dir / "recipe.yaml"
    recipe_file.write_text(recipe.to_yaml(), encoding="utf-8")
    # msrun starts "python TASK ARGS" with whatever "python" PATH finds: make it this interpreter
    # (a wrapper, not a symlink, which would lose a virtualenv).
    wrapper = run_dir / "bin" / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    entry = run_dir / "ghosthub_worker.py"
    entry.write_text("import sys\nfrom ghosthub.cli import main\nsys.exit(main())\n", encoding="utf-8")
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PATH": f"{run_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])),
        config.RANK_DIR_ENV: str(run_dir),
        "GLOG_v": os.environ.get("GLOG_v", "3"),
    }
    if progress is not None:
        env["GHOSTHUB_NO_PROGRESS"] = "0" if progress else "1"
    task = [
        str(entry),
        "train",
        "--recipe",
        str(recipe_file),
        "--data-dir",
        str(Path(data_dir).resolve()),
        "--out",
        str(out_dir),
    ]
    if resume is not None:
        task += ["--resume", str(Path(resume).resolve())]
    if expect_dataset_digest:
        task += ["--expect-dataset-digest", expect_dataset_digest]
    msrun = [
        sys.executable,
        "-c",
        "import sys; from mindspore.parallel.cluster.run import main; sys.argv[0] = 'msrun'; sys.exit(main())",
        "--worker_num",
        str(workers),
        "--local_worker_num",
        str(workers),
        "--master_port",
        str(port or _free_port()),
        "--join",
        "True",
        "--log_dir",
        str(run_dir),
        "--cluster_time_out",
        "120",
    ]
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(run_dir / "worker_0.log", stop, sys.stderr), daemon=True)
    if echo:
        follower.start()
    try:
        with open(run_dir / "msrun.log", "w", encoding="utf-8") as log:
            code = subprocess.run(
                msrun + task, env=child_env(recipe.cpu_isa, env), stdout=log, stderr=subprocess.STDOUT
            ).returncode
    finally:
        stop.set()
        if echo:
            follower.join(timeout=5)
    result_file = out_dir / "result.json"
    if code != 0 or not result_file.is_file():
        raise TrainError(
            f"data-parallel training with {workers} workers failed (msrun exit status {code}); "
            f"logs in {run_dir}:\n{_log_tails(run_dir, workers)}"
        )
    try:
        result = TrainResult.from_dict(json.loads(result_file.read_text(encoding="utf-8")))
    except (ValueError, TypeError, RecursionError) as exc:
        raise TrainError(
            f"{result_file} is not the result rank 0 writes ({shorten(exc)}); see the logs in {run_dir}"
        ) from None
    ranks = [result.weights_sha256]
    for r in range(1, workers):
        rank = read_json(run_dir / f"rank-{r}.json") or {}
        ranks.append(rank["weights_sha256"] if isinstance(rank.get("weights_sha256"), str) else "")
    result = dataclasses.replace(result, rank_weights_sha256=ranks)
    write_json(result_file, result.to_dict())
    if len(set(ranks)) != 1:
        raise TrainError(
            f"the {workers} workers ended with different weights ({', '.join(h[:12] for h in ranks)}); "
            f"see the logs in {run_dir}."
        )
    return result


def _log_tails(run_dir: Path, workers: int, lines: int = 15) -> str:
    parts = []
    for name in [f"worker_{r}.log" for r in range(workers)] + ["scheduler.log"]:
        path = run_dir / name
        if path.is_file():
            text = [
                line
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                if not _MS_LOG_LINE.match(line)
            ]
            parts.append(f"--- {name} (last lines)\n" + "\n".join(text[-lines:]))
    return "\n".join(parts) or "(no worker logs)"
