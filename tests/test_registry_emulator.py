"""The Model Registry emulator (contract behaviour, test controls) driven by the registry client
and raw HTTP, over a real loopback port."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from activities.registry.client import (
    RegistryAlreadyExists,
    RegistryClient,
    RegistryClientError,
    RegistryError,
    RegistryNotFound,
    RegistryNotVisibleYet,
    RegistryUnavailable,
    RegistryVersionConflict,
    version_hash,
)
from emulators.registry_emulator import __main__ as emulator_main
from emulators.registry_emulator.app import create_app
from emulators.registry_emulator.settings import RegistryEmulatorSettings
from tests.support.servers import free_port, serve_app

FT = "ft:gpt-4o-mini-2024-07-18:acme:math-tutor:abc123"


def _hash(n: int) -> str:
    return hashlib.sha256(f"model-{n}".encode()).hexdigest()


def _assert_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "status_code", "timestamp"}
    assert body["status_code"] == status
    assert fragment in body["error"]


@pytest.fixture(scope="module")
async def emulator_url() -> AsyncIterator[str]:
    async with serve_app(create_app(RegistryEmulatorSettings(api_key=None))) as url:
        yield url


@pytest.fixture
async def raw(emulator_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator_url, timeout=5) as http:
        (await http.post("/_emulator/reset")).raise_for_status()
        yield http


@pytest.fixture
async def registry(raw: httpx.AsyncClient, emulator_url: str) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(emulator_url, None, timeout=5) as client:
        yield client


async def _state(raw: httpx.AsyncClient) -> dict[str, Any]:
    response = await raw.get("/_emulator/state")
    response.raise_for_status()
    return response.json()


async def _new_model(raw: httpx.AsyncClient, name: str = "tutor") -> int:
    response = await raw.post("/models", json={"name": name, "task": "generation"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _new_version(raw: httpx.AsyncClient, model_id: int, n: int, **extra: Any) -> dict:
    body = {"model_id": model_id, "hash": _hash(n), "version": f"{n}.0", **extra}
    response = await raw.post("/versions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# ------------------------------------------------------------------------------- contract


async def test_health(raw: httpx.AsyncClient, registry: RegistryClient) -> None:
    body = (await raw.get("/health")).json()
    assert {"status", "timestamp", "version", "database_connected", "model_count",
            "version_count"} <= set(body)  # fmt: skip
    health = await registry.health()
    assert health.status == "healthy"
    assert health.model_count == 0


async def test_models_create_normalize_duplicate_and_404(raw: httpx.AsyncClient) -> None:
    created = await raw.post(
        "/models", json={"name": "  Math-Tutor ", "task": "generation", "subject": "math"}
    )
    assert created.status_code == 201
    model = created.json()
    assert isinstance(model["id"], int)
    assert model["name"] == "math-tutor"
    assert model["version_count"] == 0 and model["active_version_count"] == 0
    assert {"created_at", "updated_at", "description", "task", "subject"} <= set(model)

    _assert_error(
        await raw.post("/models", json={"name": "MATH-TUTOR", "task": "embedding"}),
        400,
        "already exists",
    )
    assert (await raw.get("/models/name/math-tutor")).json()["id"] == model["id"]
    assert (await raw.get(f"/models/{model['id']}")).json()["name"] == "math-tutor"
    _assert_error(await raw.get("/models/999"), 404, "Model not found")
    _assert_error(await raw.get("/models/name/nobody"), 404, "Model not found")
    _assert_error(await raw.get("/models/999/versions"), 404, "Model not found")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "task": "painting"},
        {"name": "   ", "task": "generation"},
        {"name": "x" * 256, "task": "generation"},
        {"task": "generation"},
    ],
)
async def test_model_validation_is_fastapi_422(raw: httpx.AsyncClient, body: dict) -> None:
    response = await raw.post("/models", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


async def test_list_envelope_and_filters(raw: httpx.AsyncClient) -> None:
    for name, task in [("alpha", "generation"), ("beta", "embedding"), ("alphabet", "generation")]:
        await raw.post("/models", json={"name": name, "task": task})
    first = (await raw.get("/models", params={"size": 2})).json()
    assert {k: first[k] for k in ("total", "page", "size", "pages")} == {
        "total": 3,
        "page": 1,
        "size": 2,
        "pages": 2,
    }
    assert [m["name"] for m in first["models"]] == ["alpha", "beta"]
    second = (await raw.get("/models", params={"size": 2, "page": 2})).json()
    assert [m["name"] for m in second["models"]] == ["alphabet"]
    filtered = await raw.get("/models", params={"name_contains": "ALPHA", "task": "generation"})
    assert filtered.json()["total"] == 2
    for params in ({"size": 0}, {"size": 101}, {"page": 0}):
        assert (await raw.get("/models", params=params)).status_code == 422


@pytest.mark.parametrize(
    "override",
    [
        {"hash": "a" * 63},
        {"hash": "a" * 65},
        {"hash": "g" * 64},
        {"version": "v1"},
        {"version": "1"},
        {"version": "1.0.0.0"},
        {"version": "1.x"},
        {"eval_score": 1.5},
        {"eval_score": -0.1},
        {"cost_per_1k": -1},
        {"model_id": None},
    ],
)
async def test_version_validation_is_fastapi_422(raw: httpx.AsyncClient, override: dict) -> None:
    model_id = await _new_model(raw)
    body = {"model_id": model_id, "hash": _hash(1), "version": "1.0", **override}
    response = await raw.post("/versions", json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


async def test_version_fields_duplicates_and_404(raw: httpx.AsyncClient) -> None:
    model_id = await _new_model(raw)
    version = await _new_version(raw, model_id, 1, eval_score=0.9, model_type="fine-tuned-chat")
    assert isinstance(version["id"], int)
    assert version["region"] == "us-east-1" and version["slo_ok"] is True
    assert version["model_name"] == "tutor" and version["provider_binding_count"] == 0
    assert version["archived_at"] is None and version["archive_uri"] is None

    three_part = {"model_id": model_id, "hash": _hash(2), "version": "1.2.3"}
    assert (await raw.post("/versions", json=three_part)).status_code == 201
    same_hash = {"model_id": model_id, "hash": _hash(1), "version": "9.0"}
    _assert_error(await raw.post("/versions", json=same_hash), 400, "already exists")
    same_number = {"model_id": model_id, "hash": _hash(3), "version": "1.0"}
    _assert_error(await raw.post("/versions", json=same_number), 400, "already exists")
    no_model = {"model_id": 999, "hash": _hash(4), "version": "1.0"}
    _assert_error(await raw.post("/versions", json=no_model), 404, "Model not found")
    _assert_error(await raw.get("/versions/999"), 404, "Model version not found")

    # Another model may reuse hash and number.
    other = await _new_model(raw, "other")
    assert (await _new_version(raw, other, 1))["model_id"] == other

    updated = await raw.put(f"/versions/{version['id']}", json={"eval_score": 0.5})
    assert updated.json()["eval_score"] == 0.5
    assert (await raw.put(f"/versions/{version['id']}", json={"eval_score": 2})).status_code == 422
    listed = (await raw.get("/versions", params={"model_id": model_id})).json()
    assert listed["total"] == 2
    best = (await raw.get("/versions", params={"min_eval_score": 0.6})).json()
    assert best["total"] == 0


async def test_only_three_newest_versions_with_artifacts_stay_active(
    raw: httpx.AsyncClient, registry: RegistryClient
) -> None:
    model_id = await _new_model(raw)
    for n in range(1, 6):
        await _new_version(raw, model_id, n, artifact_uri=f"s3://models/tutor/{n}")
    await _new_version(raw, model_id, 6)  # no artifact: never archived, not counted

    active = (await raw.get(f"/models/{model_id}/versions")).json()
    assert sorted(v["version"] for v in active["versions"]) == ["3.0", "4.0", "5.0", "6.0"]
    every = await registry.list_versions(model_id, include_archived=True)
    archived = {v.version: v for v in every if v.archived}
    assert sorted(archived) == ["1.0", "2.0"]
    assert all(v.archive_uri and v.archived_at for v in archived.values())
    assert len(await registry.list_versions(model_id, include_archived=False)) == 4

    model = (await raw.get(f"/models/{model_id}")).json()
    assert model["version_count"] == 6 and model["active_version_count"] == 4
    assert (await _state(raw))["active_versions"] == 4


async def test_list_versions_follows_every_page(
    raw: httpx.AsyncClient, registry: RegistryClient
) -> None:
    model_id = await _new_model(raw)
    for n in range(1, 106):
        await _new_version(raw, model_id, n)
    versions = await registry.list_versions(model_id)
    assert len(versions) == 105
    assert len({v.id for v in versions}) == 105


async def test_bindings_duplicates_and_404(raw: httpx.AsyncClient) -> None:
    model_id = await _new_model(raw)
    version = await _new_version(raw, model_id, 1)
    body = {"version_id": version["id"], "provider": "openai", "provider_model_id": FT}
    created = await raw.post("/bindings", json=body)
    assert created.status_code == 201
    binding = created.json()
    assert binding["status"] == "active"
    assert binding["model_name"] == "tutor" and binding["version"] == "1.0"
    assert binding["config"] is None

    _assert_error(await raw.post("/bindings", json=body), 400, "already exists")
    other_provider = {**body, "provider": "azure", "status": "inactive"}
    assert (await raw.post("/bindings", json=other_provider)).status_code == 201
    assert (await raw.post("/bindings", json={**body, "provider": "acme"})).status_code == 422
    assert (await raw.post("/bindings", json={**body, "status": "on"})).status_code == 422
    missing = {**body, "version_id": 999}
    _assert_error(await raw.post("/bindings", json=missing), 404, "Model version not found")
    _assert_error(await raw.get("/bindings/999"), 404, "Provider binding not found")

    found = await raw.get("/bindings", params={"version_id": version["id"], "provider": "openai"})
    assert [b["id"] for b in found.json()["bindings"]] == [binding["id"]]
    assert (await raw.get(f"/versions/{version['id']}")).json()["provider_binding_count"] == 2
    updated = await raw.put(f"/bindings/{binding['id']}", json={"status": "deprecated"})
    assert updated.json()["status"] == "deprecated"


# ---------------------------------------------------------------------------------- client


async def test_ensure_calls_are_idempotent(
    raw: httpx.AsyncClient, registry: RegistryClient
) -> None:
    results = []
    for _ in range(2):
        model = await registry.ensure_model("Acme Math-Tutor", subject="math")
        version = await registry.ensure_version(model.id, FT, 0.91, f"openai://{FT}")
        binding = await registry.ensure_binding(version.id, "openai", FT)
        results.append((model.id, version.id, binding.id))
    assert results[0] == results[1]
    calls = (await _state(raw))["calls"]
    assert calls["POST /models"] == 1
    assert calls["POST /versions"] == 1
    assert calls["POST /bindings"] == 2  # the second one answered 400 "already exists"
    assert calls["GET /bindings"] == 1

    model_id, version_id, binding_id = results[0]
    assert (await raw.get("/models")).json()["total"] == 1
    versions = (await raw.get("/versions", params={"model_id": model_id})).json()
    assert versions["total"] == 1
    version = versions["versions"][0]
    assert version["hash"] == hashlib.sha256(FT.encode()).hexdigest() == version_hash(FT)
    assert version["version"] == "1.0"
    assert version["eval_score"] == 0.91
    assert (version["model_type"], version["framework"]) == ("fine-tuned-chat", "openai")
    bindings = (await raw.get("/bindings", params={"version_id": version_id})).json()
    assert bindings["total"] == 1
    assert bindings["bindings"][0]["provider_model_id"] == FT
    assert (await registry.get_binding(binding_id)).version == "1.0"
    assert (await registry.get_model(model_id)).name == "acme math-tutor"


async def test_ensure_model_with_a_slash_in_its_name(
    raw: httpx.AsyncClient, registry: RegistryClient
) -> None:
    first = await registry.ensure_model("Acme/Math Tutor")
    again = await registry.ensure_model("acme/math tutor")
    assert first.id == again.id and first.name == "acme/math tutor"
    assert (await _state(raw))["models"] == 1


async def test_ensure_version_numbers_and_reuse_of_archived(registry: RegistryClient) -> None:
    model = await registry.ensure_model("tutor")
    ids = [f"ft:gpt-4o-mini:acme::{n}" for n in range(5)]
    numbers = [
        (await registry.ensure_version(model.id, ft, 0.8, f"openai://{ft}")).version for ft in ids
    ]
    assert numbers == ["1.0", "2.0", "3.0", "4.0", "5.0"]
    first = await registry.ensure_version(model.id, ids[0], 0.8, f"openai://{ids[0]}")
    assert first.version == "1.0" and first.archived
    assert len(await registry.list_versions(model.id)) == 5


async def test_ensure_version_above_non_numeric_majors(
    raw: httpx.AsyncClient, registry: RegistryClient
) -> None:
    model_id = await _new_model(raw)
    await raw.post("/versions", json={"model_id": model_id, "hash": _hash(7), "version": "7.3.1"})
    assert (await registry.ensure_version(model_id, FT, None, None)).version == "8.0"


async def test_concurrent_promoters(raw: httpx.AsyncClient, registry: RegistryClient) -> None:
    models = await asyncio.gather(*(registry.ensure_model("Tutor") for _ in range(5)))
    assert len({m.id for m in models}) == 1
    model_id = models[0].id

    ids = [f"ft:gpt-4o-mini:acme::{n}" for n in range(4)]
    versions = await asyncio.gather(
        *(registry.ensure_version(model_id, ft, 0.7, None) for ft in [*ids, ids[0]])
    )
    assert versions[0].id == versions[-1].id
    assert sorted(v.version for v in versions[:4]) == ["1.0", "2.0", "3.0", "4.0"]
    bindings = await asyncio.gather(
        *(registry.ensure_binding(versions[0].id, "openai", ids[0]) for _ in range(3))
    )
    assert len({b.id for b in bindings}) == 1
    state = await _state(raw)
    assert (state["models"], state["versions"], state["bindings"]) == (1, 4, 1)


async def test_ensure_binding_refuses_a_different_provider_model(
    registry: RegistryClient,
) -> None:
    model = await registry.ensure_model("tutor")
    version = await registry.ensure_version(model.id, FT, 0.9, None)
    await registry.ensure_binding(version.id, "openai", FT)
    with pytest.raises(RegistryClientError, match="already bound"):
        await registry.ensure_binding(version.id, "openai", "ft:someone-else")


async def test_4xx_is_a_client_error_with_the_registry_message(
    registry: RegistryClient,
) -> None:
    with pytest.raises(RegistryNotFound) as not_found:
        await registry.get_model(4242)
    assert not_found.value.status_code == 404 and not_found.value.message == "Model not found"
    assert not not_found.value.retryable
    assert await registry.get_model_by_name("nobody") is None

    model = await registry.create_model("Tutor")
    with pytest.raises(RegistryAlreadyExists, match="already exists"):
        await registry.create_model("tutor")
    with pytest.raises(RegistryClientError) as invalid:
        await registry.create_version(model.id, "not-a-hash", "1.0")
    assert invalid.value.status_code == 422
    assert "hash" in invalid.value.message
    # ensure_binding's version id is one the registry returned: a 404 is "not committed
    # yet", retried and in the end retryable, never the final RegistryNotFound.
    with pytest.raises(RegistryNotVisibleYet) as invisible:
        await registry.ensure_binding(999, "openai", FT)
    assert invisible.value.retryable
    assert isinstance(invisible.value.__cause__, RegistryNotFound)


async def test_5xx_fault_is_retryable_unavailable(
    raw: httpx.AsyncClient, registry: RegistryClient
) -> None:
    model = await registry.ensure_model("tutor")
    version = await registry.ensure_version(model.id, FT, 0.9, None)
    fault = {"path_prefix": "/bindings", "method": "POST", "status": 503, "count": 1}
    assert (await raw.post("/_emulator/faults", json=fault)).status_code == 201

    with pytest.raises(RegistryUnavailable) as unavailable:
        await registry.ensure_binding(version.id, "openai", FT)
    assert unavailable.value.status_code == 503 and unavailable.value.retryable
    assert (await _state(raw))["faults"] == []  # used up
    assert (await registry.ensure_binding(version.id, "openai", FT)).provider_model_id == FT

    await raw.post("/_emulator/faults", json={"path_prefix": "/models", "status": 500})
    _assert_error(await raw.get("/models"), 500, "Injected fault")
    assert (await raw.get("/versions")).status_code == 200  # other paths unaffected
    with pytest.raises(RegistryUnavailable):
        await registry.ensure_model("tutor")
    assert (await raw.delete("/_emulator/faults")).json() == {"cleared": 1}
    assert (await registry.ensure_model("tutor")).id == model.id

    bad = await raw.post("/_emulator/faults", json={"status": 302})
    assert bad.status_code == 400


async def test_down_timeout_and_connection_errors_are_unavailable(
    raw: httpx.AsyncClient, registry: RegistryClient, emulator_url: str
) -> None:
    await raw.post("/_emulator/faults", json={"path_prefix": "/bindings", "status": 0})
    with pytest.raises(RegistryUnavailable) as down:
        await registry.health()
    assert down.value.status_code == 503
    _assert_error(await raw.get("/models"), 503, "unavailable")
    await raw.delete("/_emulator/faults")
    assert (await registry.health()).status == "healthy"

    await raw.post("/_emulator/faults", json={"path_prefix": "/health", "delay_seconds": 0.5})
    async with RegistryClient(emulator_url, None, timeout=0.1) as impatient:
        with pytest.raises(RegistryUnavailable) as timed_out:
            await impatient.health()
    assert timed_out.value.status_code is None and "timed out" in timed_out.value.message

    async with RegistryClient(f"http://127.0.0.1:{free_port()}", None, timeout=1) as nowhere:
        with pytest.raises(RegistryUnavailable, match="cannot reach"):
            await nowhere.ensure_model("tutor")


async def _wait_for(raw: httpx.AsyncClient, key: str, value: int) -> dict[str, Any]:
    for _ in range(200):
        state = await _state(raw)
        if state[key] == value:
            return state
        await asyncio.sleep(0.01)
    raise AssertionError(f"{key} never reached {value}: {state}")


async def test_hold_drops_the_call_when_the_caller_dies(
    raw: httpx.AsyncClient, registry: RegistryClient, emulator_url: str
) -> None:
    model = await registry.ensure_model("tutor")
    version = await registry.ensure_version(model.id, FT, 0.9, None)
    hold = {"path_prefix": "/bindings", "method": "POST", "seconds": 30}
    assert (await raw.post("/_emulator/hold", json=hold)).status_code == 201

    async with RegistryClient(emulator_url, None, timeout=5) as doomed:
        call = asyncio.create_task(doomed.ensure_binding(version.id, "openai", FT))
        state = await _wait_for(raw, "held_calls", 1)
        assert state["calls"]["POST /bindings"] == 1 and state["holds"] == []
        call.cancel()  # the worker dies: its connection goes away
        with pytest.raises(asyncio.CancelledError):
            await call
    state = await _wait_for(raw, "dropped_calls", 1)
    assert state["held_calls"] == 0 and state["bindings"] == 0

    binding = await registry.ensure_binding(version.id, "openai", FT)  # the retry
    assert binding.version_id == version.id
    assert (await _state(raw))["bindings"] == 1


async def test_hold_can_be_released(raw: httpx.AsyncClient, registry: RegistryClient) -> None:
    await raw.post("/_emulator/hold", json={"path_prefix": "/models", "seconds": 30})
    call = asyncio.create_task(registry.ensure_model("tutor"))
    await _wait_for(raw, "held_calls", 1)
    assert not call.done()
    assert (await raw.delete("/_emulator/hold")).json() == {"released": 1}
    model = await asyncio.wait_for(call, 5)
    assert model.name == "tutor"


async def test_hold_times_out_and_proceeds(
    raw: httpx.AsyncClient, registry: RegistryClient
) -> None:
    await raw.post("/_emulator/hold", json={"path_prefix": "/models", "seconds": 0.05})
    assert (await registry.create_model("tutor")).name == "tutor"
    assert (await _state(raw))["models"] == 1


async def test_reset_and_state(raw: httpx.AsyncClient, registry: RegistryClient) -> None:
    model = await registry.ensure_model("tutor")
    await registry.ensure_version(model.id, FT, 0.9, None)
    await raw.post("/_emulator/faults", json={"path_prefix": "/nothing", "status": 500})
    state = await _state(raw)
    assert (state["models"], state["versions"], state["bindings"]) == (1, 1, 0)
    assert state["calls"]["GET /models/name/{name}"] == 1
    assert state["calls"]["GET /models/{model_id}/versions"] == 1
    assert len(state["faults"]) == 1

    await raw.post("/_emulator/reset")
    state = await _state(raw)
    assert (state["models"], state["versions"], state["calls"], state["faults"]) == (0, 0, {}, [])
    assert (await registry.ensure_model("other")).id == 1  # ids restart


# ----------------------------------------------------------------------------------- auth


async def test_api_key_is_enforced_when_configured() -> None:
    key = "registry-secret-key"
    async with serve_app(create_app(RegistryEmulatorSettings(api_key=key))) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            _assert_error(await http.get("/models"), 401, "API key")
            wrong = await http.get("/models", headers={"Authorization": "Bearer nope"})
            _assert_error(wrong, 401, "API key")
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/_emulator/state")).status_code == 200

        async with RegistryClient(url, key) as client:
            assert key not in repr(client)
            model = await client.ensure_model("tutor")
            version = await client.ensure_version(model.id, FT, 0.9, None)
            assert (await client.ensure_binding(version.id, "openai", FT)).id == 1

        async with RegistryClient(url, "wrong-key") as client:
            with pytest.raises(RegistryClientError) as denied:
                await client.get_model(model.id)
            assert denied.value.status_code == 401
            assert "wrong-key" not in str(denied.value)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_EMULATOR_API_KEY", "k")
    monkeypatch.setenv("REGISTRY_EMULATOR_PORT", "9103")
    settings = RegistryEmulatorSettings()
    assert (settings.api_key, settings.port) == ("k", 9103)


def test_main_runs_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(emulator_main.uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    emulator_main.main(["--host", "127.0.0.1", "--port", "8003"])
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8003)
    assert seen["app"].title.startswith("Model Registry")


async def test_version_number_exhaustion_is_retryable() -> None:
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"versions": [], "total": 0, "page": 1, "pages": 0})
        posted.append(json.loads(request.content)["version"])
        return httpx.Response(400, json={"error": "Version already exists", "status_code": 400})

    transport = httpx.MockTransport(handler)
    async with RegistryClient("http://registry", None, transport=transport) as client:
        with pytest.raises(RegistryVersionConflict) as conflict:
            await client.ensure_version(1, FT, 0.9, None)
    assert isinstance(conflict.value, RegistryUnavailable) and conflict.value.retryable
    assert posted == ["1.0", "2.0", "3.0", "4.0", "5.0"]


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (429, {"detail": "slow down"}, RegistryUnavailable, "slow down"),
        (502, "bad gateway", RegistryUnavailable, "bad gateway"),
        (403, {"detail": "forbidden"}, RegistryClientError, "forbidden"),
        (422, {"detail": [{"loc": ["body", "name"], "msg": "too long"}]}, RegistryClientError,
         "name: too long"),
    ],
)  # fmt: skip
async def test_error_mapping(
    status: int, body: Any, error: type[RegistryError], message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer k"
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    transport = httpx.MockTransport(handler)
    async with RegistryClient("http://registry", "k", transport=transport) as client:
        with pytest.raises(error) as raised:
            await client.get_model(1)
    assert raised.value.status_code == status and raised.value.message == message


# ------------------------------------------------- a registry that answers before it commits


async def test_created_records_stay_invisible_for_the_next_reads(raw: httpx.AsyncClient) -> None:
    mode = await raw.put("/_emulator/consistency", json={"visible_after_reads": 2})
    assert mode.status_code == 200, mode.text
    created = await raw.post("/models", json={"name": "Late", "task": "generation"})
    assert created.status_code == 201
    model_id = created.json()["id"]

    # Two lookups that would find it see nothing; the third does.
    _assert_error(await raw.get(f"/models/{model_id}"), 404, "Model not found")
    assert (await raw.get("/models")).json()["models"] == []
    found = await raw.get("/models/name/late")
    assert found.status_code == 200 and found.json()["id"] == model_id
    assert (await _state(raw))["consistency"]["hidden_reads"] == 2

    # A version referring to a model not committed yet is "Model not found".
    await raw.post("/models", json={"name": "later", "task": "generation"})
    later = (await _state(raw))["models"]
    body = {"model_id": later, "hash": _hash(1), "version": "1.0"}
    _assert_error(await raw.post("/versions", json=body), 404, "Model not found")

    cleared = await raw.delete("/_emulator/consistency")
    assert cleared.json()["pending_records"] == 0
    assert (await raw.post("/versions", json=body)).status_code == 201


async def test_a_create_colliding_with_an_uncommitted_record_stalls(
    raw: httpx.AsyncClient,
) -> None:
    await raw.put("/_emulator/consistency", json={"visible_after_reads": 100, "stall_seconds": 600})
    first = await raw.post("/models", json={"name": "race", "task": "generation"})
    assert first.status_code == 201
    second = asyncio.create_task(raw.post("/models", json={"name": "race", "task": "generation"}))
    for _ in range(500):
        if (await _state(raw))["consistency"]["stalled_now"] == 1:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the duplicate create did not stall")
    assert not second.done()
    await raw.delete("/_emulator/consistency")  # "commits", releasing the stalled insert
    _assert_error(await second, 400, "already exists")
    state = await _state(raw)
    assert state["models"] == 1
    assert state["consistency"]["stalled_calls"] == 1


async def test_client_retries_a_404_for_an_id_the_registry_just_returned(
    raw: httpx.AsyncClient, registry: RegistryClient
) -> None:
    await raw.put("/_emulator/consistency", json={"visible_after_reads": 2})
    model = await registry.ensure_model("eventually")
    version = await registry.ensure_version(model.id, FT, 0.9, "https://card")
    binding = await registry.ensure_binding(version.id, "openai", FT)
    assert binding.version_id == version.id
    state = await _state(raw)
    assert (state["models"], state["versions"], state["bindings"]) == (1, 1, 1)
    assert state["consistency"]["hidden_reads"] >= 4  # the model and the version, twice each

    # Longer than the client waits: a retryable error (the activity retries), not a 404.
    await raw.put("/_emulator/consistency", json={"visible_after_reads": 50})
    other = await registry.ensure_model("never-soon")
    with pytest.raises(RegistryNotVisibleYet) as invisible:
        await registry.ensure_version(other.id, FT, 0.9, None)
    assert invisible.value.retryable


async def test_the_late_commit_mode_can_be_the_emulators_setting() -> None:
    settings = RegistryEmulatorSettings(visible_after_reads=1)
    async with (
        serve_app(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=5) as raw,
    ):
        created = (await raw.post("/models", json={"name": "m", "task": "generation"})).json()
        assert (await raw.get(f"/models/{created['id']}")).status_code == 404
        assert (await raw.get(f"/models/{created['id']}")).status_code == 200
        assert (await _state(raw))["consistency"]["visible_after_reads"] == 1
