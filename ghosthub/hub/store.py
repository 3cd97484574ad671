"""An object-store prefix that holds a hub: reads with ETags, conditional writes, listings, uploads in progress.

Each method speaks in hub-relative names (``index.json``, ``cards/x.md``, ``assets/y.ckpt``)
and turns the store's answers into what a hub writer decides on: a missing object is None,
a failed condition (412, or 409 for a conflicting write in flight) is :class:`Precondition`,
anything else a :class:`~ghosthub.errors.HubError` naming the object and what to do.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator

from .._utils.fs import read_json, write_json
from .._utils.places import HubPlace
from ..download.s3 import client, error_code, explain, status_of
from ..errors import HubError

__all__ = ["ObjectStore", "Precondition", "Unsupported"]

PROBE = ".ghosthub-probe-"  # keys of the conditional-write probe: removed at once, by fsck if a kill left one
# Seconds a passed probe of one endpoint and bucket is trusted: its 4 requests are not repeated by every publish.
PROBE_MEMORY = 3600.0
_CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict"}


class Precondition(Exception):
    """A conditional write was refused: the object exists (If-None-Match) or changed (If-Match)."""


class Unsupported(HubError):
    """The store does not honour conditional writes (it rejects or ignores If-None-Match / If-Match)."""


class ObjectStore:
    """The objects of hub ``place`` (an s3 :class:`~ghosthub._utils.places.HubPlace`).

    Parameters
    ----------
    place : HubPlace
        The hub's bucket and prefix.
    settings : Settings
        Timeouts for the client (:func:`ghosthub.download.s3.client`).
    conditional : bool
        Send ``If-None-Match``/``If-Match``; False for a store that does not honour them,
        used by a declared single writer (existence is then checked before writing).
    """

    def __init__(self, place: HubPlace, settings, *, conditional: bool = True):
        self.place = place
        self.bucket = place.bucket
        self.settings = settings
        self.conditional = conditional
        self.s3 = client(settings)

    def __repr__(self) -> str:
        return f"<ObjectStore {self.place.spec}>"

    def key(self, rel: str) -> str:
        return self.place.key(rel)

    def url(self, rel: str) -> str:
        """``s3://bucket/prefix/rel``, as messages and card links name an object."""
        return f"s3://{self.bucket}/{self.key(rel)}"

    def rel(self, key: str) -> str:
        """The hub-relative name of an object key of this prefix."""
        return key[len(self.place.prefix) + 1 :] if self.place.prefix else key

    # ------------------------------------------------------------------ reading

    def get(self, rel: str) -> tuple[bytes | None, str | None]:
        """(bytes, ETag) of ``rel``; (None, None) when there is no such object."""
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key(rel))
            with answer["Body"] as body:
                return body.read(), answer.get("ETag")
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError and transport errors alike
            if error_code(exc) in ("NoSuchKey", "404") or status_of(exc) == 404:
                return None, None
            raise explain(exc, self.url(rel)) from None

    def head(self, rel: str) -> dict | None:
        """The object's headers (``ContentLength``, ``ETag``, ``Metadata``...), None when missing."""
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=self.key(rel))
        except Exception as exc:  # noqa: BLE001
            if status_of(exc) == 404 or error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise explain(exc, self.url(rel)) from None

    def objects(self, sub: str = "") -> Iterator[dict]:
        """Every object under ``prefix/sub``: ``{"rel", "size", "modified", "etag"}``."""
        pages = self.s3.get_paginator("list_objects_v2")
        start = self.key(sub) if sub else (self.place.prefix + "/" if self.place.prefix else "")
        try:
            for page in pages.paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", ()):
                    yield {
                        "rel": self.rel(item["Key"]),
                        "size": item["Size"],
                        "modified": item["LastModified"],
                        "etag": item.get("ETag"),
                    }
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, self.url(sub)) from None

    def uploads(self, sub: str = "") -> list[dict]:
        """Multipart uploads begun and neither completed nor aborted: ``{"rel", "id", "started", "checksum"}``.

        ``checksum`` is the part checksum algorithm the upload was created with (``CRC32``), or None.
        """
        start = self.key(sub) if sub else (self.place.prefix + "/" if self.place.prefix else "")
        found, marker = [], {}
        try:
            while True:
                page = self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=start, **marker)
                found += [
                    {
                        "rel": self.rel(u["Key"]),
                        "id": u["UploadId"],
                        "started": u.get("Initiated"),
                        "checksum": u.get("ChecksumAlgorithm"),
                    }
                    for u in page.get("Uploads", ())
                ]
                if not page.get("IsTruncated"):
                    return found
                marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, self.url(sub)) from None

    # ------------------------------------------------------------------ writing

    def put(
        self,
        rel: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: dict | None = None,
        content_type: str | None = None,
    ) -> str:
        """Write ``rel``; return its new ETag.

        ``if_none_match`` creates it only if no object has that key; ``if_match`` replaces
        it only if its ETag is still that one. A refused condition raises Precondition.
        Without conditional writes (a declared single writer) the creation check is a HEAD
        before the write, and ``if_match`` is not checked.
        """
        extra: dict = {}
        if metadata:
            extra["Metadata"] = metadata
        if content_type:
            extra["ContentType"] = content_type
        if self.conditional:
            if if_none_match:
                extra["IfNoneMatch"] = "*"
            elif if_match:
                extra["IfMatch"] = if_match
        elif if_none_match and self.head(rel) is not None:
            raise Precondition(rel)
        try:
            return self.s3.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data, **extra).get("ETag")
        except Exception as exc:  # noqa: BLE001
            raise self.refusal(exc, rel) from None

    def delete(self, rel: str) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key(rel))
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, self.url(rel)) from None

    def abort(self, rel: str, upload_id: str) -> None:
        """Abort an unfinished multipart upload (its parts stop costing storage)."""
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key(rel), UploadId=upload_id)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) != "NoSuchUpload":  # finished or aborted meanwhile: nothing left to do
                raise explain(exc, self.url(rel)) from None

    def refusal(self, exc: BaseException, rel: str) -> Exception:
        """Precondition for a failed condition, Unsupported for a store that rejects it, else HubError."""
        code, status = error_code(exc), status_of(exc)
        if code in _CONFLICT or status in (409, 412) and code not in ("BucketNotEmpty", "OperationAborted"):
            return Precondition(rel)
        if code == "NotImplemented" or status == 501:
            return Unsupported(
                f"{self.url(rel)}: the store answers {code or status} to a conditional write (If-None-Match / "
                "If-Match); it cannot keep several writers from losing each other's changes"
            )
        return explain(exc, self.url(rel))

    # ------------------------------------------------------------------ the probe

    def probe(self) -> str | None:
        """None when the store honours conditional writes; otherwise why not.

        Writes a probe object with ``If-None-Match: *``, writes it again (which must be
        refused), replaces it with a wrong ``If-Match`` (which must be refused), then
        removes it. A store that rejects the headers (Aliyun OSS: NotImplemented) or
        silently ignores them fails.
        """
        rel = f"{PROBE}{uuid.uuid4().hex}"
        try:
            try:
                self.put(rel, b"probe", if_none_match=True)
            except Unsupported:
                return "it rejects If-None-Match (NotImplemented)"
            except Precondition:
                return "it refuses to create a new object with If-None-Match"
            for condition, what in ((dict(if_none_match=True), "If-None-Match"), (dict(if_match='"0"'), "If-Match")):
                try:
                    self.put(rel, b"probe again", **condition)
                except Precondition:
                    continue
                except Unsupported:
                    return f"it rejects {what} (NotImplemented)"
                return f"it ignores {what}: a write that had to be refused replaced the object"
            return None
        finally:
            try:
                self.delete(rel)
            except HubError:
                pass  # fsck removes a probe object left behind


def writable_store(place: HubPlace, settings, *, single_writer: bool | None = None) -> ObjectStore:
    """The store of hub ``place``, ready for writing: conditional writes checked by :meth:`ObjectStore.probe`.

    A store that does not honour them is refused, unless the user declares a single writer
    (``single_writer``, else ``settings.single_writer``): then nothing is sent conditionally.
    A passed probe is remembered in the cache for :data:`PROBE_MEMORY` seconds per endpoint
    and bucket; a failed one is never remembered.

    Raises
    ------
    HubError
        The store does not honour conditional writes and no single writer was declared, or
        the probe itself failed (no such bucket, no permission...).
    """
    store = ObjectStore(place, settings)
    if _passed_recently(store):
        return store
    why = store.probe()
    if why is None:
        _remember_pass(store)
        return store
    single = settings.single_writer if single_writer is None else single_writer
    if not single:
        raise Unsupported(
            f"hub {place.spec} is on a store that does not honour conditional writes: {why}. Two people writing "
            "it at once could lose each other's models. If you are the only one who writes this hub, say so with "
            "--single-writer (GHOSTHUB_SINGLE_WRITER=1); otherwise use a store that supports If-None-Match and "
            "If-Match (AWS S3, MinIO, Ceph, ...)"
        )
    return ObjectStore(place, settings, conditional=False)


def _probe_record(store: ObjectStore):
    """(the cache file that remembers passed probes, this store's key in it: its endpoint and bucket)."""
    endpoint = str(getattr(store.s3.meta, "endpoint_url", ""))
    key = hashlib.sha256(f"{endpoint} {store.bucket}".encode()).hexdigest()[:16]
    return store.settings.cache_dir / "hubs" / "probes.json", key


def _passed_recently(store: ObjectStore) -> bool:
    path, key = _probe_record(store)
    passed = (read_json(path) or {}).get(key)
    return isinstance(passed, (int, float)) and 0 <= time.time() - passed < PROBE_MEMORY


def _remember_pass(store: ObjectStore) -> None:
    path, key = _probe_record(store)
    now = time.time()
    kept = {k: v for k, v in (read_json(path) or {}).items() if isinstance(v, (int, float)) and now - v < PROBE_MEMORY}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {**kept, key: now})
    except OSError:
        pass  # a cache that cannot be written probes again next time
