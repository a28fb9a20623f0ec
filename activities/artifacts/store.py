"""The artifact store: datasets handed to training, checkpoints, adapters and manifests.

One interface over an S3-compatible bucket (production, and tests against a local S3
server) and a local folder (development). Keys are `/`-separated paths under the store's
root, e.g. `adapters/<tenant>/<job>/adapter_model.safetensors`; `uri(key)` is how other
services and the registry see an object (`s3://bucket/prefix/key` or `file:///...`).

Every key and prefix passes `check_key` (ValueError otherwise), so no key can climb out of
the store's root, locally or when a folder is downloaded. A missing object is
`ArtifactNotFound` (or None from `get_bytes`, False from `exists`); a store that cannot be
reached or refuses the request raises `ArtifactStoreUnavailable`, which callers may retry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

# S3's longest key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


class ArtifactStoreUnavailable(Exception):
    """The store is unreachable, timed out, or refused the request. The message names the
    operation and key only: no endpoint, credential or provider error text."""


class ArtifactNotFound(LookupError):
    """No object under that key."""


def check_key(key: str) -> str:
    """The key itself when it is a safe relative `/`-path; ValueError naming the rule."""
    if not isinstance(key, str) or not key:
        raise ValueError("an artifact key must be a non-empty string")
    if "\x00" in key:
        raise ValueError("an artifact key must not contain NUL")
    if key.startswith("/"):
        raise ValueError("an artifact key must be relative, not start with '/'")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no store can name it
        raise ValueError("an artifact key must be valid UTF-8 text") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise ValueError(f"an artifact key must be at most {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if not segment:
            raise ValueError("an artifact key must not have empty segments ('//' or a '/' end)")
        if segment in (".", ".."):
            raise ValueError("an artifact key must not have '.' or '..' segments")
    return key


def join_key(prefix: str, relative: str) -> str:
    """`prefix/relative`, both checked."""
    return check_key(f"{check_key(prefix)}/{check_key(relative)}")


def files_under(directory: Path) -> list[str]:
    """Relative `/`-paths of the regular files under `directory`, sorted; symlinked
    folders are not followed (a loop or a link out of the folder uploads nothing)."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(directory):
        base = Path(dirpath)
        for name in filenames:
            path = base / name
            if path.is_file():
                found.append(path.relative_to(directory).as_posix())
    return sorted(found)


class StoredObject(BaseModel):
    key: str
    uri: str
    size_bytes: int
    sha256: str  # hex, of the object's bytes


class ArtifactStore(Protocol):
    def uri(self, key: str) -> str: ...

    def key_of(self, uri: str) -> str:
        """The key of a URI this store produced; ValueError for any other URI."""
        ...

    async def put_file(self, key: str, path: Path) -> StoredObject:
        """Upload one file; a reader never sees a partly written object."""
        ...

    async def put_directory(self, prefix: str, directory: Path) -> list[StoredObject]:
        """Every file under `directory`, at `prefix/<relative path>`; sorted by key."""
        ...

    async def get_file(self, key: str, path: Path) -> None:
        """Download to `path` (parents created, replaced whole); ArtifactNotFound if absent."""
        ...

    async def get_directory(self, prefix: str, directory: Path) -> list[str]:
        """Every object under `prefix/` into `directory`; the relative paths written, sorted
        (none when nothing is stored there)."""
        ...

    async def put_bytes(self, key: str, data: bytes) -> StoredObject: ...

    async def get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix/`; how many were removed."""
        ...
