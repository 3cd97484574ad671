"""What earlier runs hashed in a hub folder: digests keyed on each file's size, mtime, ctime and inode.

A mirror re-synced every night should not read every byte it already holds. After
an asset is hashed (or copied in with its digest), its record is kept; a later sync
trusts a file its record still vouches for, as the download cache does
(:func:`ghosthub.download.layout.is_vouched`): the ctime cannot be set back and a
replaced file has a new inode, so the four fields change whenever the bytes can
have. The records are a dot-file of the folder itself (``ghosthub serve`` never serves
dot-files), so they last as long as the mirror does, whatever cache a sync runs with;
a copy of the folder has other inodes and is simply hashed again. They are only a
shortcut: losing them costs a re-hash, nothing else.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from .._utils.fs import atomic_write, read_json
from ..download.layout import stat_fields

__all__ = ["RECORDS", "VerifiedFiles"]

RECORDS = ".mirror-verified.json"


class VerifiedFiles:
    """The records of one hub folder ``root`` (in ``root/.mirror-verified.json``)."""

    def __init__(self, root: str | os.PathLike):
        self.root = str(root)
        self.path = Path(root) / RECORDS
        files = (read_json(self.path) or {}).get("files")
        self.files: dict[str, dict] = files if isinstance(files, dict) else {}
        self.changed = False

    def vouches(self, rel: str, digest: str) -> bool:
        """Whether ``rel`` (``assets/...``) is, unchanged, the file hashed to ``digest`` (64 hex digits)."""
        record, now = self.files.get(rel), _fields(Path(self.root) / rel)
        return bool(now and isinstance(record, dict) and record.get("sha256") == digest.lower()
                    and {k: record.get(k) for k in now} == now)  # fmt: skip

    def note(self, rel: str, digest: str) -> None:
        """``rel`` was just hashed (or written) to ``digest``."""
        now = _fields(Path(self.root) / rel)
        if now:
            self.files[rel] = {**now, "sha256": digest.lower()}
            self.changed = True

    def forget(self, rel: str) -> None:
        if self.files.pop(rel, None) is not None:
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        try:
            atomic_write(self.path, json.dumps({"files": self.files}).encode(), sync=False)
            self.changed = False
        except OSError:
            pass  # not saved (a read-only folder): the next run hashes again, nothing is wrong


def _fields(path: Path) -> dict[str, int] | None:
    """Size, mtime, ctime and inode of a regular file (a link is never vouched for); None otherwise."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return stat_fields(st) if stat.S_ISREG(st.st_mode) else None
