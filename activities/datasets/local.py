"""Plain paths and `file://` URIs, confined to the dataset root: no `..` escapes, no
symlinks resolving out of it.

Every failure is a `DatasetUriError` (final, not retried) that names the URI's problem but
never a server path: the OS's own messages (`[Errno 36] File name too long: '/srv/...'`)
carry the dataset root, so they are translated, not passed on.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio

from activities.datasets.source import CHUNK_BYTES, DatasetFetchUnavailable, RawSource
from core.dataset_uri import DatasetUriError, check_uri_syntax


def resolve_local_path(uri: str, root: Path) -> Path:
    """Map a plain path or file:// URI to a real file inside `root`."""
    try:
        return _resolve(uri, root)
    except DatasetUriError:
        raise
    except (OSError, ValueError, RuntimeError) as err:  # RuntimeError: a symlink loop
        raise _os_refusal(err) from None


def _os_refusal(err: Exception) -> DatasetUriError:
    """What a failed file-system call means for the URI, in words without paths."""
    if isinstance(err, OSError) and err.errno == errno.ENAMETOOLONG:
        return DatasetUriError(
            "datasetUri names a path longer than the file system allows",
            code="dataset_uri_invalid",
        )
    if isinstance(err, ValueError):  # embedded NUL, unencodable characters
        return DatasetUriError("datasetUri names an impossible path", code="dataset_uri_invalid")
    return DatasetUriError("datasetUri names no readable file", code="dataset_not_found")


def _resolve(uri: str, root: Path) -> Path:
    check_uri_syntax(uri)
    parts = urlsplit(uri)
    if parts.scheme and parts.scheme != "file":
        raise DatasetUriError(
            f"datasetUri scheme '{parts.scheme}' names a remote dataset, not a local file",
            code="dataset_scheme_unsupported",
        )
    raw = unquote(parts.path if parts.scheme else uri)
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raw = parts.netloc + raw  # file://relative/name.jsonl
    if ".." in Path(raw).parts:
        raise DatasetUriError("datasetUri must not contain '..'", code="dataset_access_denied")
    real_root = root.resolve()
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = real_root / candidate
    # resolve() follows every symlink, so a link pointing out of the root lands outside.
    resolved = candidate.resolve()
    if not resolved.is_relative_to(real_root):
        raise DatasetUriError(
            "datasetUri points outside the dataset root", code="dataset_access_denied"
        )
    if not resolved.is_file():
        raise DatasetUriError("datasetUri names no readable file", code="dataset_not_found")
    return resolved


async def stream_local_file(path: Path, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(chunk_bytes):
            yield chunk


@asynccontextmanager
async def open_local(uri: str, root: Path) -> AsyncIterator[RawSource]:
    path = await anyio.to_thread.run_sync(resolve_local_path, uri, root)
    try:
        handle = await anyio.open_file(path, "rb")
    except OSError as err:  # removed or made unreadable since it was resolved
        raise _os_refusal(err) from None
    async with handle:
        size = (await anyio.to_thread.run_sync(os.fstat, handle.wrapped.fileno())).st_size
        yield RawSource(name=path.name, size=size, stream=_read(handle))


async def _read(handle: anyio.AsyncFile[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await handle.read(CHUNK_BYTES):
            yield chunk
    except OSError as err:
        # A local read error (EIO, a file truncated under us) may pass: retry, no path.
        raise DatasetFetchUnavailable(
            f"reading the dataset failed: {err.strerror or type(err).__name__}",
            code="dataset_read_failed",
        ) from None
