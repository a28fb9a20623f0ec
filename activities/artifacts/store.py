"""The artifact store: datasets handed to training, checkpoints, adapters and manifests.

One interface over an S3-compatible bucket (production, and tests against a local S3
server) and a local folder (development). Keys are `/`-separated paths under the store's
root, e.g. `adapters/<tenant>/<job>/adapter_model.safetensors`; `uri(key)` is how other
services and the registry see an object (`s3://bucket/prefix/key` or `file:///...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel


class StoredObject(BaseModel):
    key: str
    uri: str
    size_bytes: int
    sha256: str


class ArtifactStore(Protocol):
    def uri(self, key: str) -> str: ...

    def key_of(self, uri: str) -> str:
        """The key of a URI this store produced; ValueError for any other URI."""
        ...

    async def put_file(self, key: str, path: Path) -> StoredObject: ...

    async def put_directory(self, prefix: str, directory: Path) -> list[StoredObject]:
        """Every file under `directory`, at `prefix/<relative path>`; sorted by key."""
        ...

    async def get_file(self, key: str, path: Path) -> None: ...

    async def get_directory(self, prefix: str, directory: Path) -> list[str]:
        """Every object under `prefix/` into `directory`; the relative paths written."""
        ...

    async def put_bytes(self, key: str, data: bytes) -> StoredObject: ...

    async def get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix/`; how many were removed."""
        ...
