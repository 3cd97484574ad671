"""What a command shows besides its results: ghosthub's warnings one line each, the library's progress lines, errors
in the flags the user typed.

The library only warns and logs; how that reads on a terminal is decided here, for the
length of one command (:func:`console`), and undone after it:

- a ghosthub warning is one line, ``warning: <message>``, shown once however often it
  recurs; other packages' warnings keep Python's own form;
- the ``ghosthub`` logger's INFO records (a line per epoch, the start and end of a large
  download or of an evaluation when no progress bar shows them) go to stderr. ``logging``
  is not imported for this: the handler is attached when something imports it, so a
  command that never logs (``list``, a cached ``download``) does not pay for it;
- an error built deep in the library names the command's flags (``--offline``), not
  the Python arguments (``offline=True``), through :func:`ghosthub._utils.spelling.spoken_as`.
"""

from __future__ import annotations

import contextlib
import sys

from .._utils.spelling import spoken_as

TYPE_CHECKING = False  # typing stays out of the command's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

__all__ = ["FLAGS", "console", "flags_of", "os_error"]

# API argument -> the flag a user types for it, for every command that has it (its parser's dest is the
# argument's name). An error built in the library says what to change in these words; an argument
# missing here has no flag, and the library leaves that way out of its advice.
FLAGS = {
    "offline": "--offline",
    "checkpoint_path": "--checkpoint PATH",
    "cache_dir": "--cache-dir DIR",
    "backbone": "--backbone",
    "width": "--width",
    "hub": "--hub",
    "resume": "--resume CKPT",
    "epochs": "--epochs N",
    "workers": "--workers N",
    "batch_size": "--batch-size N",
    "workdir": "--workdir DIR",
    "out_dir": "--out DIR",
    "force": "--force",
}


def flags_of(args: argparse.Namespace) -> dict[str, str]:
    """The part of :data:`FLAGS` this command has: the arguments its parser gave ``args``.

    Examples
    --------
    >>> import argparse
    >>> flags_of(argparse.Namespace(offline=None, names=["x"]))
    {'offline': '--offline'}
    """
    return {name: flag for name, flag in FLAGS.items() if hasattr(args, name)}


@contextlib.contextmanager
def console(args: argparse.Namespace) -> Iterator[None]:
    """Warnings, log lines and error spelling of one command; everything is put back afterwards."""
    import warnings

    shown: set[str] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        from ..errors import GhostHubWarning

        if not issubclass(category, GhostHubWarning):
            return previous(message, category, filename, lineno, file, line)
        text = " ".join(str(message).split())  # one line, whatever the message held
        if text not in shown:
            shown.add(text)
            _write(f"warning: {text}")

    warnings.showwarning = show
    hook = _WhenImported("logging", _attach)
    try:
        hook.install()
        with spoken_as(flags_of(args)):
            yield
    finally:
        warnings.showwarning = previous
        hook.remove()


def os_error(exc: OSError) -> str:
    """One line for a file-system error no command foresaw: the path and the reason, not ``[Errno N]``.

    Examples
    --------
    >>> os_error(FileNotFoundError(2, "No such file or directory", "runs/x.ckpt"))
    'runs/x.ckpt: No such file or directory'
    """
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    reason = exc.strerror or str(exc)
    return f"{where}: {reason}" if where else reason


def _write(text: str) -> None:
    """A line on stderr, above any progress bar that is drawing (tqdm redraws it below)."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None and getattr(tqdm, "tqdm", None) is not None:
        tqdm.tqdm.write(text, file=sys.stderr)
    else:
        print(text, file=sys.stderr, flush=True)


_handler = None


def _attach(logging) -> None:
    """Show the ``ghosthub`` logger's INFO records on stderr, one line each."""
    global _handler

    class Lines(logging.Handler):
        def emit(self, record):
            try:
                text = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is logging's to report
                self.handleError(record)
                return
            if record.levelno >= logging.WARNING:
                text = f"{record.levelname.lower()}: {text}"
            _write(text)

    logger = logging.getLogger("ghosthub")
    _handler = Lines(logging.INFO)
    _handler.previous_level = logger.level
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)


def _detach() -> None:
    global _handler
    if _handler is not None:
        import logging

        logger = logging.getLogger("ghosthub")
        logger.removeHandler(_handler)
        logger.setLevel(_handler.previous_level)
        _handler = None


class _WhenImported:
    """Runs ``then(module)`` once module ``name`` is imported, by anyone, without importing it itself.

    If it is imported already, ``then`` runs at once. Otherwise an entry at the front of
    ``sys.meta_path`` finds the module as the next finders would and runs ``then`` after the
    module's own code.
    """

    def __init__(self, name: str, then) -> None:
        self.name, self.then = name, then

    def install(self) -> None:
        module = sys.modules.get(self.name)
        if module is not None:
            self.then(module)
        else:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        _detach()

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenLoader(spec.loader, self.then)
        return spec


class _ThenLoader:
    """A module's own loader, then ``then(module)`` once the module's code has run."""

    def __init__(self, loader, then) -> None:
        self._loader, self._then = loader, then

    def __getattr__(self, name):  # get_source, is_package ...: the module's own loader answers
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        self._then(module)
