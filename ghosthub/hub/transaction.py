"""Writing hubs: replace several files of a hub so that readers see all the changes or none."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._utils.fs import atomic_write, fsync_dir, staged_file
from ..constants import CHUNK_SIZE
from ..errors import HubError, shorten

__all__ = ["JOURNAL", "Transaction", "journal_steps", "recover", "stage_copy"]

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
    """Roll back a publish that was killed while committing; True if there was one.

    Raises
    ------
    HubError
        The journal cannot be read or is not of the shape a commit writes (``{"steps": [...]}``,
        each step naming its files): it is left in place, with the backups it names, for a person
        to look at; the message says what is wrong with it.
    """
    root = Path(root)
    steps = journal_steps(root)
    if steps is None:
        return False
    _roll_back(root, steps)
    return True


def journal_steps(root: str | os.PathLike) -> list[dict[str, str | None]] | None:
    """The steps of the journal a killed commit left in hub ``root`` (None when there is none), checked for shape.

    Raises
    ------
    HubError
        The journal cannot be read, is not JSON, or is not ``{"steps": [...]}`` with each step
        naming its files (``final``, ``tmp``, ``backup``); the message says what it found.
    """
    journal = Path(root) / JOURNAL
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HubError(f"cannot read the publish journal {journal} ({exc.strerror or exc}); {_BY_HAND}") from None
    return _steps(data, journal)


_BY_HAND = (
    "it was left in place: look at the files it names (a .bak beside a file is its state before the publish), "
    "then delete it"
)


def _steps(data: bytes, journal: Path) -> list[dict[str, str | None]]:
    """The steps of a journal, checked for the shape :meth:`Transaction.commit` writes; HubError otherwise."""
    try:
        record = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise HubError(f"the publish journal {journal} is not valid JSON ({shorten(exc)}); {_BY_HAND}") from None
    steps = record.get("steps") if isinstance(record, dict) else None
    if not isinstance(steps, list):
        found = shorten(record, 80, quoted=True)
        raise HubError(f'the publish journal {journal} is {found}, not {{"steps": [...]}}; {_BY_HAND}')
    for i, step in enumerate(steps):
        text = isinstance(step, dict) and isinstance(step.get("final"), str)
        if not text or any(step.get(k) is not None and not isinstance(step[k], str) for k in ("tmp", "backup")):
            found = shorten(step, 80, quoted=True)
            raise HubError(
                f"the publish journal {journal}: step {i + 1} is {found}, not its files "
                f"(final, tmp, backup); {_BY_HAND}"
            )
    return steps


def _roll_back(root: Path, steps: list[dict[str, Any]]) -> None:
    for step in reversed(steps):
        final, backup = Path(step["final"]), step.get("backup")
        tmp = Path(step["tmp"]) if step.get("tmp") else None  # None: a removal
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
