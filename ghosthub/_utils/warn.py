"""ghosthub's warnings, attributed to the caller's own line: the first frame outside the package."""

from __future__ import annotations

import sys
import warnings

__all__ = ["warn"]

_PACKAGE = __file__.rpartition("_utils")[0]  # ".../ghosthub/"


def warn(message: str, category: type[Warning]) -> None:
    """Emit ``message`` as ``category``, pointing at the line that called into ghosthub.

    A fixed ``stacklevel`` points at the right line from one call path only: the registry
    scanned by ``list_models`` and by ``load`` sits at different depths. Python then shows
    the user's own file and line (and the filters keyed on it work), never ghosthub's.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("a card was repaired", UserWarning)
    >>> caught[0].filename.startswith("<doctest")  # this example's line, not warn.py's
    True
    """
    frame = sys._getframe(1)
    level = 2  # warnings.warn's level 1 is this function; 2 is its caller
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
