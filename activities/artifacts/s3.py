"""The artifact store in an S3-compatible bucket, through boto3 in worker threads.

Credentials come from the standard AWS chain (env, config files, instance role), as for
datasets; an `endpoint_url` points at an S3-compatible store instead of AWS, with
path-style addressing. Retries are botocore's standard mode. A missing object is
`ArtifactNotFound` / None / False; every other failure is `ArtifactStoreUnavailable`,
whose message names the operation and key, never the endpoint or provider error text.
Files go through boto3's transfer manager: multipart, in parallel, above a threshold.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from activities.artifacts.hashing import sha256_bytes, sha256_file
from activities.artifacts.store import (
    ArtifactNotFound,
    ArtifactStoreUnavailable,
    StoredObject,
    check_key,
    files_under,
    join_key,
)

_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})
# delete_objects takes at most this many keys a call.
_DELETE_BATCH = 1000
# Files of one folder moved at once (each large one is itself split into parallel parts).
_FOLDER_CONCURRENCY = 8
_T = TypeVar("_T")


async def _bounded(work: Callable[[str], Awaitable[_T]], items: Sequence[str]) -> list[_T]:
    """`work(item)` for every item, at most _FOLDER_CONCURRENCY at a time, results in
    order. The first failure is raised as itself, after the other calls are cancelled."""
    gate = asyncio.Semaphore(_FOLDER_CONCURRENCY)

    async def gated(item: str) -> _T:
        async with gate:
            return await work(item)

    tasks = [asyncio.ensure_future(gated(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _is_not_found(err: ClientError) -> bool:
    code = str(err.response.get("Error", {}).get("Code", ""))
    return code in _NOT_FOUND


@contextmanager
def _translated(action: str, key: str) -> Iterator[None]:
    """Store failures as ArtifactStoreUnavailable; ClientErrors that mean "no such key"
    pass through for the caller to decide."""
    try:
        yield
    except ClientError as err:
        if _is_not_found(err):
            raise
        code = str(err.response.get("Error", {}).get("Code", "")) or "error"
        raise ArtifactStoreUnavailable(
            f"the artifact store failed to {action} '{key}' ({code})"
        ) from None
    except (BotoCoreError, Boto3Error) as err:
        # Connection refused, timeouts, no credentials, a failed multipart upload.
        raise ArtifactStoreUnavailable(
            f"the artifact store could not {action} '{key}' ({type(err).__name__})"
        ) from None


class S3ArtifactStore:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        connect_timeout_seconds: float = 10.0,
        read_timeout_seconds: float = 60.0,
        max_attempts: int = 5,
        multipart_threshold_bytes: int = 64 * 1024 * 1024,
        multipart_chunk_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError("an S3 artifact store needs a bucket name")
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self._config = Config(
            connect_timeout=connect_timeout_seconds,
            read_timeout=read_timeout_seconds,
            retries={"mode": "standard", "max_attempts": max_attempts},
            # Folder transfers run several files at once, each in several parts.
            max_pool_connections=32,
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold_bytes,
            multipart_chunksize=multipart_chunk_bytes,
        )
        self._client_lock = threading.Lock()
        self._client_instance: Any = None

    # --- addressing ---------------------------------------------------------------------

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def key_of(self, uri: str) -> str:
        root = f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"
        if not uri.startswith(root):
            raise ValueError("the URI is not in this artifact store")
        return check_key(uri[len(root) :])

    # --- boto3, in worker threads -------------------------------------------------------

    def _client(self) -> Any:
        """Built on first use, in a worker thread (building reads botocore's data files);
        boto3 clients are thread-safe once built."""
        with self._client_lock:
            if self._client_instance is None:
                session = boto3.session.Session()
                self._client_instance = session.client(
                    "s3", endpoint_url=self.endpoint_url, config=self._config
                )
            return self._client_instance

    async def _call(self, action: str, key: str, work: Callable[[Any], _T]) -> _T:
        def run() -> _T:
            with _translated(action, key):
                return work(self._client())

        return await asyncio.to_thread(run)

    def _stored(self, key: str, size_bytes: int, sha256: str) -> StoredObject:
        return StoredObject(key=key, uri=self.uri(key), size_bytes=size_bytes, sha256=sha256)

    # --- the store ----------------------------------------------------------------------

    async def put_file(self, key: str, path: Path) -> StoredObject:
        object_key = self._object_key(key)
        digest = await asyncio.to_thread(sha256_file, path)

        def upload(client: Any) -> None:
            client.upload_file(
                str(path),
                self.bucket,
                object_key,
                ExtraArgs={"Metadata": {"sha256": digest.sha256}},
                Config=self._transfer,
            )

        await self._call("upload", key, upload)
        return self._stored(key, digest.size_bytes, digest.sha256)

    async def put_directory(self, prefix: str, directory: Path) -> list[StoredObject]:
        check_key(prefix)
        relatives = await asyncio.to_thread(files_under, directory)
        sources = {join_key(prefix, relative): directory / relative for relative in relatives}
        stored = await _bounded(lambda key: self.put_file(key, sources[key]), list(sources))
        return sorted(stored, key=lambda obj: obj.key)

    async def get_file(self, key: str, path: Path) -> None:
        object_key = self._object_key(key)

        def download(client: Any) -> None:
            # Into a temporary file beside the target, renamed when complete.
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, staging_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
            os.close(fd)
            try:
                client.download_file(self.bucket, object_key, staging_name, Config=self._transfer)
                os.replace(staging_name, path)
            finally:
                Path(staging_name).unlink(missing_ok=True)

        try:
            await self._call("download", key, download)
        except ClientError:  # only not-found passes _translated
            raise ArtifactNotFound(key) from None

    def _list_keys(self, client: Any, prefix: str) -> list[str]:
        """The store keys of every object under `prefix/`."""
        folder = self._object_key(prefix) + "/"
        root_length = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder
        ):
            keys.extend(entry["Key"][root_length:] for entry in page.get("Contents", []))
        return keys

    async def get_directory(self, prefix: str, directory: Path) -> list[str]:
        keys = await self._call("list", prefix, lambda client: self._list_keys(client, prefix))
        # Folder markers (some S3 consoles create them) hold nothing; every other key,
        # whoever wrote it, is checked before any download so none climbs out of `directory`.
        relatives = sorted(
            check_key(key[len(prefix) + 1 :]) for key in keys if not key.endswith("/")
        )
        await _bounded(
            lambda relative: self.get_file(join_key(prefix, relative), directory / relative),
            relatives,
        )
        return relatives

    async def put_bytes(self, key: str, data: bytes) -> StoredObject:
        object_key = self._object_key(key)
        digest = sha256_bytes(data)
        await self._call(
            "upload",
            key,
            lambda client: client.put_object(
                Bucket=self.bucket,
                Key=object_key,
                Body=data,
                Metadata={"sha256": digest.sha256},
            ),
        )
        return self._stored(key, digest.size_bytes, digest.sha256)

    async def get_bytes(self, key: str) -> bytes | None:
        object_key = self._object_key(key)

        def read(client: Any) -> bytes:
            body = client.get_object(Bucket=self.bucket, Key=object_key)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        try:
            return await self._call("read", key, read)
        except ClientError:
            return None

    async def exists(self, key: str) -> bool:
        object_key = self._object_key(key)
        try:
            await self._call(
                "check",
                key,
                lambda client: client.head_object(Bucket=self.bucket, Key=object_key),
            )
        except ClientError:
            return False
        return True

    async def delete_prefix(self, prefix: str) -> int:
        def delete(client: Any) -> int:
            keys = [self._object_key(key) for key in self._list_keys(client, prefix)]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                response = client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
                if response.get("Errors"):
                    code = str(response["Errors"][0].get("Code", "error"))
                    raise ArtifactStoreUnavailable(
                        f"the artifact store failed to delete under '{prefix}' ({code})"
                    )
            return len(keys)

        return await self._call("delete", prefix, delete)
