"""SHA-256 of files and streams, read in chunks so a multi-gigabyte checkpoint never sits
in memory."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel

CHUNK_BYTES = 1024 * 1024


class Digest(BaseModel):
    size_bytes: int
    sha256: str


def sha256_bytes(data: bytes) -> Digest:
    return Digest(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def sha256_file(path: Path) -> Digest:
    with path.open("rb") as source:
        return copy_hashing(source, None)


def copy_hashing(source: BinaryIO, target: BinaryIO | None) -> Digest:
    """Read `source` to its end, writing each chunk to `target` if given; what was read."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_BYTES):
        hasher.update(chunk)
        size += len(chunk)
        if target is not None:
            target.write(chunk)
    return Digest(size_bytes=size, sha256=hasher.hexdigest())
