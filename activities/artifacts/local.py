"""The artifact store as a local folder, for development and a single machine.

A key maps to `root/<key>`. Every write goes to a temporary file under `root/.partial/`
(same filesystem) and is renamed into place, so a crash mid-write leaves no half object
where readers look; leftovers there are only ever temporary files. File work runs in
worker threads so copying a checkpoint never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from activities.artifacts.hashing import Digest, copy_hashing, sha256_bytes
from activities.artifacts.store import (
    ArtifactNotFound,
    StoredObject,
    check_key,
    files_under,
    join_key,
)

# Temporary files live here; no key may start with it.
PARTIAL_DIR = ".partial"


def _check_local_key(key: str) -> str:
    check_key(key)
    if key.split("/", 1)[0] == PARTIAL_DIR:
        raise ValueError(f"artifact keys under '{PARTIAL_DIR}/' are reserved")
    return key


def _replace_atomically(target: Path, staging_dir: Path, source: Path | bytes) -> Digest:
    """Write `source` (a file or bytes) to a temporary file, flush it to disk, rename it to
    `target`. The temporary file goes when anything fails."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, staging_name = tempfile.mkstemp(dir=staging_dir, prefix=".", suffix=".partial")
    staging = Path(staging_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, bytes):
                out.write(source)
                digest = sha256_bytes(source)
            else:
                with source.open("rb") as src:
                    digest = copy_hashing(src, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return digest


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()
        self._staging = self.root / PARTIAL_DIR

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_local_key(key).split("/"))

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def key_of(self, uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ValueError("not a file:// URI of this artifact store")
        path = Path(unquote(parts.path))
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            raise ValueError("the URI is outside this artifact store") from None
        return _check_local_key(relative.as_posix())

    def _stored(self, key: str, digest: Digest) -> StoredObject:
        return StoredObject(
            key=key, uri=self.uri(key), size_bytes=digest.size_bytes, sha256=digest.sha256
        )

    async def put_file(self, key: str, path: Path) -> StoredObject:
        target = self._path(key)
        digest = await asyncio.to_thread(_replace_atomically, target, self._staging, path)
        return self._stored(key, digest)

    async def put_directory(self, prefix: str, directory: Path) -> list[StoredObject]:
        _check_local_key(prefix)
        relatives = await asyncio.to_thread(files_under, directory)
        stored = []
        for relative in relatives:
            key = _check_local_key(join_key(prefix, relative))
            stored.append(await self.put_file(key, directory / relative))
        return sorted(stored, key=lambda obj: obj.key)

    async def get_file(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not await asyncio.to_thread(source.is_file):
            raise ArtifactNotFound(key)
        # The destination is replaced whole as well: its staging file sits beside it.
        await asyncio.to_thread(_replace_atomically, path, path.parent, source)

    async def get_directory(self, prefix: str, directory: Path) -> list[str]:
        folder = self._path(prefix)
        relatives = await asyncio.to_thread(lambda: files_under(folder) if folder.is_dir() else [])
        for relative in relatives:
            await self.get_file(join_key(prefix, relative), directory / relative)
        return relatives

    async def put_bytes(self, key: str, data: bytes) -> StoredObject:
        target = self._path(key)
        digest = await asyncio.to_thread(_replace_atomically, target, self._staging, data)
        return self._stored(key, digest)

    async def get_bytes(self, key: str) -> bytes | None:
        source = self._path(key)

        def read() -> bytes | None:
            try:
                return source.read_bytes() if source.is_file() else None
            except FileNotFoundError:  # removed between the check and the read
                return None

        return await asyncio.to_thread(read)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix)

        def delete() -> int:
            if not folder.is_dir():
                return 0
            count = len(files_under(folder))
            # Renamed aside first, so a reader never sees half a folder.
            doomed = self._staging / f"deleting-{uuid.uuid4().hex}"
            self._staging.mkdir(parents=True, exist_ok=True)
            os.replace(folder, doomed)
            shutil.rmtree(doomed)
            return count

        return await asyncio.to_thread(delete)
