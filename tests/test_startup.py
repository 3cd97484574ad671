"""A cache miss's start-up: requests is imported, its charset detection only when something uses it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("charset_normalizer")


def run(code: str) -> str:
    script = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(code)
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
