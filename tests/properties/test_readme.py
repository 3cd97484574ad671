"""The README's two set-up commands exist, and .ci/run runs the test command verbatim."""

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
