"""The ``ghosthub`` command: a thin layer that turns arguments into API calls and results into text.

One module per command group (``registry``: list, show; ``cache``: download, verify, cache;
``run``: predict, export, eval; ``embed``; ``weights``: inspect, convert; ``train``: train, rebuild; ``hub``:
publish, serve; ``mirror``; ``demo``). Each adds its sub-commands to the parser; a run imports
and builds only the group of the command it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from .._version import __version__
from ._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, SKIPPED, Formatter

TYPE_CHECKING = False  # typing stays out of the command's start-up
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main", "run", "build_parser", "COMMANDS"]

# Every command and the module of its group, in the order --help lists them.
COMMANDS = {
    "list": "registry",
    "show": "registry",
    "download": "cache",
    "verify": "cache",
    "cache": "cache",
    "predict": "run",
    "export": "run",
    "eval": "run",
    "inspect": "weights",
    "convert": "weights",
    "embed": "embed",
    "train": "train",
    "rebuild": "train",
    "publish": "hub",
    "serve": "hub",
    "fsck": "hub",
    "mirror": "mirror",
    "demo": "demo",
}


def main(argv: Sequence[str] | None = None) -> int:
    # MindSpore's INFO/WARNING log lines would bury our output; users can still override.
    os.environ.setdefault("GLOG_v", "3")
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from ..errors import GhostHubError
    from ._console import console, os_error

    try:
        with console(args):
            return args.func(args) or EXIT_OK
    except GhostHubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ghosthub list | head`
        sys.stderr.close()
        return EXIT_OK
    except OSError as exc:  # a file system problem no command foresaw: one line naming the path, not a traceback
        print(f"error: {os_error(exc)}", file=sys.stderr)
        return EXIT_FAIL


def run() -> int:
    """The ``ghosthub`` console script: :func:`main`, then an exit that skips the final garbage collection.

    The process ends right after: Python's last collections walk every object the
    imports made (requests alone: 25-30 ms of a 0.4 s download) only to free memory
    the operating system takes back anyway. Freezing them keeps every other part of a
    normal exit (atexit handlers, flushed files). ``main`` stays for in-process callers.
    """
    import gc

    argv = sys.argv[1:]
    if next((a for a in argv if not a.startswith("-")), None) in _SHORT:
        # A short command allocates mostly while importing; collecting then finds nothing
        # to free and costs a cache-miss download ~10 ms. Long ones (training) keep it.
        gc.disable()
    code = main(argv)
    gc.freeze()
    return code


# Commands that end in a second or so, whatever their input (a download's chunks are freed as they go).
_SHORT = frozenset({"list", "show", "download", "cache", "inspect", "fsck"})


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser; with ``only``, just that command's sub-parser is built."""
    parser = argparse.ArgumentParser(
        prog="ghosthub",
        formatter_class=Formatter,
        description="A model-zoo hub for MindSpore: model cards in, verified weights and ready networks out.",
    )
    parser.add_argument("--version", action="version", version=f"ghosthub {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str):
        """The sub-parsers object to add command ``name`` to, or SKIPPED when this run does not need it."""
        return sub if only in (None, name) else SKIPPED

    groups = [COMMANDS[only]] if only else list(dict.fromkeys(COMMANDS.values()))
    for group in groups:
        import_module(f".{group}", __name__).add_commands(command)
    return parser


if __name__ == "__main__":
    sys.exit(run())
