"""Serving a self-hosted adapter for evaluation: the adapter folder is copied from the
artifact store where the inference server reads it (atomically, reused when unchanged)
and loaded through `POST /v1/load_lora_adapter`, against a stand-in server with vLLM's
answers: "already loaded" is success, 5xx and an unreachable server are retried, other
refusals are final and name no server paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from temporalio.exceptions import ApplicationError

from activities.artifacts.local import LocalArtifactStore
from activities.serving import ensure_served, inference_root, serve_adapter, served_folder_name
from core.settings import Settings
from core.training_steps import ServeAdapterInput
from tests.support.servers import free_port, serve_app


@dataclass
class StandIn:
    loads: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)
    fail_with: int | None = None
    seen_files: list[list[str]] = field(default_factory=list)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def vllm_like(state: StandIn) -> FastAPI:
    app = FastAPI()

    def error(message: str, status: int) -> JSONResponse:
        body = {"error": {"message": message, "type": "BadRequestError", "code": status}}
        return JSONResponse(body, status_code=status)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": n, "object": "model"} for n in state.loaded]}

    @app.post("/v1/load_lora_adapter")
    async def load(request: Request) -> Response:
        body = await request.json()
        state.loads.append(body)
        state.auth.append(request.headers.get("authorization", ""))
        if state.fail_with == 500:
            return error("engine is busy", 500)
        if state.fail_with == 404:
            return error(f"Loading lora x failed: No adapter found for {body['lora_path']}", 404)
        name, path = body["lora_name"], body["lora_path"]
        if name in state.loaded:
            return error(
                f"The lora adapter '{name}' has already been loaded. If you want to load "
                "the adapter in place, set 'load_inplace' to True.",
                400,
            )
        state.seen_files.append(listing(Path(path)))
        state.loaded.add(name)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    return app


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandIn, str]]:
    state = StandIn()
    async with serve_app(vllm_like(state)) as url:
        yield state, f"{url}/v1"


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


async def stored_adapter(store: LocalArtifactStore, job: str, weights: bytes = b"w") -> str:
    prefix = f"adapters/tenant-a/{job}"
    await store.put_bytes(f"{prefix}/adapter_config.json", b'{"peft_type": "LORA"}')
    await store.put_bytes(f"{prefix}/adapter_model.safetensors", weights)
    await store.put_bytes(f"{prefix}/tokenizer/tokenizer.json", b"{}")
    return store.uri(prefix)


def settings_for(url: str, adapter_dir: Path | None, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        self_hosted_inference_url=url,
        self_hosted_adapter_dir=adapter_dir,
        **extra,
    )


def test_names_and_urls() -> None:
    assert served_folder_name("tenant-a-job-1234") == "tenant-a-job-1234"
    odd = served_folder_name("../ft:tenant/a b")
    assert "/" not in odd and not odd.startswith(".") and odd != served_folder_name("ft:tenant/a_b")
    assert inference_root("http://vllm:8000/v1") == "http://vllm:8000"
    assert inference_root("http://vllm:8000/v1/") == "http://vllm:8000"
    assert inference_root("http://vllm:8000") == "http://vllm:8000"


async def test_the_adapter_is_copied_and_loaded_once(
    stand_in: tuple[StandIn, str], store: LocalArtifactStore, tmp_path: Path
) -> None:
    state, url = stand_in
    uri = await stored_adapter(store, "job-1")
    settings = settings_for(url, tmp_path / "served", self_hosted_inference_api_key="vk")
    inp = ServeAdapterInput(job_id="job-1", fine_tuned_model="tenant-a-job-1", adapter_uri=uri)

    first = await serve_adapter(settings, store, inp)
    assert first.fine_tuned_model == "tenant-a-job-1" and first.already_loaded is False
    folder = (tmp_path / "served" / "tenant-a-job-1").resolve()
    assert state.loads == [{"lora_name": "tenant-a-job-1", "lora_path": str(folder)}]
    assert state.auth == ["Bearer vk"]
    assert state.seen_files == [["adapter_config.json", "adapter_model.safetensors", "tokenizer"]]
    assert (folder / "tokenizer" / "tokenizer.json").read_bytes() == b"{}"
    marker = folder / "adapter_model.safetensors"
    inode = marker.stat().st_ino

    # A retry: same files, so the folder is kept as it is; the server already has it.
    again = await serve_adapter(settings, store, inp)
    assert again.already_loaded is True
    assert marker.stat().st_ino == inode
    assert [p.name for p in (tmp_path / "served").iterdir()] == ["tenant-a-job-1"]


async def test_a_changed_adapter_replaces_the_served_copy(
    stand_in: tuple[StandIn, str], store: LocalArtifactStore, tmp_path: Path
) -> None:
    _, url = stand_in
    settings = settings_for(url, tmp_path / "served")
    folder = tmp_path / "served" / "m"
    folder.mkdir(parents=True)
    (folder / "stale.bin").write_bytes(b"old")
    uri = await stored_adapter(store, "job-2", weights=b"new")
    await serve_adapter(
        settings, store, ServeAdapterInput(job_id="j", fine_tuned_model="m", adapter_uri=uri)
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer",
    ]
    assert (folder / "adapter_model.safetensors").read_bytes() == b"new"
    assert [p.name for p in (tmp_path / "served").iterdir()] == ["m"]  # nothing staged left


async def test_without_an_adapter_folder_the_server_gets_the_uri(
    stand_in: tuple[StandIn, str], store: LocalArtifactStore
) -> None:
    state, url = stand_in
    settings = settings_for(url, None)
    uri = "s3://models/adapters/tenant-a/job-3"
    await serve_adapter(
        settings, store, ServeAdapterInput(job_id="j", fine_tuned_model="m3", adapter_uri=uri)
    )
    assert state.loads == [{"lora_name": "m3", "lora_path": uri}]


async def test_server_errors_are_retryable_and_refusals_final_without_paths(
    stand_in: tuple[StandIn, str], store: LocalArtifactStore, tmp_path: Path
) -> None:
    state, url = stand_in
    settings = settings_for(url, tmp_path / "served")
    uri = await stored_adapter(store, "job-4")
    inp = ServeAdapterInput(job_id="j", fine_tuned_model="m4", adapter_uri=uri)

    state.fail_with = 500
    with pytest.raises(ApplicationError) as busy:
        await serve_adapter(settings, store, inp)
    assert busy.value.non_retryable is False and busy.value.type == "inference_server_unavailable"

    state.fail_with = 404
    with pytest.raises(ApplicationError) as refused:
        await serve_adapter(settings, store, inp)
    assert refused.value.non_retryable is True and refused.value.type == "adapter_load_rejected"
    assert str(tmp_path) not in refused.value.message and "<path>" in refused.value.message

    down = settings_for(f"http://127.0.0.1:{free_port()}/v1", tmp_path / "served")
    with pytest.raises(ApplicationError) as unreachable:
        await serve_adapter(down, store, inp)
    assert unreachable.value.non_retryable is False
    assert "127.0.0.1" not in unreachable.value.message


async def test_an_adapter_missing_from_the_store_is_final(
    stand_in: tuple[StandIn, str], store: LocalArtifactStore, tmp_path: Path
) -> None:
    state, url = stand_in
    settings = settings_for(url, tmp_path / "served")
    for uri in (store.uri("adapters/tenant-a/never-written"), "s3://elsewhere/adapters/x"):
        with pytest.raises(ApplicationError) as missing:
            await serve_adapter(
                settings,
                store,
                ServeAdapterInput(job_id="j", fine_tuned_model="m5", adapter_uri=uri),
            )
        assert missing.value.non_retryable is True and missing.value.type == "adapter_not_found"
    assert state.loads == []
    assert not (tmp_path / "served").exists() or list((tmp_path / "served").iterdir()) == []


async def test_ensure_served_loads_only_what_the_server_does_not_list(
    stand_in: tuple[StandIn, str], store: LocalArtifactStore, tmp_path: Path
) -> None:
    state, url = stand_in
    settings = settings_for(url, tmp_path / "served")
    uri = await stored_adapter(store, "job-6")
    await ensure_served(settings, store, "champion-6", uri)
    assert [load["lora_name"] for load in state.loads] == ["champion-6"]
    await ensure_served(settings, store, "champion-6", uri)  # listed now: nothing to do
    assert len(state.loads) == 1
    state.loaded.clear()  # the server restarted
    await ensure_served(settings, store, "champion-6", uri)
    assert len(state.loads) == 2


async def test_concurrent_serving_of_one_adapter_loads_it_once(
    stand_in: tuple[StandIn, str], store: LocalArtifactStore, tmp_path: Path
) -> None:
    state, url = stand_in
    settings = settings_for(url, tmp_path / "served")
    uri = await stored_adapter(store, "job-7")
    inp = ServeAdapterInput(job_id="j", fine_tuned_model="m7", adapter_uri=uri)
    results = await asyncio.gather(*(serve_adapter(settings, store, inp) for _ in range(4)))
    assert sorted(r.already_loaded for r in results) == [False, True, True, True]
    assert len(state.loads) == 4
    assert [p.name for p in (tmp_path / "served").iterdir()] == ["m7"]
    assert listing(tmp_path / "served" / "m7") == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer",
    ]
