"""What every command module shares: exit codes, parser pieces, the Client of a command, output helpers."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

TYPE_CHECKING = False  # typing stays out of the command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

# Exit codes: 0 success, 1 a check or operation failed, 2 usage error.
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class Formatter(argparse.HelpFormatter):
    """argparse's formatter without its `import shutil` (and bz2, lzma) on every command's start-up."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            try:
                columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (ValueError, OSError, AttributeError):
                columns = 80
            width = max(columns, 40) - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Skipped:
    """Stands in for the parser of a command this run does not use: argparse makes every parser
    look up its translations, and building all of them would cost each command start-up time."""

    def __getattr__(self, name):
        return self._ignore

    def _ignore(self, *args, **kwargs):
        return self


SKIPPED = _Skipped()


def add_command(
    sub, name: str, func: Callable[[argparse.Namespace], int | None] | None, help: str, **kw
) -> argparse.ArgumentParser:
    """A sub-command's parser (or SKIPPED when ``sub`` is), whose arguments run ``func``."""
    if sub is SKIPPED:
        return SKIPPED
    parser = sub.add_parser(
        name, help=help, description=help[:1].upper() + help[1:] + ".", formatter_class=Formatter, **kw
    )
    parser.set_defaults(func=func)
    return parser


def cards_options() -> argparse.ArgumentParser:
    """--cards and --hub: where commands that look models up find cards."""
    parent = argparse.ArgumentParser(add_help=False, formatter_class=Formatter)
    parent.add_argument(
        "--cards",
        metavar="DIR",
        action="append",
        default=[],
        help="card folder searched before GHOSTHUB_CARDS and the bundled cards (repeatable)",
    )
    parent.add_argument(
        "--hub",
        metavar="URL|DIR|s3://BUCKET/PREFIX",
        type=hub_argument,
        help="a published hub whose cards are searched too (default GHOSTHUB_HUB)",
    )
    return parent


def hub_argument(text: str) -> str:
    """A hub argument (--hub, --to, a hub folder): what :func:`ghosthub._utils.places.hub_place` accepts.

    Anything else is a usage error naming what is accepted, before any file is made.
    """
    from .._utils.places import hub_place
    from ..errors import HubError

    try:
        return hub_place(text, what="").spec
    except HubError as exc:
        raise argparse.ArgumentTypeError(str(exc).strip()) from None


def cache_options() -> argparse.ArgumentParser:
    """--cache-dir: for commands that touch the cache."""
    parent = argparse.ArgumentParser(add_help=False, formatter_class=Formatter)
    parent.add_argument(
        "--cache-dir", metavar="DIR", help="cache folder (default: GHOSTHUB_CACHE, else the user cache folder)"
    )
    return parent


def transfer_options() -> argparse.ArgumentParser:
    """--connections: for commands that download large files."""
    parent = argparse.ArgumentParser(add_help=False, formatter_class=Formatter)
    parent.add_argument(
        "--connections",
        metavar="N",
        type=connections,
        help="connections for one large download: a number (1: one stream) or auto (default: GHOSTHUB_CONNECTIONS, "
        "else split a slow stream over up to 8)",
    )
    return parent


def connections(text: str) -> int:
    """--connections: 1 to 64, or auto (0: sized for the asset)."""
    if text.strip().lower() == "auto":
        return 0
    return _int_within(text, 1, 64, "a number of connections (1 to 64, or auto)")


def client(args: argparse.Namespace):
    """The one Client a command uses, from its --cards, --hub, --cache-dir, --offline and --connections."""
    from ..client import Client

    return Client(
        cards=getattr(args, "cards", ()) or (),
        hub=getattr(args, "hub", None),
        cache_dir=getattr(args, "cache_dir", None),
        offline=getattr(args, "offline", None),
        progress=getattr(args, "progress", None),
        connections=getattr(args, "connections", None),
    )


def add_rebuild_options(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """The options of a rebuild: ``--data-dir``, ``--workdir`` (``prefix`` says in help what they go with)."""
    parser.add_argument(
        "--data-dir", metavar="DIR", help=f"{prefix}the training data (default: the digits are regenerated)"
    )
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        type=output_folder,
        help=f"{prefix}where the rebuild trains, kept (made if missing; default: a temporary folder, removed)",
    )
    parser.add_argument(
        "--workers",
        type=lambda text: _int_within(text, 1, 4096, "a number of processes (1 or more)"),
        default=1,
        metavar="N",
        help=f"{prefix}data-parallel processes (default 1, at most the CPUs); the card's count never starts any",
    )


def port(text: str) -> int:
    return _int_within(text, 0, 65535, "a port number (0 to 65535; 0 picks a free one)")


def whole(what: str, low: int = 1, high: int = 10_000) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of ``what`` from ``low`` to ``high``, else a usage error saying so.

    Examples
    --------
    >>> whole("classes per image")("5")
    5
    >>> whole("classes per image")("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '0' is not a number of classes per image (1 to 10000)
    """

    def parse(text: str) -> int:
        return _int_within(text, low, high, f"a number of {what} ({low} to {high})")

    return parse


def positive(what: str, high: float) -> Callable[[str], float]:
    """An argparse ``type``: a number above 0 and at most ``high`` (``what`` it is names it in the error).

    Examples
    --------
    >>> positive("width multiplier", 10)("0.5")
    0.5
    >>> positive("width multiplier", 10)("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'nan' is not a width multiplier (a number above 0, at most 10)
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value <= high:  # nan and inf fail too
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what} (a number above 0, at most {high:g})")
        return value

    return parse


def _int_within(text: str, low: int, high: int, what: str) -> int:
    """An argument parsed as an integer from ``low`` to ``high``; argparse names ``what`` it must be."""
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def input_file(what: str) -> Callable[[str], str]:
    """An argparse ``type``: an existing regular file; a missing path, a folder or a device is a usage error.

    Examples
    --------
    >>> input_file("a .ckpt or .safetensors file")("/")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: / is a folder; expected a .ckpt or .safetensors file
    """

    def parse(text: str) -> str:
        import stat

        try:
            mode = os.stat(os.path.expanduser(text)).st_mode
        except OSError as exc:
            reason = "no such file" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc)).lower()
            raise argparse.ArgumentTypeError(f"{text}: {reason}; expected {what}") from None
        if stat.S_ISDIR(mode):
            raise argparse.ArgumentTypeError(f"{text} is a folder; expected {what}")
        if not stat.S_ISREG(mode):
            raise argparse.ArgumentTypeError(
                f"{text} is not a regular file (a device, pipe or socket); expected {what}"
            )
        return text

    return parse


def output_file(text: str) -> str:
    """An argparse ``type``: a file to write, in a folder that exists.

    ghosthub makes the folders it is asked for (``--out DIR``, ``--workdir DIR``), never the
    folder of an output file: ``exports/net.mindir`` with no ``exports/`` is likely a typo.

    Examples
    --------
    >>> output_file("nowhere/net.mindir")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: the folder nowhere of nowhere/net.mindir does not exist: create it first, or check ...
    """
    path = os.path.expanduser(text)
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected the name of a file to write")
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise argparse.ArgumentTypeError(
            f"the folder {os.path.dirname(text)} of {text} {what}: create it first, or check the spelling"
        )
    return text


def output_folder(text: str) -> str:
    """An argparse ``type``: a folder to write into, made if missing (:func:`says_if_made` says so); not a file.

    Examples
    --------
    >>> output_folder("/dev/null")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: /dev/null is not a folder; expected a folder to write into (made if missing)
    >>> output_folder("/dev/null/run")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: /dev/null/run cannot be made: /dev/null is not a folder
    """
    path = os.path.abspath(os.path.expanduser(text))
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text} is not a folder; expected a folder to write into (made if missing)")
    above = path
    while not os.path.exists(above):  # the nearest part that exists must be a folder to make the rest in
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise argparse.ArgumentTypeError(f"{text} cannot be made: {above} is not a folder")
    return text


@contextlib.contextmanager
def says_if_made(path: str | os.PathLike | None, flag: str) -> Iterator[None]:
    """Around a command that writes into the folder given with ``flag``: once it succeeds, say if it made the folder.

    A folder that existed, and a URL or object-store hub, pass without a word; a command that
    fails says nothing of it (its error is what matters).
    """
    text = os.fspath(path) if path is not None else None
    new = text is not None and "://" not in text and not os.path.isdir(os.path.expanduser(text))
    yield
    if new and os.path.isdir(os.path.expanduser(text)):
        print(f"{flag} {text}: made this folder, which did not exist", file=sys.stderr, flush=True)


# The bounded numbers the commands take.
TOPK = whole("classes per image")
BATCH = whole("images per batch", high=4096)
EPOCHS = whole("epochs")
WORKERS = whole("worker processes", high=128)


def usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def usage_error(message: str) -> int:
    print(f"ghosthub {message}", file=sys.stderr)
    return EXIT_USAGE


# ---------------------------------------------------------------------------- output


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def size(n: float) -> str:
    """A byte count in binary units (KiB, MiB, GiB), as every progress bar and listing shows sizes."""
    from .._utils.units import size as binary_size

    return binary_size(n)
