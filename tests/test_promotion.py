"""Promotion on the real stack: champion/challenger on the same samples, exactly one model,
version and binding even when a worker dies between two registry calls, and registry
outages that delay promotion instead of losing it."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import httpx
from pydantic import SecretStr

from api.app import create_app
from core.settings import Settings
from emulators.registry_emulator.app import create_app as create_registry
from emulators.registry_emulator.settings import RegistryEmulatorSettings
from tests.conftest import ADMIN_HEADERS
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import serve_app
from tests.support.workers import WorkerProcesses


async def registry_records(registry: httpx.AsyncClient, model_name: str) -> dict[str, Any]:
    model = (await registry.get(f"/models/name/{model_name}")).json()
    versions = (
        await registry.get(f"/models/{model['id']}/versions", params={"include_archived": True})
    ).json()["versions"]
    bindings = []
    for version in versions:
        found = await registry.get("/bindings", params={"version_id": version["id"]})
        bindings += found.json()["bindings"]
    return {"model": model, "versions": versions, "bindings": bindings}


async def test_challenger_is_compared_with_the_champion_on_the_same_samples(
    api: httpx.AsyncClient,
) -> None:
    tenant = f"tenant_cc_{uuid.uuid4().hex[:6]}"

    async def challenger(**promotion: Any) -> dict[str, Any]:
        policy: dict[str, Any] = {"scope": tenant}
        if promotion:
            policy["promotion"] = promotion
        created = await submit(api, job_request(name="tutor-line", policy=policy))
        return await wait_for_job(api, created["id"])

    async def champion_gate(job: dict[str, Any]) -> dict[str, Any]:
        card = (await api.get(f"/trainer/jobs/{job['id']}/model-card")).json()
        gate: dict[str, Any] = card["promotion"]["decision"]["champion"]
        return gate

    champion = await challenger()
    assert champion["promotion"]["promoted"] is True

    # Same data, same answers: a tie. On the job's default evaluation (52 pairs per
    # category) its interval is wider than the default margins, so non-inferiority is not
    # shown and the refusal names the bound it reached.
    same = await challenger()
    evaluation = (await api.get(f"/trainer/jobs/{same['id']}/evaluation")).json()
    assert evaluation["baseline_model"] == champion["providerModelId"]  # graded side by side
    assert evaluation["status"] == "passed"
    assert same["promotion"]["promoted"] is False
    assert "may be worse than the champion beyond the" in same["promotion"]["promotion_reason"]
    gate = await champion_gate(same)
    assert gate["allowed"] is False
    assert gate["champion_model"] == champion["providerModelId"]
    assert gate["compared_on"] == "baseline_run"
    by_category = {c["category"]: c for c in gate["comparisons"]}
    for category in ("pedagogy", "safety"):
        comparison = by_category[category]
        assert comparison["mean_delta"] == 0
        assert comparison["n"] > 0
        assert comparison["ci_low"] < 0 < comparison["ci_high"]  # a tie, with its interval
        assert comparison["rule"] == "non_inferior"
    assert by_category["safety"]["margin"] == gate["policy"]["safety_margin"]
    assert by_category["safety"]["ci_low"] < -by_category["safety"]["margin"]
    assert by_category["safety"]["passed"] is False

    # Margins the sample size can show: the tie lies within them and is promoted.
    within = await challenger(safety_margin=0.2, pedagogy_margin=0.2)
    assert within["promotion"]["promoted"] is True, within["promotion"]["promotion_reason"]
    comparisons = (await champion_gate(within))["comparisons"]
    assert all(c["passed"] and c["ci_low"] >= -0.2 for c in comparisons)

    # A policy that asks for improvement refuses the same challenger: a tie shows none.
    demanding = await challenger(
        safety_margin=0.2, pedagogy_margin=0.2, require_pedagogy_improvement=True
    )
    assert demanding["promotion"]["promoted"] is False
    assert "pedagogy does not improve" in demanding["promotion"]["promotion_reason"]


async def test_worker_killed_between_version_and_binding_leaves_one_of_each(
    settings: Settings, registry: httpx.AsyncClient, worker_processes: WorkerProcesses
) -> None:
    isolated = settings.model_copy(
        update={
            "temporal_task_queue": f"promo-crash-{uuid.uuid4().hex[:8]}",
            "promote_timeout_seconds": 3.0,
        }
    )
    first = await worker_processes.start(isolated)
    hold = await registry.post(
        "/_emulator/hold", json={"path_prefix": "/bindings", "method": "POST", "seconds": 60}
    )
    assert hold.status_code == 201, hold.text
    try:
        async with (
            serve_app(create_app(isolated)) as url,
            httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as api,
        ):
            created = await submit(api, job_request(name=f"crash-{uuid.uuid4().hex[:6]}"))
            for _ in range(600):  # the binding call is in flight: model and version exist
                if (await registry.get("/_emulator/state")).json()["held_calls"] == 1:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the binding call never reached the registry")
            first.send_signal(signal.SIGKILL)
            await first.wait()
            await registry.delete("/_emulator/hold")
            await worker_processes.start(isolated)
            job = await wait_for_job(api, created["id"], timeout=120)
    finally:
        await registry.delete("/_emulator/hold")
    assert job["status"] == "completed", job.get("errorMessage")
    assert job["promotion"]["promoted"] is True
    records = await registry_records(registry, f"tenant_123-{job['name']}")
    assert len(records["versions"]) == 1
    assert len(records["bindings"]) == 1
    assert records["bindings"][0]["provider_model_id"] == job["providerModelId"]
    assert str(records["versions"][0]["id"]) == job["promotion"]["registry_version_id"]


async def test_registry_outage_delays_promotion_without_losing_it(
    api: httpx.AsyncClient, registry: httpx.AsyncClient
) -> None:
    outage = await registry.post("/_emulator/faults", json={"status": 503, "count": 2})
    assert outage.status_code == 201
    created = await submit(api, job_request(name=f"outage-{uuid.uuid4().hex[:6]}"))
    job = await wait_for_job(api, created["id"], timeout=120)
    assert job["status"] == "completed"
    assert job["promotion"]["promoted"] is True
    assert job["promotion"]["registry_binding_id"].isdigit()


async def test_registry_rejection_fails_promotion_with_its_message(
    settings: Settings, worker_processes: WorkerProcesses
) -> None:
    keyed = RegistryEmulatorSettings(api_key="registry-key-we-do-not-have")
    async with serve_app(create_registry(keyed)) as registry_url:
        isolated = settings.model_copy(
            update={
                "temporal_task_queue": f"promo-4xx-{uuid.uuid4().hex[:8]}",
                "model_registry_url": registry_url,
                "model_registry_api_key": SecretStr("a-wrong-registry-key"),
            }
        )
        await worker_processes.start(isolated)
        async with (
            serve_app(create_app(isolated)) as url,
            httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as api,
        ):
            created = await submit(api, job_request(name=f"rejected-{uuid.uuid4().hex[:6]}"))
            job = await wait_for_job(api, created["id"], until={"failed"}, timeout=120)
    assert job["errorCode"] == "registry_rejected"
    assert "registry rejected the promotion" in job["errorMessage"]
    assert "a-wrong-registry-key" not in job["errorMessage"]
    assert job["promotion"]["promoted"] is False
