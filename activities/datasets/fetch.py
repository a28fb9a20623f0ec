"""Open a dataset by URI as a stream of byte chunks, or stream it to a file.

Schemes: `s3://bucket/key`, `https://…`, and `file://` / plain paths confined to the dataset
root. Remote URIs must fall under an allowlisted prefix (see access); https hops must be
public unless allowlisted by host (see https, netguard). `dataset_max_bytes` is enforced
while streaming, so nothing larger than the limit is ever read in full.

    async with open_dataset(uri, settings=s, tenant_id=t) as source:
        async for chunk in source.chunks(): ...

    result = await fetch_to_file(uri, tmp / "data.jsonl", settings=s, tenant_id=t,
                                 on_chunk=validator.feed)
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import BinaryIO

import anyio
from pydantic import BaseModel, ConfigDict

from activities.datasets.access import check_remote_access, prefixes_for
from activities.datasets.https import open_https
from activities.datasets.local import open_local, resolve_local_path, stream_local_file
from activities.datasets.s3 import open_s3
from activities.datasets.source import CHUNK_BYTES, DatasetFetchUnavailable, RawSource
from core.dataset_uri import (
    SUPPORTED_SCHEMES,
    DatasetUriError,
    check_uri_syntax,
    redact_uri,
    scheme_of,
)
from core.settings import Settings

__all__ = [
    "CHUNK_BYTES",
    "SUPPORTED_SCHEMES",
    "DatasetFetchUnavailable",
    "DatasetSource",
    "DatasetUriError",
    "FetchResult",
    "check_uri_syntax",
    "fetch_to_file",
    "open_dataset",
    "redact_uri",
    "resolve_local_path",
    "stream_local_file",
]


def _too_large(uri: str, size: int, limit: int) -> DatasetUriError:
    return DatasetUriError(
        f"dataset {uri} is {size} bytes or more; the limit is {limit} bytes",
        code="dataset_too_large",
    )


class DatasetSource:
    """An opened dataset. `chunks()` may be iterated once; it stops with `dataset_too_large`
    as soon as more than `max_bytes` have arrived, whatever size the store announced."""

    def __init__(self, raw: RawSource, *, uri: str, max_bytes: int) -> None:
        self.name = raw.name
        self.size = raw.size
        self.uri = uri  # redacted: safe to show and store
        self._stream = raw.stream
        self._max_bytes = max_bytes
        self._started = False

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("a dataset source can be read only once")
        self._started = True
        total = 0
        async for chunk in self._stream:
            total += len(chunk)
            if total > self._max_bytes:
                raise _too_large(self.uri, total, self._max_bytes)
            yield chunk


def _opener(uri: str, settings: Settings, tenant_id: str) -> AbstractAsyncContextManager[RawSource]:
    scheme = scheme_of(uri)
    if scheme in ("", "file"):
        return open_local(uri, settings.dataset_root)
    prefixes = prefixes_for(settings, tenant_id)
    check_remote_access(uri, prefixes, tenant_id)
    if scheme == "s3":
        return open_s3(uri, redact_uri(uri), settings)
    return open_https(uri, prefixes, settings)


@asynccontextmanager
async def open_dataset(
    uri: str, *, settings: Settings, tenant_id: str
) -> AsyncIterator[DatasetSource]:
    """Open `uri` for `tenant_id`. Raises `DatasetUriError` (final: bad, refused, missing,
    too large) or `DatasetFetchUnavailable` (retry), also while chunks are read."""
    check_uri_syntax(uri)
    shown = redact_uri(uri)
    async with _opener(uri, settings, tenant_id) as raw:
        if raw.size is not None and raw.size > settings.dataset_max_bytes:
            raise _too_large(shown, raw.size, settings.dataset_max_bytes)
        yield DatasetSource(raw, uri=shown, max_bytes=settings.dataset_max_bytes)


class FetchResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    bytes: int
    sha256: str
    uri: str  # redacted
    name: str


async def fetch_to_file(
    uri: str,
    dest: Path,
    *,
    settings: Settings,
    tenant_id: str,
    on_chunk: Callable[[bytes], None] | None = None,
) -> FetchResult:
    """Stream `uri` into the file `dest`, hashing it and feeding each chunk to `on_chunk`
    (e.g. a validator) in the same pass. Hashing, writing and `on_chunk` run in a worker
    thread so a CPU-heavy validator leaves the event loop free. A failed fetch removes
    `dest`; an exception from `on_chunk` aborts the fetch and propagates."""
    digest = hashlib.sha256()
    written = 0

    def consume(handle: BinaryIO, chunk: bytes) -> None:
        digest.update(chunk)
        handle.write(chunk)
        if on_chunk is not None:
            on_chunk(chunk)

    try:
        async with open_dataset(uri, settings=settings, tenant_id=tenant_id) as source:
            handle = await anyio.to_thread.run_sync(dest.open, "wb")
            try:
                async for chunk in source.chunks():
                    await anyio.to_thread.run_sync(consume, handle, chunk)
                    written += len(chunk)
            finally:
                await anyio.to_thread.run_sync(handle.close)
    except BaseException:
        with anyio.CancelScope(shield=True):  # clean up even when the fetch was cancelled
            await anyio.Path(dest).unlink(missing_ok=True)
        raise
    return FetchResult(bytes=written, sha256=digest.hexdigest(), uri=source.uri, name=source.name)
