"""Dataset fetching against real servers: moto's S3 server, a local TLS server, the local
filesystem, and the OpenAI emulator for multipart uploads."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import trustme
import uvicorn
from moto.server import ThreadedMotoServer
from openai import AsyncOpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from activities.datasets import netguard
from activities.datasets.fetch import (
    DatasetFetchUnavailable,
    DatasetUriError,
    check_uri_syntax,
    fetch_to_file,
    open_dataset,
    redact_uri,
)
from activities.providers.openai_provider import OpenAIProvider
from core.settings import Settings
from tests.support.servers import free_port

PAYLOAD = b"".join(
    json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}).encode() + b"\n"
    for i in range(2000)
)
BUCKET = "trainer-datasets"
TENANT = "acme"


def make_settings(root: Path, **overrides: Any) -> Settings:
    return Settings(_env_file=None, dataset_root=root, **overrides)


async def expect_uri_error(code: str, coro: Any) -> DatasetUriError:
    with pytest.raises(DatasetUriError) as caught:
        await coro
    assert caught.value.code == code, str(caught.value)
    return caught.value


async def open_and_close(uri: str, settings: Settings, tenant_id: str = TENANT) -> None:
    async with open_dataset(uri, settings=settings, tenant_id=tenant_id):
        pass


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    return tmp_path / "root"


# ---- S3 (moto's standalone server) -------------------------------------------------------


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }.items():
            env.setenv(name, value)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        url = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=url)
        for bucket in (BUCKET, "acme-private"):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=BUCKET, Key="team/train.jsonl", Body=PAYLOAD)
        client.put_object(Bucket="acme-private", Key="train.jsonl", Body=PAYLOAD)
        try:
            yield url
        finally:
            server.stop()


async def test_s3_object_is_streamed_to_a_file(s3_url: str, root: Path, tmp_path: Path) -> None:
    settings = make_settings(root, s3_endpoint_url=s3_url, dataset_allowed_prefixes=["s3://"])
    seen: list[bytes] = []
    result = await fetch_to_file(
        f"s3://{BUCKET}/team/train.jsonl",
        tmp_path / "out.jsonl",
        settings=settings,
        tenant_id=TENANT,
        on_chunk=seen.append,
    )
    assert (tmp_path / "out.jsonl").read_bytes() == PAYLOAD == b"".join(seen)
    assert result.bytes == len(PAYLOAD)
    assert result.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert result.name == "train.jsonl"

    async with open_dataset(
        f"s3://{BUCKET}/team/train.jsonl", settings=settings, tenant_id=TENANT
    ) as source:
        assert source.size == len(PAYLOAD)
        assert b"".join([chunk async for chunk in source.chunks()]) == PAYLOAD


async def test_s3_missing_key_is_not_found(s3_url: str, root: Path, tmp_path: Path) -> None:
    settings = make_settings(root, s3_endpoint_url=s3_url, dataset_allowed_prefixes=["s3://"])
    for uri in (f"s3://{BUCKET}/team/nope.jsonl", "s3://no-such-bucket/x.jsonl"):
        await expect_uri_error(
            "dataset_not_found",
            fetch_to_file(uri, tmp_path / "x", settings=settings, tenant_id=TENANT),
        )
    assert not (tmp_path / "x").exists()


async def test_s3_unreachable_endpoint_is_retryable(root: Path, tmp_path: Path) -> None:
    settings = make_settings(
        root,
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        dataset_allowed_prefixes=["s3://"],
        dataset_fetch_timeout_seconds=2,
    )
    with pytest.raises(DatasetFetchUnavailable):
        await fetch_to_file(
            f"s3://{BUCKET}/team/train.jsonl", tmp_path / "x", settings=settings, tenant_id=TENANT
        )


async def test_s3_prefixes_per_deployment_and_tenant(s3_url: str, root: Path) -> None:
    settings = make_settings(
        root,
        s3_endpoint_url=s3_url,
        dataset_allowed_prefixes=[f"s3://{BUCKET}/team/"],
        dataset_tenant_prefixes={TENANT: ["s3://acme-private"]},
    )
    async with open_dataset(
        "s3://acme-private/train.jsonl", settings=settings, tenant_id=TENANT
    ) as source:
        assert source.size == len(PAYLOAD)
    refused = {
        ("s3://acme-private/train.jsonl", "globex"),
        (f"s3://{BUCKET}/other/train.jsonl", TENANT),
        (f"s3://{BUCKET}/team-b/train.jsonl", TENANT),
        (f"s3://{BUCKET}/team/../secret.jsonl", TENANT),
        (f"s3://{BUCKET}.evil/team/train.jsonl", TENANT),
    }
    for uri, tenant in refused:
        await expect_uri_error("dataset_access_denied", open_and_close(uri, settings, tenant))
    # No prefixes at all: only the dataset root.
    await expect_uri_error(
        "dataset_access_denied",
        open_and_close(f"s3://{BUCKET}/team/train.jsonl", make_settings(root)),
    )


# ---- https (a local TLS server) -----------------------------------------------------------


class TlsServer:
    def __init__(self, port: int, ca_file: Path) -> None:
        self.port = port
        self.ca_file = ca_file
        self.hosts_seen: list[str] = []

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"


def tls_app(server: TlsServer) -> Starlette:
    async def data(request: Request) -> Response:
        server.hosts_seen.append(request.headers.get("host", ""))
        return Response(PAYLOAD, media_type="application/jsonl")

    async def big(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(64):
                yield b"x" * 256 * 1024

        return StreamingResponse(body())  # chunked: no Content-Length to refuse early

    def redirect(location: str) -> Any:
        async def handler(request: Request) -> RedirectResponse:
            return RedirectResponse(location, status_code=302)

        return handler

    async def unavailable(request: Request) -> Response:
        return Response("busy", status_code=503)

    return Starlette(
        routes=[
            Route("/data/train.jsonl", data),
            Route("/data/big", big),
            Route("/data/hop", redirect("/data/train.jsonl")),
            Route(
                "/data/to-metadata",
                redirect("https://user:hunter2@169.254.169.254/latest/meta-data/?token=abc"),
            ),
            Route("/data/to-http", redirect(f"http://127.0.0.1:{server.port}/data/train.jsonl")),
            Route("/data/loop", redirect("/data/loop")),
            Route("/data/busy", unavailable),
        ]
    )


@pytest.fixture(scope="module")
async def tls_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TlsServer]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    server = TlsServer(free_port(), folder / "ca.pem")
    config = uvicorn.Config(
        tls_app(server),
        host="127.0.0.1",
        port=server.port,
        log_level="warning",
        ssl_keyfile=str(folder / "key.pem"),
        ssl_certfile=str(folder / "cert.pem"),
    )
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        assert not task.done()
        await asyncio.sleep(0.01)
    yield server
    running.should_exit = True
    await task


def https_settings(root: Path, server: TlsServer, prefixes: list[str], **more: Any) -> Settings:
    return make_settings(
        root,
        dataset_allowed_prefixes=prefixes,
        dataset_https_ca_bundle=str(server.ca_file),
        dataset_fetch_timeout_seconds=5,
        **more,
    )


async def test_https_loopback_is_refused_unless_its_host_is_allowlisted(
    tls_server: TlsServer, root: Path, tmp_path: Path
) -> None:
    open_https = https_settings(root, tls_server, ["https://"])
    for host in ("127.0.0.1", "localhost"):
        err = await expect_uri_error(
            "dataset_access_denied",
            fetch_to_file(
                tls_server.url("/data/train.jsonl", host),
                tmp_path / "x",
                settings=open_https,
                tenant_id=TENANT,
            ),
        )
        assert f"host {host} " in str(err)
    # Not allowlisted at all.
    await expect_uri_error(
        "dataset_access_denied",
        fetch_to_file(
            tls_server.url("/data/train.jsonl"),
            tmp_path / "x",
            settings=https_settings(root, tls_server, []),
            tenant_id=TENANT,
        ),
    )

    trusted = https_settings(root, tls_server, [tls_server.url("/data/")])
    for path in ("/data/train.jsonl", "/data/hop"):
        result = await fetch_to_file(
            tls_server.url(path), tmp_path / "ok", settings=trusted, tenant_id=TENANT
        )
        assert result.bytes == len(PAYLOAD)
        assert (tmp_path / "ok").read_bytes() == PAYLOAD
    # The host is trusted for the allowlisted path only.
    await expect_uri_error(
        "dataset_access_denied",
        fetch_to_file(tls_server.url("/other"), tmp_path / "x", settings=trusted, tenant_id=TENANT),
    )


async def test_https_redirects_are_vetted_hop_by_hop(
    tls_server: TlsServer, root: Path, tmp_path: Path
) -> None:
    settings = https_settings(root, tls_server, [tls_server.url("/data/")])
    err = await expect_uri_error(
        "dataset_access_denied",
        fetch_to_file(
            tls_server.url("/data/to-metadata"), tmp_path / "x", settings=settings, tenant_id=TENANT
        ),
    )
    assert "169.254.169.254" in str(err)
    assert "hunter2" not in str(err) and "token" not in str(err)
    await expect_uri_error(
        "dataset_access_denied",
        fetch_to_file(
            tls_server.url("/data/to-http"), tmp_path / "x", settings=settings, tenant_id=TENANT
        ),
    )
    await expect_uri_error(
        "dataset_too_many_redirects",
        fetch_to_file(
            tls_server.url("/data/loop"), tmp_path / "x", settings=settings, tenant_id=TENANT
        ),
    )


async def test_https_status_errors(tls_server: TlsServer, root: Path, tmp_path: Path) -> None:
    settings = https_settings(root, tls_server, [tls_server.url("/data/")])
    await expect_uri_error(
        "dataset_not_found",
        fetch_to_file(
            tls_server.url("/data/missing"), tmp_path / "x", settings=settings, tenant_id=TENANT
        ),
    )
    with pytest.raises(DatasetFetchUnavailable):
        await fetch_to_file(
            tls_server.url("/data/busy"), tmp_path / "x", settings=settings, tenant_id=TENANT
        )
    untrusted_ca = make_settings(root, dataset_allowed_prefixes=[tls_server.url("/data/")])
    await expect_uri_error(
        "dataset_tls_error",
        fetch_to_file(
            tls_server.url("/data/train.jsonl"),
            tmp_path / "x",
            settings=untrusted_ca,
            tenant_id=TENANT,
        ),
    )


async def test_https_connects_to_the_vetted_address(
    tls_server: TlsServer, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public host is fetched from the address we vetted, with its own name for TLS and
    Host; loopback stands in for a public address here."""
    monkeypatch.setattr(netguard, "is_forbidden", lambda address: False)
    settings = https_settings(root, tls_server, ["https://"])
    tls_server.hosts_seen.clear()
    result = await fetch_to_file(
        tls_server.url("/data/train.jsonl", "localhost"),
        tmp_path / "ok",
        settings=settings,
        tenant_id=TENANT,
    )
    assert result.bytes == len(PAYLOAD)
    assert tls_server.hosts_seen == [f"localhost:{tls_server.port}"]


async def test_max_bytes_is_enforced_while_streaming(
    tls_server: TlsServer, root: Path, tmp_path: Path
) -> None:
    settings = https_settings(
        root, tls_server, [tls_server.url("/data/")], dataset_max_bytes=3 * 1024 * 1024
    )
    received: list[int] = []
    err = await expect_uri_error(
        "dataset_too_large",
        fetch_to_file(
            tls_server.url("/data/big"),
            tmp_path / "big",
            settings=settings,
            tenant_id=TENANT,
            on_chunk=lambda chunk: received.append(len(chunk)),
        ),
    )
    assert "3145728" in str(err)
    assert sum(received) <= 3 * 1024 * 1024
    assert not (tmp_path / "big").exists()
    # A size announced up front is refused before reading.
    (root / "large.jsonl").write_bytes(b"x" * 2048)
    await expect_uri_error(
        "dataset_too_large",
        open_and_close("large.jsonl", make_settings(root, dataset_max_bytes=1024)),
    )


# ---- local files --------------------------------------------------------------------------


async def test_local_files_stay_inside_the_root(root: Path, tmp_path: Path) -> None:
    settings = make_settings(root)
    (root / "sub").mkdir()
    (root / "sub" / "train.jsonl").write_bytes(PAYLOAD)
    (tmp_path / "secret.jsonl").write_bytes(b"secret")
    (root / "escape.jsonl").symlink_to(tmp_path / "secret.jsonl")
    (root / "escape-dir").symlink_to(tmp_path)
    (root / "inside.jsonl").symlink_to(root / "sub" / "train.jsonl")

    for uri in ("sub/train.jsonl", f"file://{root}/sub/train.jsonl", "inside.jsonl"):
        result = await fetch_to_file(uri, tmp_path / "ok", settings=settings, tenant_id=TENANT)
        assert result.bytes == len(PAYLOAD)
    for uri in (
        "../secret.jsonl",
        "sub/../../secret.jsonl",
        f"file://{root}/../secret.jsonl",
        "escape.jsonl",
        "escape-dir/secret.jsonl",
        f"file://{tmp_path}/secret.jsonl",
    ):
        await expect_uri_error(
            "dataset_access_denied",
            fetch_to_file(uri, tmp_path / "x", settings=settings, tenant_id=TENANT),
        )
    await expect_uri_error(
        "dataset_not_found",
        fetch_to_file("nope.jsonl", tmp_path / "x", settings=settings, tenant_id=TENANT),
    )


async def test_large_file_streams_in_bounded_memory(root: Path, tmp_path: Path) -> None:
    block = (b'{"messages": [{"role": "user", "content": "hello"}]}\n' * 20000)[: 1024 * 1024]
    expected = hashlib.sha256()
    with (root / "big.jsonl").open("wb") as handle:
        for _ in range(200):
            handle.write(block)
            expected.update(block)
    settings = make_settings(root)
    lines = 0

    def count(chunk: bytes) -> None:
        nonlocal lines
        lines += chunk.count(b"\n")

    tracemalloc.start()
    try:
        result = await fetch_to_file(
            "big.jsonl",
            tmp_path / "copy.jsonl",
            settings=settings,
            tenant_id=TENANT,
            on_chunk=count,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.bytes == 200 * 1024 * 1024
    assert result.sha256 == expected.hexdigest()
    assert lines == 200 * block.count(b"\n")
    assert peak < 30 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB"


async def test_on_chunk_failure_aborts_and_cleans_up(root: Path, tmp_path: Path) -> None:
    (root / "train.jsonl").write_bytes(PAYLOAD)

    def refuse(chunk: bytes) -> None:
        raise ValueError("invalid line 1")

    with pytest.raises(ValueError, match="invalid line 1"):
        await fetch_to_file(
            "train.jsonl",
            tmp_path / "x",
            settings=make_settings(root),
            tenant_id=TENANT,
            on_chunk=refuse,
        )
    assert not (tmp_path / "x").exists()


# ---- URI syntax (what the API checks at submit time) --------------------------------------


async def test_unsupported_scheme_is_named(root: Path, tmp_path: Path) -> None:
    for uri, scheme in (("ftp://host/data.jsonl", "ftp"), ("gs://bucket/key", "gs")):
        with pytest.raises(DatasetUriError) as caught:
            check_uri_syntax(uri)
        assert caught.value.code == "dataset_scheme_unsupported"
        assert f"'{scheme}'" in str(caught.value)
        await expect_uri_error(
            "dataset_scheme_unsupported",
            fetch_to_file(uri, tmp_path / "x", settings=make_settings(root), tenant_id=TENANT),
        )
    for uri in ("s3://bucket-only", "s3:///key", "https:///path", ""):
        with pytest.raises(DatasetUriError) as caught:
            check_uri_syntax(uri)
        assert caught.value.code == "dataset_uri_invalid"
    for uri in ("s3://b/k.jsonl", "https://h/p.jsonl", "file:///x.jsonl", "rel/x.jsonl"):
        check_uri_syntax(uri)


def test_redacted_uris_carry_no_credentials() -> None:
    assert redact_uri("https://u:pw@host:8443/a/b.jsonl?sig=1#f") == "https://host:8443/a/b.jsonl"
    assert redact_uri("s3://bucket/key.jsonl") == "s3://bucket/key.jsonl"


# ---- provider upload through the Uploads API -----------------------------------------------


async def test_large_upload_goes_through_the_uploads_api(
    openai_emulator: str, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(PAYLOAD)
    client = AsyncOpenAI(api_key="sk-test", base_url=f"{openai_emulator}/v1", max_retries=0)
    provider = OpenAIProvider(client)
    async with httpx.AsyncClient(base_url=openai_emulator) as admin:
        before = (await admin.get("/_emulator/state")).json()["calls"]
        file_id = await provider.upload_training_file(
            path,
            job_id="train",
            tenant_id="t1",
            multipart_threshold=len(PAYLOAD) - 1,
            part_bytes=20_000,
        )
        after = (await admin.get("/_emulator/state")).json()["calls"]
    parts = "POST /v1/uploads/{upload_id}/parts"
    assert after.get(parts, 0) - before.get(parts, 0) == -(-len(PAYLOAD) // 20_000)
    assert after.get("POST /v1/files", 0) == before.get("POST /v1/files", 0)
    retrieved = await client.files.retrieve(file_id)
    assert retrieved.bytes == len(PAYLOAD)
    assert retrieved.purpose == "fine-tune"
    assert (await client.files.content(file_id)).content == PAYLOAD

    small_id = await provider.upload_training_file(path, job_id="train", tenant_id="t1")
    assert (await client.files.retrieve(small_id)).bytes == len(PAYLOAD)
    await client.close()
