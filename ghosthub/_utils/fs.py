"""Writing files whole or not at all, and the small file helpers around it.

Every writer in ghosthub goes through :func:`staged_file` / :func:`commit` (or
:func:`atomic_write`, :func:`atomic_path`, :func:`write_json` built on them): the
data goes to a process-unique temporary file in the target's folder, is flushed
to disk, and only then replaces the target with ``os.replace``; a failure removes
the temporary file. A reader therefore sees the old file or the new one, never a
part of either, even after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

TYPE_CHECKING = False  # typing stays out of a cache hit's imports
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, BinaryIO

__all__ = [
    "WRITEBACK_EVERY",
    "atomic_path",
    "atomic_write",
    "commit",
    "NotRegularFile",
    "fsync_dir",
    "make_folders",
    "open_regular",
    "remove_made_folders",
    "read_json",
    "staged_file",
    "start_writeback",
    "utcnow",
    "write_json",
]

# Files ghosthub publishes or exports are read by others (a web server under another user).
FILE_MODE = 0o644
# Bytes a long write goes between calls to start_writeback.
WRITEBACK_EVERY = 8 << 20


@contextlib.contextmanager
def staged_file(path: str | os.PathLike, *, suffix: str = ".tmp", sync: bool = True) -> Iterator[tuple[Path, BinaryIO]]:
    """A temporary file beside ``path`` (same folder, so ``os.replace`` is atomic), fsynced on success.

    Yields ``(temporary path, open binary file)``. The temporary file is removed
    if the block fails; on success it is flushed, synced and made readable
    (0644), and the caller replaces ``path`` with it (:func:`commit`).
    """
    import tempfile  # here: a cache hit never writes, and must not pay for importing it

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield tmp, f
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def commit(tmp: str | os.PathLike, path: str | os.PathLike, *, sync: bool = True) -> None:
    """Move a finished temporary file onto ``path`` and make the rename durable; on failure remove it."""
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(Path(path).parent)


def atomic_write(path: str | os.PathLike, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` to ``path`` whole or not at all.

    ``sync=False`` skips the fsyncs, for files that may be lost but never torn
    (a download's progress, saved twice a second while it runs).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(target, b"ghost")
    >>> target.read_bytes(), sorted(p.name for p in target.parent.iterdir())
    (b'ghost', ['a.txt'])
    """
    with staged_file(path, sync=sync) as (tmp, f):
        f.write(data)
    commit(tmp, path, sync=sync)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path for a writer that takes a file name (MindSpore's savers); moved onto ``path`` on success.

    ``suffix`` keeps the extension a writer insists on (``.ckpt``). On success the
    file is synced, made readable (0644) and replaces ``path``; on failure it is removed.
    """
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, FILE_MODE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    commit(tmp, path)


def write_json(path: str | os.PathLike, data: Any, *, indent: int | None = 2) -> None:
    """Write ``data`` as JSON (UTF-8, a final newline), atomically."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=str) + "\n"
    atomic_write(path, text.encode("utf-8"))


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in ``path``, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class NotRegularFile(OSError):
    """A path that names a FIFO, a socket, a device or a folder where a regular file was expected."""

    def __init__(self, path: str | os.PathLike, kind: str):
        super().__init__(f"{os.fspath(path)} is {kind}, not a regular file")
        self.path = os.fspath(path)
        self.kind = kind


def file_kind(mode: int) -> str:
    """What a ``st_mode`` names, as a message says it ("a FIFO (named pipe)", "a folder" ...).

    Examples
    --------
    >>> import stat
    >>> file_kind(stat.S_IFIFO)
    'a FIFO (named pipe)'
    """
    import stat

    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for reading (binary, buffered) when it is a regular file; NotRegularFile otherwise.

    Opening a FIFO for reading blocks until a writer comes, and a device may never end:
    the path is checked before the open, and the open file again (the path may have been
    swapped meanwhile), with ``O_NONBLOCK`` so that the open itself never waits. A link to a
    regular file is followed.

    Raises
    ------
    NotRegularFile
        ``path`` is a FIFO, a socket, a device or a folder (named in the message).
    OSError
        ``path`` cannot be opened (FileNotFoundError, PermissionError ...).
    """
    import stat

    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, file_kind(mode))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, file_kind(mode))
        return os.fdopen(fd, "rb")  # O_NONBLOCK does nothing to a regular file's reads
    except BaseException:
        os.close(fd)
        raise


def make_folders(*folders: str | os.PathLike) -> list[Path]:
    """Create ``folders`` and their parents; return the ones this call created, outermost first.

    What a command that may fail needs to undo its folders, and only its own
    (:func:`remove_made_folders`): a folder that was there before is never in the list.
    """
    created: list[Path] = []
    for folder in map(Path, folders):
        missing = []
        here = folder
        while not os.path.lexists(here) and here != here.parent:
            missing.append(here)
            here = here.parent
        folder.mkdir(parents=True, exist_ok=True)
        created += [m for m in reversed(missing) if m not in created]
    return created


def remove_made_folders(created: list[Path], *, own_files: tuple[str, ...] = ()) -> list[Path]:
    """After a command failed: remove the folders it created that hold nothing but files of its own.

    ``created`` is what :func:`make_folders` returned; ``own_files`` names the files the command
    itself leaves in them (its lock file). Innermost first; a folder holding anything else is
    kept, and one the command did not create is never touched. Returns the folders removed.
    """
    removed = []
    for folder in reversed(created):
        try:
            names = os.listdir(folder)
            if any(name not in own_files for name in names):
                continue
            for name in names:
                (folder / name).unlink()
            folder.rmdir()
            removed.append(folder)
        except OSError:
            continue  # already gone, or not ours to empty: kept
    return removed


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename inside ``folder`` durable; not every platform can open a folder."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Start writing ``length`` bytes at ``offset`` of ``fd`` to disk, without waiting for them.

    A large download calls this as it goes, so its final fsync waits only for the
    last few MiB instead of the whole file (on a fast disk, 256 MiB took 80 ms to
    flush at the end; 2 ms this way). Linux's ``sync_file_range``; returns False
    where there is none (the caller may flush another way): the final fsync stays
    what makes the file durable.
    """
    call = _sync_file_range()
    if call is None:
        return False
    call(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # an error here only means the fsync does the work
    return True


_SYNC_FILE_RANGE_WRITE = 2
_sfr: list = []


def _sync_file_range():
    if not _sfr:
        call = None
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError, ImportError):
                import ctypes  # a few ms, paid on the first call in a download's writer, not at import

                call = ctypes.CDLL(None, use_errno=True).sync_file_range
                call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
                call.restype = ctypes.c_int
        _sfr.append(call)
    return _sfr[0]


def utcnow() -> str:
    """The current UTC time as ISO 8601 text with seconds and a ``Z``, as records and indexes keep it."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
