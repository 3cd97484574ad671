"""Object stores through the AWS SDK: one client configured as the AWS tools are, presigned GETs, plain errors.

Credentials and the endpoint are found where the AWS command line finds them (the
environment, ``~/.aws/credentials`` and ``~/.aws/config``, ``AWS_PROFILE``,
``AWS_ENDPOINT_URL`` for OBS, MinIO or Ceph): ghosthub never reads, stores or shows them.
Downloads from a store go through ghosthub's own verified transfer (hashing while the bytes
arrive, resume, ranges) with a presigned GET: the signature rides in the URL's query, which
:func:`ghosthub._utils.urls.redact` strips wherever a URL is shown or recorded, and the
URL leads only to the configured endpoint. Imported only when an ``s3://`` hub or link is
used: ``import ghosthub``, ``ghosthub list`` of a folder hub and a cache hit never load boto3.
"""

from __future__ import annotations

import os
import threading

from ..errors import HubError

__all__ = ["EXTRA", "client", "explain", "presigned_get", "split_s3_url"]

EXTRA = "pip install 'ghosthub[s3]'"
PRESIGN_SECONDS = 6 * 3600  # long enough for a slow multi-GiB download, resumes included
_clients: dict[tuple, object] = {}
_lock = threading.Lock()


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``.

    Examples
    --------
    >>> split_s3_url("s3://zoo/team/assets/a-1a2b3c4d.ckpt")
    ('zoo', 'team/assets/a-1a2b3c4d.ckpt')
    """
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def client(settings=None):
    """The S3 client of this process (one per timeout setting and AWS environment), configured as the AWS tools are.

    Without credentials anywhere, requests go unsigned, as to a public bucket.

    Raises
    ------
    HubError
        boto3 is not installed (the message names ``ghosthub[s3]``), or the AWS
        configuration cannot be read.
    """
    connect, read = (settings.connect_timeout, settings.read_timeout) if settings is not None else (10.0, 60.0)
    # A changed AWS_PROFILE or AWS_ENDPOINT_URL makes another client: the environment is what the AWS tools read.
    key = (connect, read, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))
    with _lock:
        if key not in _clients:
            _clients[key] = _make_client(connect, read)
        return _clients[key]


def _make_client(connect: float, read: float):
    try:
        import boto3
        import botocore.config
        from botocore import UNSIGNED
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise HubError(f"s3:// hubs and links need the AWS SDK: {EXTRA}") from None
    try:
        session = boto3.session.Session()
        signed = session.get_credentials() is not None
        config = botocore.config.Config(
            signature_version="s3v4" if signed else UNSIGNED,
            connect_timeout=connect,
            read_timeout=read,
            retries={"mode": "standard", "max_attempts": 5},
            max_pool_connections=32,
        )
        return session.client("s3", config=config)
    except BotoCoreError as exc:  # a broken ~/.aws/config, an unknown AWS_PROFILE
        raise HubError(f"the AWS configuration cannot be used: {exc}; check AWS_PROFILE and ~/.aws/config") from None


def presigned_get(url: str, settings=None) -> str:
    """A GET URL for ``s3://bucket/key`` on the configured endpoint, signed for a few hours.

    Examples
    --------
    >>> presigned_get("s3://zoo/team/index.json").split("?")[0]  # doctest: +SKIP
    'https://zoo.s3.amazonaws.com/team/index.json'
    """
    bucket, key = split_s3_url(url)
    s3 = client(settings)
    try:
        return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS)
    except Exception as exc:  # noqa: BLE001 - botocore's errors have no common base worth naming here
        raise explain(exc, url) from None


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ClientError (``PreconditionFailed``, ``NoSuchKey``), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return str(response.get("Error", {}).get("Code") or "") or None


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def explain(exc: BaseException, where: str) -> HubError:
    """A botocore failure as a HubError naming ``where`` (an s3:// URL), what happened and what to do.

    The message is built from the error's code and class only: botocore's own text may
    quote request details, and nothing of the credentials ever reaches a message.
    """
    name = type(exc).__name__
    code = error_code(exc)
    advice = {
        "NoSuchBucket": "the bucket does not exist at this endpoint: check the hub (and AWS_ENDPOINT_URL)",
        "AccessDenied": "the credentials may not do this: check AWS_PROFILE, the keys and the bucket's policy",
        "InvalidAccessKeyId": "the access key is not known to this endpoint: check AWS_PROFILE and AWS_ENDPOINT_URL",
        "SignatureDoesNotMatch": "the secret key does not match the access key: check the credentials",
        "ExpiredToken": "the session token expired: renew the credentials",
        "NotImplemented": "this store does not implement the request",
    }
    if code:
        status = status_of(exc)
        why = f"{code} (HTTP {status})" if status else code
        hint = advice.get(code, "check the hub, the credentials and AWS_ENDPOINT_URL")
    elif name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
        why, hint = "no usable AWS credentials", "set them as the AWS tools read them (AWS_PROFILE, ~/.aws/credentials)"
    elif name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        why, hint = "the endpoint cannot be reached", "check the network and AWS_ENDPOINT_URL, or try again later"
    elif isinstance(exc, HubError):
        return exc
    else:
        why, hint = name, "check the hub, the credentials and AWS_ENDPOINT_URL"
    error = HubError(f"{where}: {why}; {hint}")
    error.code = code
    error.status = status_of(exc)
    return error
