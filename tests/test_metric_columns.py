"""A metric point's learning rate and epoch, recorded and served by `/metrics`; and the
synchronous dataset check run under a provider's own rules (self-hosted: the base model's
tokenizer and GPU-time cost)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from core.db import create_pool
from core.provider_events import ProviderEvent, TrainingMetricPoint
from core.settings import Settings
from scripts.stack.services import in_process_worker, serve_app
from store.jobs import record_events
from tests.conftest import ADMIN_HEADERS
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.tiny_model import TINY_MODEL_NAME, tiny_model_dir, write_catalogue

DATASHEET = {"source": "curriculum_team", "license": "proprietary", "redaction": "none"}


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    opened = await create_pool(settings.database_url, max_size=2)
    try:
        yield opened
    finally:
        await opened.close()


def metrics_event(point: TrainingMetricPoint) -> ProviderEvent:
    return ProviderEvent(
        id=f"step-{point.step}",
        created_at=point.recorded_at,
        level="info",
        type="metrics",
        message=f"Step {point.step}",
        metric=point,
    )


async def test_learning_rate_and_epoch_round_trip_to_the_metrics_response(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # A job that fails before training records no points of its own.
    created = await submit(api, job_request(name="schedule-columns", datasetUri="missing.jsonl"))
    job = await wait_for_job(api, created["id"], until={"failed"})
    now = datetime.now(UTC)
    scheduled = TrainingMetricPoint(
        step=1, recorded_at=now, total_steps=2, train_loss=2.5, learning_rate=2e-4, epoch=0.5
    )
    unscheduled = TrainingMetricPoint(step=2, recorded_at=now, total_steps=2, train_loss=2.1)
    await record_events(pool, job["id"], [metrics_event(scheduled), metrics_event(unscheduled)])

    response = await api.get(f"/trainer/jobs/{job['id']}/metrics")
    assert response.status_code == 200, response.text
    first, second = response.json()["points"]
    assert (first["step"], first["learning_rate"], first["epoch"]) == (1, 2e-4, 0.5)
    assert first["train_loss"] == 2.5
    # A provider that does not report them (OpenAI) leaves them null, like the other fields.
    assert (second["learning_rate"], second["epoch"]) == (None, None)


async def test_self_hosted_is_refused_where_the_deployment_does_not_serve_it(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(
        "/trainer/datasets/validate",
        json={
            "datasetUri": "tutor-k12-good.jsonl",
            "scope": "tenant_123",
            "provider": "self_hosted",
            "baseModel": TINY_MODEL_NAME,
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "provider_unsupported"
    assert "self_hosted" in response.json()["detail"]


def chat(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are a patient tutor."},
            {"role": "user", "content": f"Question {i}: why is the sky blue?"},
            {"role": "assistant", "content": f"Answer {i}: sunlight scatters."},
        ]
    }


async def test_validate_counts_a_self_hosted_dataset_with_the_base_models_tokenizer(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    from transformers import PreTrainedTokenizerFast

    examples = [chat(i) for i in range(12)]
    (tmp_path / "tutor.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    isolated = settings.model_copy(
        update={
            "temporal_task_queue": f"dataset-check-{uuid.uuid4().hex[:8]}",
            "self_hosted_catalogue_file": write_catalogue(tmp_path / "c.yaml"),
            "dataset_root": tmp_path,
        }
    )
    request = {"datasetUri": "tutor.jsonl", "scope": "tenant_123", "datasheet": DATASHEET}
    async with (
        in_process_worker(temporal_client, isolated),
        serve_app(create_app(isolated)) as url,
        httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN_HEADERS) as api,
    ):
        self_hosted = await api.post(
            "/trainer/datasets/validate",
            json={**request, "provider": "self_hosted", "baseModel": TINY_MODEL_NAME},
        )
        openai = await api.post("/trainer/datasets/validate", json=request)
    assert self_hosted.status_code == 200, self_hosted.text
    assert self_hosted.json()["ok"] is True, self_hosted.json()["report"]
    report = self_hosted.json()["report"]
    assert report["tokens"]["encoding"] == f"{TINY_MODEL_NAME} tokenizer"
    assert report["cost"]["basis"] == "gpu_time"
    reference = PreTrainedTokenizerFast.from_pretrained(tiny_model_dir())
    expected = sum(
        len(
            reference.apply_chat_template(e["messages"], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        for e in examples
    )
    assert report["tokens"]["tokens"] == expected
    # Without a provider the same request is checked as OpenAI, as before.
    assert openai.status_code == 200, openai.text
    assert openai.json()["report"]["tokens"]["encoding"] == "o200k_base"
    assert openai.json()["report"]["cost"]["basis"] == "token_price"
