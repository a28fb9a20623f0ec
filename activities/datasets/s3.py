"""`s3://bucket/key` through boto3, its blocking calls in worker threads.

Credentials come from the standard AWS chain (env, config files, instance role);
`s3_endpoint_url` points at an S3-compatible store instead of AWS (path-style addressing
then, which such stores expect).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from activities.datasets.source import CHUNK_BYTES, DatasetFetchUnavailable, RawSource
from core.dataset_uri import DatasetUriError
from core.settings import Settings

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_DENIED = frozenset(
    {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
)
_TRANSIENT = frozenset(
    {"SlowDown", "RequestTimeout", "Throttling", "ServiceUnavailable", "InternalError"}
)


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, unquote(parts.path.lstrip("/"))


@lru_cache(maxsize=4)
def _client(endpoint_url: str | None, timeout_seconds: float) -> Any:
    """One client per endpoint: boto3 clients are thread-safe and costly to build."""
    config = Config(
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        retries={"mode": "standard", "max_attempts": 3},
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def _classify(err: Exception, shown: str) -> Exception:
    if isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _NOT_FOUND or status == 404:
            return DatasetUriError(f"{shown} does not exist", code="dataset_not_found")
        if code in _DENIED or status == 403:
            return DatasetUriError(
                f"the object store refused access to {shown}", code="dataset_access_denied"
            )
        if code in _TRANSIENT or status >= 500:
            return DatasetFetchUnavailable(f"the object store failed reading {shown} ({code})")
        return DatasetUriError(
            f"the object store rejected reading {shown} ({code})", code="dataset_fetch_failed"
        )
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return DatasetUriError(
            "no object store credentials are configured for this service",
            code="dataset_store_credentials_missing",
        )
    if isinstance(err, ParamValidationError):
        return DatasetUriError(f"{shown} is not a valid S3 location")
    # Connection, timeout and streaming errors: the store may be back soon.
    return DatasetFetchUnavailable(f"the object store is unreachable reading {shown}")


async def _read_body(body: Any, shown: str) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(body.read, CHUNK_BYTES):
            yield chunk
    except (BotoCoreError, OSError) as err:
        raise _classify(err, shown) from None


@asynccontextmanager
async def open_s3(uri: str, shown: str, settings: Settings) -> AsyncIterator[RawSource]:
    bucket, key = split_s3_uri(uri)
    try:
        client = await anyio.to_thread.run_sync(
            _client, settings.s3_endpoint_url, settings.dataset_fetch_timeout_seconds
        )
        response = await anyio.to_thread.run_sync(lambda: client.get_object(Bucket=bucket, Key=key))
    except (BotoCoreError, ClientError, OSError) as err:
        raise _classify(err, shown) from None
    body = response["Body"]
    size = response.get("ContentLength")
    try:
        yield RawSource(
            name=key.rsplit("/", 1)[-1],
            size=int(size) if size is not None else None,
            stream=_read_body(body, shown),
        )
    finally:
        body.close()
