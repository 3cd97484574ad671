"""Partial downloads: their names, who owns them, and whether their owner is gone.

A download in progress is ``.<file>.<host>-<pid>-<nonce>.part`` beside its target, with
``.part.json`` describing what it is downloaded from. The name says which process on which
host writes it, so a later process can tell a live download from one a killed process left.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

__all__ = [
    "PART_NAME",
    "activity",
    "is_abandoned",
    "is_foreign",
    "is_own_file",
    "new_part",
    "owner_is_gone",
    "owner_tag",
    "part_meta",
    "parts_of",
]

PART_NAME = re.compile(r"\.(?P<file>.+)\.(?P<host>[A-Za-z0-9-]*)-(?P<pid>\d+)-(?P<nonce>[0-9a-f]{8})\.part")


def _host() -> str:
    node = os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")
    return re.sub(r"[^A-Za-z0-9-]", "", node.split(".")[0])[:32]


def new_part(path: Path) -> Path:
    """A process-unique temporary file name for downloading ``path``: no two writers share one."""
    return path.with_name(f".{path.name}.{_host()}-{os.getpid()}-{os.urandom(4).hex()}.part")


def part_meta(part: Path) -> Path:
    """The file beside a partial download that says what it was downloaded from."""
    return part.with_name(part.name + ".json")


def parts_of(path: Path) -> list[Path]:
    """The partial downloads of ``path`` in its folder, any process's."""
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    return [path.with_name(n) for n in names if (m := PART_NAME.fullmatch(n)) and m["file"] == path.name]


def is_abandoned(part: Path, stale_after: float) -> bool:
    """True when no live process writes ``part``.

    On this host that means its owner is gone: a live owner is never called
    abandoned however long it stalls, since whoever took its file over would
    share it with a writer. Another host's process cannot be asked, so its part
    counts as abandoned once it has not grown for ``stale_after`` seconds; such
    a part is only ever copied, never taken over (see fetch._claim_part).
    """
    match = PART_NAME.fullmatch(part.name)
    if not match:
        return False
    try:
        mtime = os.lstat(part).st_mtime
    except FileNotFoundError:
        return False
    return owner_is_gone(match["host"], int(match["pid"]), mtime, stale_after)


def owner_is_gone(host: str, pid: int, mtime: float, stale_after: float) -> bool:
    """Whether the process ``pid`` on ``host`` that last wrote a file at ``mtime`` no longer writes it.

    On this host: it is not running (or a later process reuses its pid). Elsewhere:
    the file has not changed for ``stale_after`` seconds.
    """
    if host == _host():
        return not _alive(pid, since=mtime)
    return time.time() - mtime > stale_after


def owner_tag() -> str:
    """``<host>-<pid>``: what a temporary file's name carries so that another process can tell when it is left over."""
    return f"{_host()}-{os.getpid()}"


def is_foreign(part: Path) -> bool:
    """True when ``part`` was written by a process on another host (a cache on a shared file system)."""
    match = PART_NAME.fullmatch(part.name)
    return bool(match) and match["host"] != _host()


def is_own_file(path: Path) -> bool:
    """True when ``path`` itself (not what a link points to) is a regular file of this user.

    Only such a part may be taken over or copied: a link planted in a shared cache
    would make us write through it, or read a file elsewhere into the cache.
    """
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (not hasattr(os, "getuid") or st.st_uid == os.getuid())


def _alive(pid: int, since: float) -> bool:
    """Whether process ``pid`` is running and could have written a file at time ``since``."""
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[-1].split()
        if fields[0] == b"Z":  # a killed child that is not reaped yet is gone for our purpose
            return False
        # A process that started after the part was last written is not its owner: the pid was reused.
        # (btime is whole seconds, rounded down: the computed start is never later than the real one.)
        started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return True  # no /proc (macOS) or an unexpected layout: the pid answering is all we know
    return started <= since + 1.0


def _boot_time() -> float:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    return 0.0


def activity(target: Path) -> list[tuple[str, int, int]]:
    """What the partial downloads of ``target`` look like now: it changes while one is moving."""
    found = []
    for part in parts_of(target):
        with contextlib.suppress(FileNotFoundError):
            stat = os.lstat(part)
            found.append((part.name, stat.st_size, stat.st_mtime_ns))
    return sorted(found)
