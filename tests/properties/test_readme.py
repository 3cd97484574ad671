"""The README's two set-up commands exist; .ci/run runs the test command verbatim, then ruff, failing if either does."""

import os
import shutil
import subprocess

import pytest

from tests.support.paths import REPO


def setup_commands():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.startswith("    python3.11 -m venv ")]


def test_readme_has_two_setup_commands():
    demo, tests = setup_commands()
    assert "pytest" not in demo and ".venv/bin/ghosthub" in demo
    assert tests.endswith(".venv/bin/pytest") and "[test]" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = setup_commands()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in [line.strip() for line in ci]


# A stand-in for ``python3.11 -m venv DIR``: a venv whose pip installs nothing and whose pytest and
# ruff exit as the test says (ruff also logs its arguments), so .ci/run's own logic runs for real.
FAKE_PYTHON = """#!/bin/sh
mkdir -p "$3/bin"
printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/pip"
printf '#!/bin/sh\\nexit %s\\n' "$PYTEST_EXIT" > "$3/bin/pytest"
printf '#!/bin/sh\\necho "$*" >> "%s"\\nexit %s\\n' "$RUFF_LOG" "$RUFF_EXIT" > "$3/bin/ruff"
chmod +x "$3/bin/pip" "$3/bin/pytest" "$3/bin/ruff"
"""


@pytest.mark.parametrize(
    ("tests_exit", "ruff_exit", "expected"),
    [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 1), (5, 0, 1), (2, 1, 2)],
)
def test_ci_fails_when_the_tests_or_ruff_fail(tmp_path, tests_exit, ruff_exit, expected):
    checkout = tmp_path / "checkout"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "run", checkout / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3.11").write_text(FAKE_PYTHON)
    (bin_dir / "python3.11").chmod(0o755)
    log = tmp_path / "ruff.log"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTEST_EXIT": str(tests_exit),
        "RUFF_EXIT": str(ruff_exit),
        "RUFF_LOG": str(log),
    }
    proc = subprocess.run(["bash", str(checkout / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == expected, proc.stderr
    # ruff runs after failing tests too, and stops at the formatter when the formatter fails.
    assert log.read_text().splitlines() == (["format --check ."] if ruff_exit else ["format --check .", "check ."])
