"""The artifact store's contract, run against both stores: a local folder, and an S3 bucket
on a real S3-protocol server (moto's). Then what only one of them does: atomic local
writes, multipart uploads, an unreachable endpoint; the factory; the adapter manifest."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from activities.artifacts import local as local_module
from activities.artifacts.factory import open_artifact_store
from activities.artifacts.hashing import Digest
from activities.artifacts.local import PARTIAL_DIR, LocalArtifactStore
from activities.artifacts.s3 import S3ArtifactStore
from activities.artifacts.store import (
    ArtifactNotFound,
    ArtifactStore,
    ArtifactStoreUnavailable,
    StoredObject,
)
from core.adapter_manifest import (
    MANIFEST_NAME,
    WEIGHTS_NAME,
    AdapterManifest,
    AdapterMetrics,
    build_adapter_manifest,
    summarize_loss_curve,
)
from core.settings import Settings
from tests.support.s3_server import LocalS3, local_s3_server
from tests.support.servers import free_port

BUCKET = f"artifacts-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3_server(buckets=[BUCKET]) as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "store")
    server: LocalS3 = request.getfixturevalue("s3")
    # Each test under a prefix of its own: moto's buckets outlive a test.
    return S3ArtifactStore(BUCKET, f"runs/{uuid.uuid4().hex}", endpoint_url=server.endpoint_url)


def _write_tree(root: Path) -> dict[str, bytes]:
    files = {
        WEIGHTS_NAME: bytes(range(256)) * 40,
        "adapter_config.json": b'{"r": 8}',
        "tokenizer/tokenizer.json": b'{"model": {}}',
        "tokenizer/deeper/chat template.jinja": "{{ messages }} é".encode(),
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def _names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


# --- the contract, against both stores ---------------------------------------------------


async def test_a_file_round_trips_with_its_size_and_sha256(
    store: ArtifactStore, tmp_path: Path
) -> None:
    data = b"weights\x00" * 5000
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    stored = await store.put_file("adapters/t1/j1/model.bin", source)
    assert stored.key == "adapters/t1/j1/model.bin"
    assert stored.uri == store.uri("adapters/t1/j1/model.bin")
    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()

    target = tmp_path / "out" / "nested" / "model.bin"
    await store.get_file("adapters/t1/j1/model.bin", target)
    assert target.read_bytes() == data
    target.write_bytes(b"stale and longer than nothing")
    await store.get_file("adapters/t1/j1/model.bin", target)  # replaced whole
    assert target.read_bytes() == data
    assert _names(target.parent) == {"model.bin"}


async def test_bytes_round_trip_and_a_missing_key_reads_as_none(store: ArtifactStore) -> None:
    stored = await store.put_bytes("manifests/m.json", b'{"a": 1}')
    assert (stored.size_bytes, stored.sha256) == (8, hashlib.sha256(b'{"a": 1}').hexdigest())
    assert await store.get_bytes("manifests/m.json") == b'{"a": 1}'
    await store.put_bytes("manifests/m.json", b"")  # overwrite, with nothing
    assert await store.get_bytes("manifests/m.json") == b""
    assert await store.get_bytes("manifests/absent.json") is None
    assert await store.get_bytes("manifests") is None  # a folder is no object


async def test_getting_a_missing_file_raises_not_found(
    store: ArtifactStore, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactNotFound):
        await store.get_file("nothing/here.bin", tmp_path / "here.bin")
    assert not (tmp_path / "here.bin").exists()
    assert _names(tmp_path) <= {"store"}  # no staging file left


async def test_a_nested_folder_round_trips(store: ArtifactStore, tmp_path: Path) -> None:
    files = _write_tree(tmp_path / "adapter")
    await store.put_bytes("adapters/t1/j10/other.txt", b"a sibling prefix, not inside j1")
    stored = await store.put_directory("adapters/t1/j1", tmp_path / "adapter")
    assert [obj.key for obj in stored] == sorted(f"adapters/t1/j1/{name}" for name in files)
    by_key = {obj.key: obj for obj in stored}
    for name, data in files.items():
        obj = by_key[f"adapters/t1/j1/{name}"]
        assert (obj.size_bytes, obj.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    written = await store.get_directory("adapters/t1/j1", tmp_path / "copy")
    assert written == sorted(files)
    for name, data in files.items():
        assert (tmp_path / "copy" / name).read_bytes() == data
    assert await store.get_directory("adapters/t1/none", tmp_path / "empty") == []


async def test_exists_sees_objects_only(store: ArtifactStore) -> None:
    await store.put_bytes("checkpoints/t1/j1/step-50/optimizer.pt", b"state")
    assert await store.exists("checkpoints/t1/j1/step-50/optimizer.pt")
    assert not await store.exists("checkpoints/t1/j1/step-50")
    assert not await store.exists("checkpoints/t1/j1/step-100/optimizer.pt")


async def test_delete_prefix_removes_that_folder_only(store: ArtifactStore) -> None:
    for name in ("a.bin", "b/c.bin", "b/d/e.bin"):
        await store.put_bytes(f"checkpoints/t1/j1/{name}", b"x")
    await store.put_bytes("checkpoints/t1/j10/a.bin", b"kept")
    await store.put_bytes("checkpoints/t1/j1.bin", b"kept too")
    assert await store.delete_prefix("checkpoints/t1/j1") == 3
    assert not await store.exists("checkpoints/t1/j1/b/d/e.bin")
    assert await store.get_bytes("checkpoints/t1/j10/a.bin") == b"kept"
    assert await store.get_bytes("checkpoints/t1/j1.bin") == b"kept too"
    assert await store.delete_prefix("checkpoints/t1/j1") == 0


BAD_KEYS = [
    "",
    "/etc/passwd",
    "a//b",
    "a/",
    "../escape",
    "a/../../b",
    "a/./b",
    "nul\x00byte",
    "lone\ud800surrogate",
    "k" * 1025,
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_unsafe_keys_are_refused(store: ArtifactStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        store.uri(key)
    with pytest.raises(ValueError):
        await store.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        await store.get_bytes(key)
    with pytest.raises(ValueError):
        await store.exists(key)
    with pytest.raises(ValueError):
        await store.delete_prefix(key)
    (tmp_path / "dir").mkdir()
    with pytest.raises(ValueError):
        await store.put_directory(key, tmp_path / "dir")


async def test_uri_and_key_of_invert_each_other(store: ArtifactStore) -> None:
    for key in ("adapters/t1/j1/adapter_model.safetensors", "odd/name with space#%?.txt"):
        uri = store.uri(key)
        assert uri.startswith("s3://" if isinstance(store, S3ArtifactStore) else "file:///")
        assert store.key_of(uri) == key
        stored = await store.put_bytes(key, b"x")
        assert store.key_of(stored.uri) == key
    foreign = [
        "s3://another-bucket/adapters/a.bin",
        "file:///somewhere/else/a.bin",
        "https://example.org/adapters/a.bin",
        store.uri("adapters/a.bin").rsplit("/", 2)[0] + "/../../outside",
        "",
    ]
    for uri in foreign:
        with pytest.raises(ValueError):
            store.key_of(uri)


# --- what only one store does ------------------------------------------------------------


async def test_a_failed_local_write_keeps_the_previous_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    await store.put_bytes("adapters/a.bin", b"version one")
    source = tmp_path / "v2.bin"
    source.write_bytes(b"version two, much longer than the first")

    def crash_midway(src: BinaryIO, out: BinaryIO | None) -> Digest:
        assert out is not None
        out.write(b"version t")  # half a copy, then the disk fills
        raise OSError("disk full")

    monkeypatch.setattr(local_module, "copy_hashing", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        await store.put_file("adapters/a.bin", source)
    assert await store.get_bytes("adapters/a.bin") == b"version one"
    assert _names(tmp_path / "store" / PARTIAL_DIR) == set()


async def test_the_local_staging_folder_is_no_key(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    await store.put_bytes("a/b.bin", b"x")  # the staging folder now exists
    with pytest.raises(ValueError):
        await store.get_bytes(f"{PARTIAL_DIR}/anything")
    assert await store.get_directory("a", tmp_path / "copy") == ["b.bin"]


async def test_large_s3_uploads_go_in_parts(s3: LocalS3, tmp_path: Path) -> None:
    part = 5 * 1024 * 1024  # S3's smallest part
    store = S3ArtifactStore(
        BUCKET,
        f"runs/{uuid.uuid4().hex}",
        endpoint_url=s3.endpoint_url,
        multipart_threshold_bytes=part,
        multipart_chunk_bytes=part,
    )
    data = uuid.uuid4().bytes * (part // 16) + b"tail"
    source = tmp_path / "checkpoint.bin"
    source.write_bytes(data)
    stored = await store.put_file("checkpoints/step-50/model.bin", source)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    head = s3.client().head_object(Bucket=BUCKET, Key=f"{store.prefix}/{stored.key}")
    assert head["ETag"].endswith('-2"')  # a multipart ETag counts its parts
    assert head["ContentLength"] == len(data)
    copy = tmp_path / "copy.bin"
    await store.get_file(stored.key, copy)
    assert copy.read_bytes() == data


async def test_an_s3_folder_with_an_escaping_key_is_refused(s3: LocalS3, tmp_path: Path) -> None:
    prefix = f"runs/{uuid.uuid4().hex}"
    store = S3ArtifactStore(BUCKET, prefix, endpoint_url=s3.endpoint_url)
    s3.client().put_object(Bucket=BUCKET, Key=f"{prefix}/adapters/evil/../../x", Body=b"x")
    with pytest.raises(ValueError):
        await store.get_directory("adapters/evil", tmp_path / "copy")
    assert not (tmp_path / "x").exists()


async def test_an_unreachable_s3_endpoint_is_unavailable(tmp_path: Path, s3: LocalS3) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3ArtifactStore(
        BUCKET, "p", endpoint_url=down, connect_timeout_seconds=0.5, max_attempts=1
    )
    source = tmp_path / "a.bin"
    source.write_bytes(b"x")
    _write_tree(tmp_path / "adapter")
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.put_bytes("a.bin", b"x"),
        lambda: store.put_file("a.bin", source),
        lambda: store.put_directory("adapters", tmp_path / "adapter"),
        lambda: store.get_bytes("a.bin"),
        lambda: store.exists("a.bin"),
        lambda: store.get_file("a.bin", tmp_path / "copy.bin"),
        lambda: store.get_directory("adapters", tmp_path / "copy"),
        lambda: store.delete_prefix("adapters"),
    ]
    for call in calls:
        with pytest.raises(ArtifactStoreUnavailable) as raised:
            await call()
        assert "127.0.0.1" not in str(raised.value)
        assert raised.value.__cause__ is None


async def test_a_missing_bucket_is_unavailable_not_missing(s3: LocalS3) -> None:
    store = S3ArtifactStore(f"absent-{uuid.uuid4().hex[:8]}", endpoint_url=s3.endpoint_url)
    with pytest.raises(ArtifactStoreUnavailable, match="NoSuchBucket"):
        await store.get_bytes("a.bin")


# --- the factory ---------------------------------------------------------------------------


def test_the_factory_chooses_the_store_by_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = Settings(s3_endpoint_url="http://127.0.0.1:9000")

    def open_at(url: str) -> ArtifactStore:
        return open_artifact_store(base.model_copy(update={"artifact_store_url": url}))

    s3_store = open_at("s3://b/p/q/")
    assert isinstance(s3_store, S3ArtifactStore)
    assert (s3_store.prefix, s3_store.endpoint_url) == ("p/q", "http://127.0.0.1:9000")
    assert (s3_store.uri("k"), open_at("s3://b").uri("k")) == ("s3://b/p/q/k", "s3://b/k")
    by_uri = open_at((tmp_path / "a b").as_uri())
    assert isinstance(by_uri, LocalArtifactStore) and by_uri.root == tmp_path / "a b"
    monkeypatch.chdir(tmp_path)
    relative = open_at(".run/art")
    assert isinstance(relative, LocalArtifactStore) and relative.root == tmp_path / ".run/art"
    for url in ("", "s3://", "gs://bucket/p", "file://otherhost/x"):
        with pytest.raises(ValueError):
            open_at(url)


# --- the adapter manifest ------------------------------------------------------------------


def _stored(key: str, data: bytes) -> StoredObject:
    return StoredObject(
        key=key,
        uri=f"s3://b/{key}",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def test_the_manifest_lists_the_adapter_files_and_its_weights_hash() -> None:
    prefix = "adapters/t1/j1"
    files = [
        _stored(f"{prefix}/tokenizer/tokenizer.json", b"tok"),
        _stored(f"{prefix}/{WEIGHTS_NAME}", b"weights"),
        _stored(f"{prefix}/{MANIFEST_NAME}", b"an older manifest"),
        _stored(f"{prefix}/adapter_config.json", b"{}"),
    ]
    metrics = AdapterMetrics(
        steps=120,
        final_train_loss=1.5,
        trained_tokens=40_000,
        loss_curve=summarize_loss_curve([(s, 4.0 - s / 60) for s in range(1, 121)], 10),
    )
    manifest = build_adapter_manifest(
        adapter_uri="s3://b/adapters/t1/j1",
        adapter_prefix=prefix,
        files=files,
        base_model="tiny-test",
        base_model_source="hf://org/tiny@abc123",
        training_config={"rank": 8, "alpha": 16, "target_modules": ["q_proj"]},
        metrics=metrics,
        dataset_sha256=hashlib.sha256(b"data").hexdigest(),
        created_at=datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
    )
    assert [f.name for f in manifest.files] == [
        "adapter_config.json",
        WEIGHTS_NAME,
        "tokenizer/tokenizer.json",
    ]
    assert manifest.weights_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert manifest.size_bytes == len(b"tok") + len(b"weights") + len(b"{}")
    assert (manifest.model_type, manifest.framework) == ("lora-adapter", "transformers-peft")
    curve = manifest.metrics.loss_curve
    assert curve is not None and len(curve.points) == 10
    assert (curve.points[0].step, curve.points[-1].step) == (1, 120)
    assert (curve.first_loss, curve.last_loss) == (4.0 - 1 / 60, 2.0)
    assert AdapterManifest.model_validate_json(manifest.to_json_bytes()) == manifest
    artifact = manifest.artifact("ft:tiny-test:j1", "s3://b/adapters/t1/j1/manifest")
    assert (artifact.weights_sha256, artifact.size_bytes) == (
        manifest.weights_sha256,
        manifest.size_bytes,
    )


def _manifest_of(files: list[StoredObject]) -> AdapterManifest:
    return build_adapter_manifest(
        adapter_uri="s3://b/adapters/t1/j1",
        adapter_prefix="adapters/t1/j1",
        files=files,
        base_model="tiny-test",
        base_model_source="/models/tiny",
        training_config={},
        metrics=AdapterMetrics(steps=0, trained_tokens=0),
        dataset_sha256="0" * 64,
        created_at=datetime(2026, 12, 2, tzinfo=UTC),
    )


def test_a_manifest_needs_the_weights_and_files_inside_the_folder() -> None:
    assert _manifest_of([_stored(f"adapters/t1/j1/{WEIGHTS_NAME}", b"w")]).size_bytes == 1
    with pytest.raises(ValueError, match=WEIGHTS_NAME):
        _manifest_of([_stored("adapters/t1/j1/a.json", b"{}")])
    with pytest.raises(ValueError, match="not in the adapter folder"):
        _manifest_of([_stored(f"adapters/t1/j10/{WEIGHTS_NAME}", b"w")])
    assert summarize_loss_curve([]) is None
