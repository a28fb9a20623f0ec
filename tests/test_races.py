"""Races on the real stack: concurrent evaluation starts, repeated and concurrent promotions,
Idempotency-Key replays with another body, and two jobs promoting to one new registry model
on a registry that answers before it commits."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from activities.registry.model_lock import RegistryModelBusy, registry_model_lock
from core.settings import Settings
from tests.support.jobs import job_request, submit, wait_for_job

EVALUATION_BODY: dict[str, Any] = {
    "name": "race-evaluation",
    "harness_config": {
        "pedagogy_tests": ["content_accuracy"],
        "safety_tests": ["harmful_content"],
        "timeout": 120,
    },
    "thresholds": {"pedagogy_score": 0.05, "safety_score": 0.05},
}
UNSAFE = {"datasetUri": "tutor-k12-unsafe.jsonl", "datasheet": {"redaction": "none"}}


def scope(label: str) -> str:
    return f"tenant_{label}_{uuid.uuid4().hex[:8]}"


async def count_rows(settings: Settings, table: str, job_id: str) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE job_id = $1", job_id))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def trained(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Finished jobs, trained side by side: three passed and promoted by the pipeline, two
    unsafe ones (evaluation failed, nothing promoted) sharing one name and tenant."""
    twins_scope = scope("twins")
    twins_name = f"twins-{uuid.uuid4().hex[:6]}"
    requests = {
        "evaluate": job_request(name="race-evaluate", policy={"scope": scope("eval")}),
        "promote": job_request(name="race-promote", policy={"scope": scope("promo")}),
        "archived": job_request(name="race-archived", policy={"scope": scope("arch")}),
        "twin_a": job_request(name=twins_name, policy={"scope": twins_scope}, **UNSAFE),
        "twin_b": job_request(name=twins_name, policy={"scope": twins_scope}, **UNSAFE),
    }
    created = await asyncio.gather(*(submit(api, body) for body in requests.values()))
    finished = await asyncio.gather(*(wait_for_job(api, job["id"], timeout=180) for job in created))
    jobs = dict(zip(requests, finished, strict=True))
    for job in jobs.values():
        assert job["status"] == "completed", job
    return jobs


@pytest.fixture
async def registry_commits_late(registry: httpx.AsyncClient) -> AsyncIterator[None]:
    """The registry answers 201 before it commits: each created record 404s for the next
    two lookups and for a second after its creation, and a create colliding with a record
    not committed yet stalls."""
    mode = {"visible_after_reads": 2, "visible_after_seconds": 1.0, "stall_seconds": 60}
    assert (await registry.put("/_emulator/consistency", json=mode)).status_code == 200
    try:
        yield
    finally:
        await registry.delete("/_emulator/consistency")
        await registry.delete("/_emulator/hold")


async def lock_waiters(settings: Settings) -> int:
    """Promotions waiting for another one's registry-model lock in this suite's database."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        return int(
            await conn.fetchval(
                """
                SELECT count(*) FROM pg_locks
                WHERE locktype = 'advisory' AND NOT granted
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """
            )
        )
    finally:
        await conn.close()


async def test_ten_concurrent_evaluations_start_exactly_one(
    api: httpx.AsyncClient, settings: Settings, trained: dict[str, dict[str, Any]]
) -> None:
    job_id = trained["evaluate"]["id"]
    before = await count_rows(settings, "evaluations", job_id)
    path = f"/trainer/jobs/{job_id}/evaluate"
    answers = await asyncio.gather(*(api.post(path, json=EVALUATION_BODY) for _ in range(10)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 9, [a.text for a in answers]
    assert {a.json()["error_code"] for a in answers if a.status_code == 409} == {
        "evaluation_running"
    }
    assert await count_rows(settings, "evaluations", job_id) == before + 1

    # "One" means one in flight: once it has finished, another may start.
    started = next(a.json() for a in answers if a.status_code == 201)
    for _ in range(1200):
        latest = (await api.get(f"/trainer/evaluations/{started['id']}")).json()
        if latest["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the evaluation never finished")
    again = await api.post(path, json=EVALUATION_BODY)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != started["id"]


async def test_repeated_and_concurrent_promotions_reuse_one_promotion(
    api: httpx.AsyncClient, settings: Settings, trained: dict[str, dict[str, Any]]
) -> None:
    job = trained["promote"]
    assert job["promotion"]["promoted"] is True  # the pipeline's own promotion
    path = f"/trainer/jobs/{job['id']}/promote"
    before = await count_rows(settings, "promotions", job["id"])

    concurrent = await asyncio.gather(api.post(path, json={}), api.post(path, json={}))
    forced = [await api.post(path, json={"force": True}) for _ in range(5)]
    answers = [*concurrent, *forced]
    assert [a.status_code for a in answers] == [201] * 7, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1  # every replay returns the same one
    assert await count_rows(settings, "promotions", job["id"]) == before + 1
    final = answers[-1].json()
    assert final["promoted"] is True
    ids = [final[f"registry_{k}_id"] for k in ("model", "version", "binding")]
    pipeline = [job["promotion"][f"registry_{k}_id"] for k in ("model", "version", "binding")]
    assert ids == pipeline  # the same registry records, not new ones


async def test_idempotency_key_with_any_other_body_is_409(api: httpx.AsyncClient) -> None:
    key = f"race-{uuid.uuid4().hex}"
    # Unsafe data: this job never reaches the registry, whose faults other tests inject.
    body = job_request(name="idem-body", policy={"scope": scope("idem")}, **UNSAFE)
    headers = {"Idempotency-Key": key}
    first = await api.post("/trainer/jobs", json=body, headers=headers)
    assert first.status_code == 201, first.text

    for changed in (
        {**body, "description": "another description"},
        {**body, "weights": {"pedagogy": 0.9, "safety": 0.1}},
    ):
        refused = await api.post("/trainer/jobs", json=changed, headers=headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error_code"] == "idempotency_key_reused"

    replay = await api.post("/trainer/jobs", json=body, headers=headers)
    assert replay.status_code == 201, replay.text
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["description"] == body["description"]
    await api.delete(f"/trainer/jobs/{first.json()['id']}")  # not needed any further


async def test_two_jobs_promoting_to_one_new_model_both_end_promoted(
    api: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    settings: Settings,
    trained: dict[str, dict[str, Any]],
    registry_commits_late: None,
) -> None:
    twins = [trained["twin_a"], trained["twin_b"]]
    assert all(t["promotion"] is None for t in twins)  # failed evaluations: not promoted
    # Hold the first promoter's model lookup until the second has either created the model
    # itself (no serialization: the first then inserts the same, uncommitted name) or is
    # waiting for the first one's lock.
    hold = {"path_prefix": "/models/name/", "method": "GET", "seconds": 120, "count": 1}
    assert (await registry.post("/_emulator/hold", json=hold)).status_code == 201
    promoting = asyncio.gather(
        *(api.post(f"/trainer/jobs/{t['id']}/promote", json={"force": True}) for t in twins)
    )
    for _ in range(3000):
        state = (await registry.get("/_emulator/state")).json()
        if state["held_calls"] == 1 and (
            state["calls"].get("POST /models", 0) >= 1 or await lock_waiters(settings) >= 1
        ):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the two promotions never met at the registry")
    await registry.delete("/_emulator/hold")
    answers = await promoting
    for answer in answers:
        assert answer.status_code == 201, answer.text
        assert answer.json()["promoted"] is True, answer.json()

    name = f"{twins[0]['policy']['scope']}-{twins[0]['name']}".lower()
    model = (await registry.get(f"/models/name/{name}")).json()
    listed = await registry.get(
        f"/models/{model['id']}/versions", params={"include_archived": True}
    )
    versions = listed.json()["versions"]
    assert len(versions) == 2
    assert {a.json()["registry_model_id"] for a in answers} == {str(model["id"])}
    assert {a.json()["registry_version_id"] for a in answers} == {str(v["id"]) for v in versions}
    state = (await registry.get("/_emulator/state")).json()["consistency"]
    assert state["hidden_reads"] > 0  # the registry did answer before committing
    assert state["stalled_calls"] == 0  # and no two inserts of one key ever met


async def test_a_job_failed_at_promotion_can_be_promoted_again(
    api: httpx.AsyncClient, registry: httpx.AsyncClient
) -> None:
    fault = {"path_prefix": "/versions", "method": "POST", "status": 403, "count": 1}
    assert (await registry.post("/_emulator/faults", json=fault)).status_code == 201
    created = await submit(api, job_request(name="race-refail", policy={"scope": scope("re")}))
    failed = await wait_for_job(api, created["id"], until={"failed"}, timeout=120)
    assert failed["errorCode"] == "registry_rejected"

    again = await api.post(f"/trainer/jobs/{failed['id']}/promote", json={"force": True})
    assert again.status_code == 201, again.text
    assert again.json()["promoted"] is True
    job = (await api.get(f"/trainer/jobs/{failed['id']}")).json()
    assert job["status"] == "completed"
    assert job["promotion"]["id"] == again.json()["id"]


async def test_repromoting_onto_an_archived_version_says_so(
    api: httpx.AsyncClient, registry: httpx.AsyncClient, trained: dict[str, dict[str, Any]]
) -> None:
    job = trained["archived"]
    promoted = job["promotion"]
    assert promoted["promoted"] is True
    mine = (await registry.get(f"/versions/{promoted['registry_version_id']}")).json()
    # Three newer versions with an artifact: the registry keeps 3 and archives ours.
    for n in (2, 3, 4):
        newer = {
            "model_id": int(promoted["registry_model_id"]),
            "hash": hashlib.sha256(f"{job['id']}-{n}".encode()).hexdigest(),
            "version": f"{n}.0",
            "artifact_uri": f"https://example.org/{n}",
        }
        assert (await registry.post("/versions", json=newer)).status_code == 201
    archived = (await registry.get(f"/versions/{mine['id']}")).json()
    assert archived["archived_at"] is not None

    again = await api.post(f"/trainer/jobs/{job['id']}/promote", json={})
    assert again.status_code == 201, again.text
    body = again.json()
    assert body["promoted"] is False
    assert "archived" in body["promotion_reason"]
    assert mine["version"] in body["promotion_reason"]
    assert body["registry_version_id"] == str(mine["id"])
    assert body["decision"]["outcome"] == "archived"


async def test_the_registry_model_lock_is_exclusive_per_name_across_connections(
    settings: Settings,
) -> None:
    name = f"lock-{uuid.uuid4().hex[:8]}"
    async with registry_model_lock(settings.database_url, name):
        # Another worker (another connection) promoting the same name waits, then gives up
        # with a retryable error; a different name is not held up.
        with pytest.raises(RegistryModelBusy) as busy:
            async with registry_model_lock(settings.database_url, name, wait_seconds=0.2):
                raise AssertionError("two holders of one registry model lock")
        assert busy.value.retryable
        async with registry_model_lock(settings.database_url, f"{name}-other", wait_seconds=5):
            pass
    async with registry_model_lock(settings.database_url, name, wait_seconds=5):
        pass  # released with its transaction
