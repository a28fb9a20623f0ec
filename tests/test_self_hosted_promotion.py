"""Promotion records what the provider produced. A self-hosted job's registry version
carries its adapter (artifact URI, the weights' sha256 as hash, size, type, framework) and
the base model with its revision; no binding is created, since the registry has no
provider for self-hosted serving, and the promotion row says so. An OpenAI promotion still
binds. The promotion activity runs against the registry emulator and the real database."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.promotion import PromotionActivities, registry_model_name
from activities.registry.adapter_version import NO_BINDING_NOTE
from api.mapping import promotion_response
from core.models import Provider
from core.settings import Settings
from core.steps import PromoteInput, PromotionOutcome
from store import job_records, jobs, promotions

WEIGHTS_SHA256 = hashlib.sha256(b"adapter weights").hexdigest()
BASE_SOURCE = "hf://Qwen/Qwen2.5-1.5B-Instruct@989aa7980e4cf806f80c7fef2b1adb7bc71aa306"


@pytest.fixture
async def deps(database_url: str, registry_emulator: str) -> AsyncIterator[ActivityDeps]:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        model_registry_url=registry_emulator,
        database_pool_max=2,
    )
    opened = await ActivityDeps.open(settings)
    yield opened
    await opened.close()


def adapter_metadata(job_id: str) -> dict[str, Any]:
    """What the training step records in the job's provider metadata."""
    return {
        "adapter_uri": f"s3://models/adapters/tenant-sh/{job_id}",
        "manifest_uri": f"s3://models/adapters/tenant-sh/{job_id}/manifest.json",
        "weights_sha256": WEIGHTS_SHA256,
        "size_bytes": 123456,
        "base_model": "qwen2.5-1.5b-instruct",
        "base_model_source": BASE_SOURCE,
        "model_type": "lora-adapter",
        "framework": "transformers-peft",
    }


async def trained_job(
    deps: ActivityDeps,
    provider: Provider,
    model: str,
    metadata: dict[str, Any] | None,
    tenant: str,
    name: str,
) -> str:
    job_id = str(uuid.uuid4())
    await job_records.insert_job(
        deps.pool,
        {
            "id": job_id,
            "tenant_id": tenant,
            "name": name,
            "description": "fractions tutor",
            "provider": provider.value,
            "base_model": "qwen2.5-1.5b-instruct"
            if provider is Provider.self_hosted
            else "gpt-4o-mini-2024-07-18",
            "dataset_uri": "tutor-k12-good.jsonl",
            "config": {},
            "policy": {"scope": tenant},
            "datasheet": {},
            "idempotency_key": None,
            "workflow_id": f"training-{job_id}",
        },
    )
    if metadata is not None:
        await jobs.record_provider_job(deps.pool, job_id, f"provider-{job_id}", metadata)
    await jobs.record_training_result(
        deps.pool,
        job_id,
        fine_tuned_model=model,
        trained_tokens=100,
        training_cost=None,
        training_duration=None,
    )
    return job_id


async def promote(
    deps: ActivityDeps, job_id: str, tenant: str, name: str, provider: Provider, model: str
) -> PromotionOutcome:
    promotion_id = str(uuid.uuid4())
    request = PromoteInput(
        promotion_id=promotion_id,
        job_id=job_id,
        evaluation_id=None,
        tenant_id=tenant,
        job_name=name,
        job_description="fractions tutor",
        provider=provider,
        fine_tuned_model=model,
        force=True,
    )
    outcome: PromotionOutcome = await ActivityEnvironment().run(
        PromotionActivities(deps).promote_model, request
    )
    return outcome


async def registry_records(registry: httpx.AsyncClient, name: str) -> dict[str, Any]:
    found = await registry.get(f"/models/name/{name}")
    if found.status_code == 404:
        return {"model": None, "versions": [], "bindings": []}
    model = found.json()
    versions = (
        await registry.get(f"/models/{model['id']}/versions", params={"include_archived": True})
    ).json()["versions"]
    bindings: list[dict[str, Any]] = []
    for version in versions:
        listed = await registry.get("/bindings", params={"version_id": version["id"]})
        bindings += listed.json()["bindings"]
    return {"model": model, "versions": versions, "bindings": bindings}


async def test_a_self_hosted_version_carries_the_adapter_and_gets_no_binding(
    deps: ActivityDeps, registry: httpx.AsyncClient
) -> None:
    tenant, name = f"tenant_sh_{uuid.uuid4().hex[:6]}", "fractions"
    model = "qwen2.5-1.5b-instruct-ft-job"
    job_id = await trained_job(
        deps, Provider.self_hosted, model, adapter_metadata("j1"), tenant, name
    )

    outcome = await promote(deps, job_id, tenant, name, Provider.self_hosted, model)
    assert outcome.promoted is True
    assert outcome.registry_version_id is not None and outcome.registry_binding_id is None

    records = await registry_records(registry, registry_model_name(tenant, name))
    [version] = records["versions"]
    assert str(version["id"]) == outcome.registry_version_id
    assert version["artifact_uri"] == "s3://models/adapters/tenant-sh/j1"
    assert version["hash"] == WEIGHTS_SHA256
    assert version["size_bytes"] == 123456
    assert version["model_type"] == "lora-adapter"
    assert version["framework"] == "transformers-peft"
    assert records["bindings"] == []
    # The registry's versions have no metadata: the base model and revision are in the
    # model's description.
    assert "qwen2.5-1.5b-instruct" in records["model"]["description"]
    assert BASE_SOURCE in records["model"]["description"]

    row = await promotions.load_promotion(deps.pool, str(outcome.promotion_id))
    assert row is not None and row.promoted and row.registry_binding_id is None
    assert row.promotion_reason is not None and row.promotion_reason.endswith(NO_BINDING_NOTE)
    assert row.decision["binding"] == {"created": False, "note": NO_BINDING_NOTE}
    artifact = row.decision["artifact"]
    assert artifact["base_model_source"] == BASE_SOURCE and artifact["hash"] == WEIGHTS_SHA256
    # ... and the promotions API returns the row's decision as it is.
    assert promotion_response(row).decision["binding"]["note"] == NO_BINDING_NOTE

    # Promoting again (a retry, a second request) finds the same version; still no binding.
    again = await promote(deps, job_id, tenant, name, Provider.self_hosted, model)
    assert again.promoted and again.registry_version_id == outcome.registry_version_id
    records = await registry_records(registry, registry_model_name(tenant, name))
    assert len(records["versions"]) == 1 and records["bindings"] == []


async def test_a_self_hosted_job_without_its_adapter_record_is_refused(
    deps: ActivityDeps, registry: httpx.AsyncClient
) -> None:
    tenant, name = f"tenant_sh_{uuid.uuid4().hex[:6]}", "no-adapter"
    partial = {"adapter_uri": "s3://models/adapters/x", "weights_sha256": "not-a-sha"}
    job_id = await trained_job(deps, Provider.self_hosted, "m-ft", partial, tenant, name)
    outcome = await promote(deps, job_id, tenant, name, Provider.self_hosted, "m-ft")
    assert outcome.promoted is False
    assert "adapter is not recorded" in outcome.reason
    assert "size_bytes" in outcome.reason and "weights_sha256" in outcome.reason
    assert (await registry_records(registry, registry_model_name(tenant, name)))["model"] is None


async def test_an_openai_promotion_still_binds(
    deps: ActivityDeps, registry: httpx.AsyncClient
) -> None:
    tenant, name = f"tenant_oa_{uuid.uuid4().hex[:6]}", "fractions"
    model = f"ft:gpt-4o-mini-2024-07-18:org::{uuid.uuid4().hex[:8]}"
    job_id = await trained_job(deps, Provider.openai, model, None, tenant, name)
    outcome = await promote(deps, job_id, tenant, name, Provider.openai, model)
    assert outcome.promoted is True and outcome.registry_binding_id is not None
    records = await registry_records(registry, registry_model_name(tenant, name))
    [version] = records["versions"]
    assert version["hash"] == hashlib.sha256(model.encode()).hexdigest()
    assert version["artifact_uri"].endswith(f"/trainer/jobs/{job_id}/model-card")
    assert version["framework"] == "openai"
    [binding] = records["bindings"]
    assert binding["provider"] == "openai" and binding["provider_model_id"] == model
    row = await promotions.load_promotion(deps.pool, outcome.promotion_id)
    assert row is not None and "binding" not in row.decision and "artifact" not in row.decision
    assert row.promotion_reason == "forced promotion"
