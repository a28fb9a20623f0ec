"""The deployment's artifact store, chosen by `artifact_store_url`: `s3://bucket/prefix`
(through `s3_endpoint_url` when set), or a local folder as `file:///abs/path` or a plain
path (a relative one resolves against the current directory)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from activities.artifacts.local import LocalArtifactStore
from activities.artifacts.s3 import S3ArtifactStore
from activities.artifacts.store import ArtifactStore
from core.settings import Settings


def open_artifact_store(settings: Settings) -> ArtifactStore:
    """ValueError for an empty URL, an s3:// URL without a bucket, or another scheme."""
    url = settings.artifact_store_url.strip()
    if not url:
        raise ValueError("artifact_store_url is empty")
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("artifact_store_url s3:// needs a bucket")
        return S3ArtifactStore(
            parts.netloc, parts.path.strip("/"), endpoint_url=settings.s3_endpoint_url
        )
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError("artifact_store_url file:// must name a local path")
        return LocalArtifactStore(Path(unquote(parts.path)))
    if parts.scheme and "://" in url:
        raise ValueError(f"artifact_store_url: unsupported scheme '{parts.scheme}'")
    return LocalArtifactStore(Path(url))
