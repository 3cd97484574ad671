"""Writing hubs: replace several files of a hub so that readers see all the changes or none."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._utils.fs import atomic_write, fsync_dir, staged_file
from ..constants import CHUNK_SIZE
from ..errors import HubError

__all__ = ["JOURNAL", "Transaction", "recover", "stage_copy"]

JOURNAL = ".publish-journal.json"


class Transaction:
    """Replace several files of a hub so that readers see all changes or none.

    Files are staged first (:meth:`stage`, or :meth:`remove` for a file that goes), then
    :meth:`commit` records a journal, replaces (or removes) each final file in the order
    staged, keeping a hard-linked backup of what it replaces, and removes the journal. Any
    failure during commit rolls back at once; a process killed mid-commit leaves the
    journal, and :func:`recover` (run by the next publish) rolls back from it.
    """

    def __init__(self, root: Path):
        self.root = root
        self.steps: list[dict[str, str | None]] = []

    def stage(self, final: Path, data: bytes | None = None, *, tmp: Path | None = None) -> None:
        """Queue ``final`` to be replaced by ``data`` (or by an already staged temporary file)."""
        if tmp is None:
            with staged_file(final) as (tmp, f):
                f.write(data or b"")
        self.steps.append({"tmp": str(tmp), "final": str(final), "backup": None})

    def remove(self, final: Path) -> None:
        """Queue ``final`` to be removed by the commit (and restored if the commit rolls back)."""
        self.steps.append({"tmp": None, "final": str(final), "backup": None})

    def discard(self) -> None:
        for step in self.steps:
            if step["tmp"]:
                Path(step["tmp"]).unlink(missing_ok=True)
        self.steps = []

    def commit(self) -> None:
        journal = self.root / JOURNAL
        for i, step in enumerate(self.steps):
            final = Path(step["final"])
            if final.exists():
                step["backup"] = str(final.with_name(f".{final.name}.{os.getpid()}.{i}.bak"))
        atomic_write(journal, json.dumps({"steps": self.steps}).encode())
        try:
            for step in self.steps:
                if step["backup"]:
                    _link_or_copy(Path(step["final"]), Path(step["backup"]))
                if step["tmp"]:
                    os.replace(step["tmp"], step["final"])
                else:
                    Path(step["final"]).unlink(missing_ok=True)
        except BaseException:
            _roll_back(self.root, self.steps)
            raise
        for folder in {Path(step["final"]).parent for step in self.steps}:
            fsync_dir(folder)  # the renames are durable before the journal goes
        journal.unlink()
        for step in self.steps:
            if step["backup"]:
                Path(step["backup"]).unlink(missing_ok=True)
        self.steps = []


def stage_copy(src: Path, final: Path, *, suffix: str = ".tmp") -> tuple[Path, str]:
    """Copy ``src`` to a temporary file beside ``final`` while hashing it: (temporary file, SHA-256).

    The copy is what gets staged, so its own digest is what a caller checks: a source that
    changed while it was read is caught.
    """
    import hashlib

    digest = hashlib.sha256()
    with open(src, "rb") as fin, staged_file(final, suffix=suffix) as (tmp, fout):
        while chunk := fin.read(CHUNK_SIZE):
            digest.update(chunk)
            fout.write(chunk)
    return tmp, digest.hexdigest()


def recover(root: str | os.PathLike) -> bool:
    """Roll back a publish that was killed while committing; True if there was one."""
    root = Path(root)
    journal = root / JOURNAL
    try:
        steps = json.loads(journal.read_bytes())["steps"]
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError) as exc:
        raise HubError(f"cannot read the publish journal {journal} ({exc}); inspect the hub, then delete it") from None
    _roll_back(root, steps)
    return True


def _roll_back(root: Path, steps: list[dict[str, Any]]) -> None:
    for step in reversed(steps):
        final, backup = Path(step["final"]), step["backup"]
        tmp = Path(step["tmp"]) if step["tmp"] else None  # None: a removal
        outside = not _inside(root, final) or (tmp and not _inside(root, tmp))
        if outside or (backup and not _inside(root, Path(backup))):
            raise HubError(f"publish journal in {root} names files outside the hub; refusing to roll back")
        if backup and Path(backup).exists():
            os.replace(backup, final)
            # rename() between two links to one file does nothing: the backup may still be there.
            Path(backup).unlink(missing_ok=True)
        elif not backup and tmp and not tmp.exists():
            final.unlink(missing_ok=True)  # created by the commit: it did not exist before
        if tmp:
            tmp.unlink(missing_ok=True)
    (root / JOURNAL).unlink(missing_ok=True)


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # file systems without hard links
        import shutil

        shutil.copy2(src, dst)
