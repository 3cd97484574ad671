"""Uploading one asset into an object-store hub: content-addressed, never overwriting, in parts that resume.

An asset's key names its digest (``assets/<model>-<8 hex>.<format>``) and its object carries
the full SHA-256 as metadata, so an object already under that key is checked, never
overwritten: the same digest is success, another is refused (``force`` replaces it only if
it is still the object that was checked). Large files go up as a multipart upload created
with the same metadata; a process killed halfway leaves the upload open, and the next upload
of the same file finds it (``ListMultipartUploads``), keeps every part whose size and MD5
match (``ListParts``) and sends only the rest. The upload is completed with ``If-None-Match:
*``: of two writers of one key, one completes and the other finds the same bytes there.

The file is read once, in order, by one reader that hashes it while worker threads send the
parts it has read (two parts ahead at most, so memory stays bounded); an upload whose bytes
do not have the digest it was asked to upload is aborted, never completed. So a user's own
file can be uploaded where it lies, without a private copy: a file that changed since it was
hashed is caught.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from .._utils.units import size as _size
from ..download.partfile import make_bar
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
    progress: bool | None = None,
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
    progress : bool, optional
        A byte progress bar on a terminal, else a line when the upload starts and one when it
        ends; None follows ``GHOSTHUB_NO_PROGRESS`` (the store's settings).

    Returns
    -------
    Uploaded

    Raises
    ------
    PublishError
        Another file is under ``rel`` (and not ``force``), or the file's bytes do not have the
        digest ``sha256`` (it changed since it was hashed): nothing was completed.
    HubError
        The store refused or failed (message names the object and what to do).
    """
    sha256 = sha256.lower()
    there = _existing(store, rel, sha256, force)
    if there is True:
        return Uploaded(False)
    replace = there if isinstance(there, str) else None  # force: the ETag of the other file
    size = path.stat().st_size
    shown = _Progress(store.url(rel), size, store.settings, progress)
    try:
        if size < part_size:
            data = path.read_bytes()
            _check_digest(hashlib.sha256(data), sha256, path, store.url(rel))
            store.put(rel, data, if_none_match=replace is None, if_match=replace, metadata=_meta(sha256))
            shown.advance(len(data))
            return shown.done(Uploaded(True, 1))
        return shown.done(_multipart(store, rel, path, size, sha256, (part_size, threads), replace, shown))
    except Precondition:
        # Another writer put the object first: the same bytes (success) or, rarely, another file.
        if _existing(store, rel, sha256, force) is True:
            return shown.done(Uploaded(False))
        raise PublishError(f"{store.url(rel)} was written meanwhile with other content; publish again") from None
    finally:
        shown.close()


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
    store: ObjectStore, rel: str, path: Path, size: int, sha256: str, shape: tuple[int, int], replace, shown
) -> Uploaded:
    """Send ``path`` in parts, continuing an open upload of the same key; complete it conditionally.

    ``shape`` is (part size, parts sent at once). One reader hashes the file in order while the
    senders send; the upload is completed only if the bytes read have the digest ``sha256``.
    """
    part_size, threads = shape
    part_size = max(part_size, -(-size // MAX_PARTS))
    count = -(-size // part_size)
    upload_id, have, algorithm = _resumable(store, rel)
    s3, bucket, key = store.s3, store.bucket, store.key(rel)
    try:
        if upload_id is None:
            algorithm = _checksum_algorithm(s3)
            upload_id = s3.create_multipart_upload(
                Bucket=bucket, Key=key, Metadata=_meta(sha256), **_algorithm_arg(algorithm)
            )["UploadId"]
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, store.url(rel)) from None
    checksum = f"Checksum{algorithm}" if algorithm else None  # the part checksum the completion must list

    def send(number: int, data: bytes) -> dict:
        old = have.get(number)
        if old and old["Size"] == len(data) and old["ETag"].strip('"') == hashlib.md5(data).hexdigest():
            kept = True
        else:
            old = s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **_algorithm_arg(algorithm)
            )
            kept = False
        shown.advance(len(data))
        part = {"PartNumber": number, "ETag": old["ETag"]}
        if checksum and old.get(checksum):
            part[checksum] = old[checksum]
        return {**part, "kept": kept}

    try:
        digest, parts = _send_in_order(path, count, part_size, max(1, min(threads, count)), send)
        _check_digest(digest, sha256, path, store.url(rel))
        done = [{k: v for k, v in p.items() if k != "kept"} for p in parts]
        condition = {} if not store.conditional else {"IfMatch": replace} if replace else {"IfNoneMatch": "*"}
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}, **condition
        )
    except PublishError:
        store.abort(rel, upload_id)  # bytes of another file: never completed, and their parts not kept
        raise
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


def _send_in_order(path: Path, count: int, part_size: int, threads: int, send) -> tuple[object, list[dict]]:
    """Read ``path`` part by part, hashing it, while ``threads`` senders send the parts read: (SHA-256, parts).

    Besides the parts being sent, at most two wait in memory (12 x 8 MiB at the defaults); the first
    failure stops the reading and is raised.
    """
    digest = hashlib.sha256()
    room = threading.BoundedSemaphore(threads + 2)
    failed = threading.Event()
    futures: list[Future] = []

    def finished(future: Future) -> None:
        room.release()
        if future.exception() is not None:
            failed.set()

    with open(path, "rb", buffering=0) as f, ThreadPoolExecutor(threads) as pool:
        for number in range(1, count + 1):
            room.acquire()
            if failed.is_set():
                break  # a part failed: its error is raised below, nothing more is read
            data = f.read(part_size)
            digest.update(data)
            futures.append(pool.submit(send, number, data))
            futures[-1].add_done_callback(finished)
        parts = [future.result() for future in futures]
    return digest, parts


def _check_digest(digest, sha256: str, path: Path, url: str) -> None:
    """Refuse to complete an upload whose bytes are not the file that was hashed."""
    if digest.hexdigest() != sha256:
        raise PublishError(
            f"{path} changed while it was uploaded to {url} (its bytes no longer have SHA-256 {sha256}); nothing "
            "was published: wait until the file is complete, then publish again"
        )


class _Progress:
    """How an upload shows itself: a byte bar on a terminal, else a line when it starts and one when it ends.

    The lines go to the ``ghosthub.upload`` logger at INFO, as a download's do, which the command line shows.
    """

    def __init__(self, url: str, total: int, settings, progress: bool | None):
        from ..config import show_progress

        wanted = settings.progress if progress is None else progress
        on_terminal = show_progress(progress, settings)
        self.bar = make_bar(url.rsplit("/", 1)[-1], settings, progress)(total, 0) if on_terminal else None
        self.lines = not on_terminal and bool(wanted)
        self.url, self.total, self.start = url, total, time.monotonic()
        self._lock = threading.Lock()
        if self.lines:
            _log().info("uploading %s (%s)", url, _size(total))

    def advance(self, n: int) -> None:
        if self.bar is not None:
            with self._lock:  # senders report from their threads
                self.bar.update(n)

    def done(self, uploaded: Uploaded) -> Uploaded:
        if self.lines:
            took = time.monotonic() - self.start
            what = "uploaded" if uploaded.created else "already there:"
            _log().info("%s %s (%s) in %.1f s", what, self.url, _size(self.total), took)
            self.lines = False
        return uploaded

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _log():
    import logging

    return logging.getLogger("ghosthub.upload")


def _checksum_algorithm(s3) -> str | None:
    """The part checksum a new upload declares: CRC32 as the AWS tools send it, unless the AWS configuration
    (``AWS_REQUEST_CHECKSUM_CALCULATION=when_required``, for stores that refuse checksums) asks for none.

    Declared, the store checks each part and keeps a checksum of parts; undeclared, S3 and moto compute a
    full-object CRC64NVME of the completed object instead, which costs moto a second copy of the object.
    """
    wanted = getattr(getattr(s3, "meta", None), "config", None)
    return "CRC32" if getattr(wanted, "request_checksum_calculation", "when_supported") == "when_supported" else None


def _algorithm_arg(algorithm: str | None) -> dict:
    return {"ChecksumAlgorithm": algorithm} if algorithm else {}


def _resumable(store: ObjectStore, rel: str) -> tuple[str | None, dict[int, dict], str | None]:
    """The open upload of ``rel`` with the most bytes sent, its parts by number and its checksum algorithm."""
    best, best_parts, best_algorithm, best_bytes = None, {}, None, -1
    for upload in store.uploads(rel):
        if upload["rel"] != rel:
            continue
        parts, algorithm = _parts(store, rel, upload["id"])
        algorithm = upload.get("checksum") or algorithm
        sent = sum(p["Size"] for p in parts.values())
        if sent > best_bytes:
            best, best_parts, best_algorithm, best_bytes = upload["id"], parts, algorithm, sent
    return best, best_parts, best_algorithm


def _parts(store: ObjectStore, rel: str, upload_id: str) -> tuple[dict[int, dict], str | None]:
    """The parts of an open upload by number, and the checksum algorithm it was created with."""
    parts, marker, algorithm = {}, {}, None
    try:
        while True:
            page = store.s3.list_parts(Bucket=store.bucket, Key=store.key(rel), UploadId=upload_id, **marker)
            parts.update({p["PartNumber"]: p for p in page.get("Parts", ())})
            algorithm = page.get("ChecksumAlgorithm") or algorithm
            if not page.get("IsTruncated"):
                return parts, algorithm
            marker = {"PartNumberMarker": page["NextPartNumberMarker"]}
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) == "NoSuchUpload":  # completed or aborted since it was listed
            return {}, None
        raise explain(exc, store.url(rel)) from None
