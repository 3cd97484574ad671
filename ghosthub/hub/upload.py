"""Uploading one asset into an object-store hub: content-addressed, never overwriting, in parts that resume.

An asset's key names its digest (``assets/<model>-<8 hex>.<format>``) and its object carries
the full SHA-256 as metadata, so an object already under that key is checked, never
overwritten: the same digest is success, another is refused (``force`` replaces it only if
it is still the object that was checked). Large files go up as a multipart upload created
with the same metadata; a process killed halfway leaves the upload open, and the next upload
of the same file finds it (``ListMultipartUploads``), keeps every part whose size and MD5
match (``ListParts``) and sends only the rest. The upload is completed with ``If-None-Match:
*``: of two writers of one key, one completes and the other finds the same bytes there.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from ..download.s3 import error_code, explain
from ..errors import PublishError
from .store import ObjectStore, Precondition

__all__ = ["Uploaded", "upload_asset"]

MAX_PARTS = 10_000  # S3's limit: larger files get larger parts


class Uploaded(NamedTuple):
    """What :func:`upload_asset` did: created the object or found it there; parts sent and kept."""

    created: bool
    parts: int = 0
    kept: int = 0


def upload_asset(
    store: ObjectStore,
    rel: str,
    path: Path,
    sha256: str,
    *,
    part_size: int,
    threads: int = 10,
    force: bool = False,
) -> Uploaded:
    """Put the file ``path`` (whose SHA-256 is ``sha256``) under ``rel`` unless that very file is there.

    Parameters
    ----------
    store : ObjectStore
        The hub.
    rel : str
        ``assets/<file>``.
    path : Path
        The local file; a staged copy whose digest was computed while it was written.
    sha256 : str
        Its full digest, stored as the object's ``sha256`` metadata.
    part_size : int
        Files of this size or more go up in parts of this size.
    threads : int
        Parts sent at once.
    force : bool
        Replace an object of another digest under the same key.

    Returns
    -------
    Uploaded

    Raises
    ------
    PublishError
        Another file is under ``rel`` (and not ``force``).
    HubError
        The store refused or failed (message names the object and what to do).
    """
    sha256 = sha256.lower()
    there = _existing(store, rel, sha256, force)
    if there is True:
        return Uploaded(False)
    replace = there if isinstance(there, str) else None  # force: the ETag of the other file
    size = path.stat().st_size
    try:
        if size < part_size:
            store.put(rel, path.read_bytes(), if_none_match=replace is None, if_match=replace, metadata=_meta(sha256))
            return Uploaded(True, 1)
        return _multipart(store, rel, path, size, sha256, part_size, threads, replace)
    except Precondition:
        # Another writer put the object first: the same bytes (success) or, rarely, another file.
        if _existing(store, rel, sha256, force) is True:
            return Uploaded(False)
        raise PublishError(f"{store.url(rel)} was written meanwhile with other content; publish again") from None


def _meta(sha256: str) -> dict:
    return {"sha256": sha256}


def _existing(store: ObjectStore, rel: str, sha256: str, force: bool) -> bool | str | None:
    """True when ``rel`` holds this file; None when absent; with ``force``, the ETag of another file there."""
    head = store.head(rel)
    if head is None:
        return None
    found = str((head.get("Metadata") or {}).get("sha256", "")).lower()
    if found == sha256:
        return True
    if force:
        return head.get("ETag")
    raise PublishError(
        f"{store.url(rel)} exists with other content (SHA-256 {found or 'not recorded'}, this file has {sha256}); "
        "pass --force to replace it"
    )


def _multipart(
    store: ObjectStore, rel: str, path: Path, size: int, sha256: str, part_size: int, threads: int, replace
) -> Uploaded:
    """Send ``path`` in parts, continuing an open upload of the same key; complete it conditionally."""
    part_size = max(part_size, -(-size // MAX_PARTS))
    count = -(-size // part_size)
    upload_id, have = _resumable(store, rel)
    s3, bucket, key = store.s3, store.bucket, store.key(rel)
    try:
        if upload_id is None:
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata=_meta(sha256))["UploadId"]
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, store.url(rel)) from None

    def send(number: int) -> dict:
        offset = (number - 1) * part_size
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), min(part_size, size - offset), offset)
        old = have.get(number)
        if old and old["Size"] == len(data) and old["ETag"].strip('"') == hashlib.md5(data).hexdigest():
            return {"PartNumber": number, "ETag": old["ETag"], "kept": True}
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": answer["ETag"], "kept": False}

    try:
        with ThreadPoolExecutor(max(1, min(threads, count))) as pool:
            parts = list(pool.map(send, range(1, count + 1)))
        done = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
        condition = {} if not store.conditional else {"IfMatch": replace} if replace else {"IfNoneMatch": "*"}
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}, **condition
        )
    except Exception as exc:  # noqa: BLE001
        refusal = store.refusal(exc, rel)
        if isinstance(refusal, Precondition):
            store.abort(rel, upload_id)  # the object is there: these parts are not needed
            raise refusal from None
        if error_code(exc) == "NoSuchUpload":  # another writer of the same file completed this upload
            raise Precondition(rel) from None
        raise refusal from None
    kept = sum(p["kept"] for p in parts)
    return Uploaded(True, count - kept, kept)


def _resumable(store: ObjectStore, rel: str) -> tuple[str | None, dict[int, dict]]:
    """The open upload of ``rel`` with the most bytes sent, and its parts by number; (None, {}) when none."""
    best, best_parts, best_bytes = None, {}, -1
    for upload in store.uploads(rel):
        if upload["rel"] != rel:
            continue
        parts = _parts(store, rel, upload["id"])
        sent = sum(p["Size"] for p in parts.values())
        if sent > best_bytes:
            best, best_parts, best_bytes = upload["id"], parts, sent
    return best, best_parts


def _parts(store: ObjectStore, rel: str, upload_id: str) -> dict[int, dict]:
    parts, marker = {}, {}
    try:
        while True:
            page = store.s3.list_parts(Bucket=store.bucket, Key=store.key(rel), UploadId=upload_id, **marker)
            parts.update({p["PartNumber"]: p for p in page.get("Parts", ())})
            if not page.get("IsTruncated"):
                return parts
            marker = {"PartNumberMarker": page["NextPartNumberMarker"]}
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) == "NoSuchUpload":  # completed or aborted since it was listed
            return {}
        raise explain(exc, store.url(rel)) from None
