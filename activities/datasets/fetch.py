"""Open a dataset by URI as a stream of byte chunks.

Supported here: plain paths and `file://` URIs, both confined to the configured dataset
root (no `..` escapes, no symlinks out of it). Other schemes are refused with a message
naming the scheme.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio

CHUNK_BYTES = 1024 * 1024


class DatasetUriError(ValueError):
    """The URI is malformed, uses an unsupported scheme, or points outside what is allowed."""

    def __init__(self, message: str, code: str = "dataset_uri_invalid") -> None:
        super().__init__(message)
        self.code = code


SUPPORTED_SCHEMES = ("file",)


def resolve_local_path(uri: str, root: Path) -> Path:
    """Map a plain path or file:// URI to a real file inside `root`."""
    parts = urlsplit(uri)
    if parts.scheme and parts.scheme != "file":
        raise DatasetUriError(
            f"datasetUri scheme '{parts.scheme}' is not supported "
            f"(supported: {', '.join(SUPPORTED_SCHEMES)} and plain paths)",
            code="dataset_scheme_unsupported",
        )
    raw = unquote(parts.path if parts.scheme else uri)
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raw = parts.netloc + raw  # file://relative/name.jsonl
    real_root = root.resolve()
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = real_root / candidate
    if ".." in Path(raw).parts:
        raise DatasetUriError("datasetUri must not contain '..'", code="dataset_access_denied")
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
