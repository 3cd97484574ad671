"""A cache miss's start-up and exit: requests is imported, its charset detection only when something uses it; no
collection at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.support.paths import REPO

pytest.importorskip("charset_normalizer")


def run(code: str) -> str:
    script = f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout


def test_the_transport_imports_requests_without_charset_detection():
    out = run(
        """
        import ghosthub.download.transport, requests
        print("charset_normalizer.api" in sys.modules, requests.__version__ != "")
        """
    )
    assert out.split() == ["False", "True"]


def test_charset_detection_still_works_when_used():
    out = run(
        """
        import ghosthub.download.transport, requests
        r = requests.models.Response()
        r._content = "Grüße aus Zürich, café crème. ".encode("utf-8") * 20
        print(r.apparent_encoding.lower().replace("_", "-"))
        from charset_normalizer import from_bytes
        print(from_bytes(b"plain ascii").best().encoding, type(sys.modules["charset_normalizer"]).__name__)
        """
    )
    assert out.split() == ["utf-8", "ascii", "module"]


def test_a_submodule_imported_first_still_works():
    out = run(
        """
        import ghosthub.download.transport
        import charset_normalizer.api
        print(charset_normalizer.api.from_bytes(b"abc").best().encoding, charset_normalizer.__version__ != "")
        """
    )
    assert out.split() == ["ascii", "True"]


@pytest.mark.parametrize(("command", "collecting"), [("list", False), ("train", True)])
def test_the_console_script_skips_collections_where_they_only_cost(tmp_path, command, collecting):
    """``ghosthub`` (``cli.run``) freezes the heap before exit; a short command runs without the collector,
    a long one (training, which makes and drops networks) keeps it. ``cli.main`` in-process changes nothing."""
    out = run(
        f"""
        import atexit, gc, os
        os.environ["GHOSTHUB_CACHE"] = {str(tmp_path)!r}
        from ghosthub import cli
        atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count() > 0))
        sys.argv = ["ghosthub", {command!r}, "--help"] if {command!r} == "train" else ["ghosthub", {command!r}]
        try:
            cli.run()
        except SystemExit:
            pass  # --help exits from argparse
        """
    )
    enabled, frozen = out.split()[-2:]
    assert enabled == str(collecting)
    if command == "list":
        assert frozen == "True"


def test_main_in_process_leaves_the_collector_alone(tmp_path, monkeypatch):
    import gc

    from ghosthub.cli import main

    monkeypatch.setenv("GHOSTHUB_CACHE", str(tmp_path))
    before = gc.get_freeze_count()
    assert main(["list"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == before
