"""Import requests without paying for its character-set detection up front.

``import requests`` imports charset_normalizer (tens of milliseconds, a good part of
a cache miss's time before the first byte) only to read its version; a download
never asks requests to guess an encoding. Before requests is imported, a stand-in
module that knows the version is registered; the first use of anything else in it
(``response.apparent_encoding``, ``response.text`` without a charset, another
library importing it) imports the real package, so nothing behaves differently.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import types

__all__ = ["defer_charset_detection"]

NAME = "charset_normalizer"


def defer_charset_detection() -> None:
    """Register the stand-in, unless the package is loaded already, missing, or chardet is installed."""
    if NAME in sys.modules or "chardet" in sys.modules or "requests" in sys.modules:
        return
    import importlib.util

    try:
        if importlib.util.find_spec("chardet") is not None:
            return  # requests would use chardet; leave it alone
        spec = importlib.util.find_spec(NAME)
        folder = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None
        with open(os.path.join(folder, "version.py"), encoding="utf-8") as f:
            found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", f.read(), re.M)
    except (ImportError, ValueError, TypeError, OSError):
        return
    if found:
        sys.modules[NAME] = _Deferred(NAME, found[1], list(spec.submodule_search_locations))


class _Deferred(types.ModuleType):
    """``charset_normalizer`` until it is used: only ``__version__`` is answered without importing it."""

    def __init__(self, name: str, version: str, path: list[str]):
        super().__init__(name)
        self.__version__ = version
        # A package's path: `from charset_normalizer import __version__` then needs no import,
        # and its submodules can still be imported.
        self.__path__ = path

    def __getattr__(self, attr: str):  # only for attributes not set here
        if attr.startswith("__") and attr not in ("__file__", "__all__", "__version_info__"):
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)  # later lookups are plain attributes
        return getattr(real, attr)
