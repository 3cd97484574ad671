"""What every command module shares: exit codes, parser pieces, the Client of a command, output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys

TYPE_CHECKING = False  # typing stays out of the command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable
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
        "--workdir", metavar="DIR", help=f"{prefix}where the rebuild trains (default: a temporary folder)"
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


def _int_within(text: str, low: int, high: int, what: str) -> int:
    """An argument parsed as an integer from ``low`` to ``high``; argparse names ``what`` it must be."""
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


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
