"""How the caller names ghosthub's arguments in messages: Python keywords, or the flags of the command line.

An error is built where its facts are, deep in the library, and tells the user what to
change. A Python caller reads ``offline=True``; a command-line user, who never typed that,
reads ``--offline``. The command line says how its flags map to the API's arguments for the
length of one command (:func:`spoken_as`); everywhere else the Python spelling holds.
"""

from __future__ import annotations

import contextlib

TYPE_CHECKING = False  # typing stays out of the command's start-up
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["either", "said", "spoken_as"]

# One command runs per process; its flags hold in every thread it starts (a parallel download's workers).
_flags: Mapping[str, str] | None = None
_UNSET = object()


def said(name: str, value=_UNSET) -> str | None:
    """Argument ``name`` (optionally with ``value``) as the caller would write it; None if the caller cannot.

    Parameters
    ----------
    name : str
        The Python API's argument name (``"offline"``, ``"checkpoint_path"``).
    value : optional
        The value to show: ``True`` for a switch; text is quoted for Python only.

    Returns
    -------
    str or None
        ``offline=True`` / ``checkpoint_path=`` for Python; the command's flag (``--offline``,
        ``--checkpoint PATH``) inside :func:`spoken_as`; None when the command has no such flag.

    Examples
    --------
    >>> said("offline", True), said("checkpoint_path")
    ('offline=True', 'checkpoint_path=')
    >>> with spoken_as({"offline": "--offline", "checkpoint_path": "--checkpoint PATH"}):
    ...     said("offline", True), said("checkpoint_path"), said("checkpoint_path", "a.ckpt"), said("cache_dir")
    ('--offline', '--checkpoint PATH', '--checkpoint a.ckpt', None)
    """
    flags = _flags
    if flags is None:
        if value is _UNSET:
            return f"{name}="
        return f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"
    flag = flags.get(name)
    if flag is None or value is _UNSET or value is True:
        return flag
    return f"{flag.split()[0]} {value}"


def either(*ways: str | None) -> str:
    """The ways given (None ones left out) as one phrase: ``a``, ``a or b``, ``a, b or c``.

    Examples
    --------
    >>> either("GHOSTHUB_OFFLINE=1", None), either("a", "b", "c")
    ('GHOSTHUB_OFFLINE=1', 'a, b or c')
    """
    kept = [w for w in ways if w]
    if len(kept) < 2:
        return "".join(kept)
    return ", ".join(kept[:-1]) + " or " + kept[-1]


@contextlib.contextmanager
def spoken_as(flags: Mapping[str, str]) -> Iterator[None]:
    """Within the block, :func:`said` answers with ``flags`` (API argument name -> flag as typed).

    Examples
    --------
    >>> with spoken_as({"offline": "--offline"}):
    ...     said("offline", True)
    '--offline'
    >>> said("offline", True)
    'offline=True'
    """
    global _flags
    previous, _flags = _flags, dict(flags)
    try:
        yield
    finally:
        _flags = previous
