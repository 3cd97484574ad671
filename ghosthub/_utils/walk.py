"""Walking a folder tree for files without looping through folder links."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["walk_files"]


def walk_files(
    root: str | os.PathLike,
    suffix: str,
    on_loop: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, os.stat_result]]:
    """Every file under ``root`` whose name ends with ``suffix``, with its stat; hidden entries skipped.

    Links to folders are followed, but a folder already entered (same device and
    inode) is entered only once: ``ln -s . cards/loop`` is skipped, and
    ``on_loop(path)`` is called with the link, instead of the walk failing with
    ELOOP or going round until the path is too long.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "a.md").write_text("x") and (root / "loop").symlink_to(".")
    >>> [pathlib.Path(p).name for p, _ in walk_files(root, ".md", on_loop=lambda p: None)]
    ['a.md']
    """
    try:
        top = os.stat(root)
    except OSError:
        return
    seen = {(top.st_dev, top.st_ino)}
    yield from _walk(os.fspath(root), suffix, seen, on_loop)


def _walk(folder: str, suffix: str, seen: set, on_loop) -> Iterator[tuple[str, os.stat_result]]:
    try:
        scan = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    with scan:
        items = sorted(scan, key=lambda e: e.name)
    for item in items:
        if item.name.startswith("."):
            continue
        try:
            is_dir = item.is_dir()
            if is_dir:
                stat = item.stat()
            elif not (item.name.endswith(suffix) and item.is_file()):
                continue
            else:
                stat = item.stat()
        except OSError:  # a dangling link, or a link loop (ELOOP) of its own
            if on_loop and item.is_symlink():
                on_loop(item.path)
            continue
        if is_dir:
            key = (stat.st_dev, stat.st_ino)
            if key in seen:
                if on_loop:
                    on_loop(item.path)
                continue
            seen.add(key)
            yield from _walk(item.path, suffix, seen, on_loop)
        else:
            yield item.path, stat
