"""Operating the service: Prometheus metrics of the API and the worker, the Temporal SDK's
metrics, JSON logs with request ids and redaction, and usage statistics by tenant, base
model and time window."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import structlog
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import ActivityEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from activities.log_context import ActivityLogContext
from core.logging import RedactingFilter, json_handler
from core.settings import Settings
from core.steps import JobRef
from tests.conftest import wait_for
from tests.support.auth import bearer
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import free_port
from worker import run_worker, sdk_metrics_runtime
from workflows.connection import connect

OTHER_BASE_MODEL = "gpt-4.1-nano-2025-04-14"
Labels = dict[str, str]


def samples(text: str) -> list[tuple[str, Labels, float]]:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels` (0 when none)."""
    return sum(v for n, got, v in samples(text) if n == name and labels.items() <= got.items())


def process_metrics() -> str:
    """This process's counters (the in-process worker of the suite records here)."""
    return generate_latest(REGISTRY).decode()


@dataclass
class Run:
    tenant: str
    since: datetime
    before: str  # this process's metrics before the jobs ran
    completed: list[dict[str, Any]]
    failed: dict[str, Any]


@pytest.fixture(scope="module")
async def run(api: httpx.AsyncClient) -> Run:
    """Two completed jobs (two base models) and one failed job of a tenant of their own."""
    tenant = f"obs-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC)
    before = process_metrics()
    policy = {"scope": tenant}
    created = [
        await submit(api, job_request(name="obs-mini", policy=policy)),
        await submit(api, job_request(name="obs-nano", policy=policy, baseModel=OTHER_BASE_MODEL)),
        await submit(api, job_request(name="obs-bad", policy=policy, datasheet={"license": "   "})),
    ]
    done = await asyncio.gather(*(wait_for_job(api, job["id"], timeout=120) for job in created))
    assert [j["status"] for j in done] == ["completed", "completed", "failed"], [
        j.get("errorMessage") for j in done
    ]

    async def ends_counted() -> bool:
        # A job reads as finished once its last step wrote it; the count follows at once.
        return value(process_metrics(), "trainer_jobs_total", tenant=tenant) == 3

    await wait_for(ends_counted, timeout=10)
    return Run(tenant=tenant, since=since, before=before, completed=done[:2], failed=done[2])


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """JSON lines written by any logger while the test runs (access lines even when the
    environment's LOG_LEVEL is above INFO)."""
    stream = io.StringIO()
    handler = json_handler("test", stream)
    root, access = logging.getLogger(), logging.getLogger("api.access")
    level = access.level
    access.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        access.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- metrics


async def test_metrics_count_what_the_jobs_did(run: Run, api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as anonymous:  # no token, like /health
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text, before = response.text, run.before

    def delta(name: str, **labels: str) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    tenant = run.tenant
    assert value(text, "trainer_jobs_total", tenant=tenant, status="completed") == 2
    assert value(text, "trainer_jobs_total", tenant=tenant, status="failed") == 1
    assert (
        delta(
            "trainer_provider_requests_total",
            provider="openai",
            operation="fine_tuning.jobs.create",
            code="200",
        )
        >= 2
    )
    assert delta("trainer_provider_requests_total", operation="files.create", code="200") >= 2
    assert delta("trainer_step_duration_seconds_count", step="validate_dataset") >= 3
    assert delta("trainer_step_duration_seconds_count", step="promote_model") >= 2
    assert delta("trainer_step_duration_seconds_count", step="finish_job") >= 1
    assert delta("trainer_step_failures_total", step="validate_dataset") >= 1
    assert delta("trainer_evaluation_samples_total", outcome="passed") > 0
    assert delta("trainer_evaluations_total") >= 2

    for job in run.completed:
        labels = {"tenant": tenant, "base_model": job["baseModel"]}
        assert value(text, "trainer_training_tokens_total", **labels) == job["trainingTokens"] > 0
        assert value(text, "trainer_training_cost_usd_total", **labels) == pytest.approx(
            job["trainingCost"]
        )
    assert all(job["promotion"]["promoted"] for job in run.completed)
    assert delta("trainer_registry_requests_total", operation="POST /versions", code="201") >= 2
    assert "trainer_jobs_created" not in text  # no `_created` series

    stages = {labels["stage"] for n, labels, _ in samples(text) if n == "trainer_jobs_in_stage"}
    assert {"accepted", "training", "evaluating", "awaiting_approval"} <= stages
    assert "done" not in stages


async def test_stage_gauges_read_unfinished_jobs_from_the_database(
    api_url: str, settings: Settings
) -> None:
    """A job an hour into awaiting approval shows in the gauges (a row, no workflow)."""
    job_id = str(uuid.uuid4())
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            """
            INSERT INTO jobs (id, tenant_id, name, provider, base_model, dataset_uri, config,
                              policy, datasheet, workflow_id, status, status_rank, stage,
                              stage_changed_at)
            VALUES ($1, 'obs-gauge', 'gauge', 'openai', 'gpt-4o-mini-2024-07-18', 'x.jsonl',
                    '{}', '{}', '{}', $2, 'evaluating', 3, 'awaiting_approval',
                    now() - interval '1 hour')
            """,
            job_id,
            f"training-job-{job_id}",
        )
        async with httpx.AsyncClient(base_url=api_url) as anonymous:
            text = (await anonymous.get("/metrics")).text
    finally:
        await conn.execute("DELETE FROM jobs WHERE id = $1", job_id)
        await conn.close()
    assert value(text, "trainer_jobs_in_stage", stage="awaiting_approval") >= 1
    assert value(text, "trainer_job_stage_age_seconds_max", stage="awaiting_approval") >= 3600


async def test_temporal_sdk_metrics_endpoint(temporal_address: str) -> None:
    port = free_port()
    runtime = sdk_metrics_runtime(port)
    assert runtime is not None and sdk_metrics_runtime(0) is None
    client = await connect(temporal_address, "default", runtime=runtime)
    await client.count_workflows()

    async def served() -> str | None:
        async with httpx.AsyncClient() as http:
            try:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.TransportError:
                return None
        return text if "temporal_request" in text else None

    text = await wait_for(served, timeout=10)
    assert any(name.startswith("temporal_") for name, _, _ in samples(text))


async def test_worker_serves_both_metric_endpoints(settings: Settings) -> None:
    ours, sdk = free_port(), free_port()
    isolated = settings.model_copy(
        update={
            "temporal_task_queue": f"obs-{uuid.uuid4().hex[:8]}",
            "worker_metrics_port": ours,
            "temporal_sdk_metrics_port": sdk,
        }
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(isolated, stop))

    async def both_up() -> tuple[str, str] | None:
        if running.done():
            running.result()
        async with httpx.AsyncClient() as http:
            try:
                own = (await http.get(f"http://127.0.0.1:{ours}/metrics")).text
                theirs = (await http.get(f"http://127.0.0.1:{sdk}/metrics")).text
            except httpx.TransportError:
                return None
        return (own, theirs) if "temporal_" in theirs else None

    try:
        own, theirs = await wait_for(both_up, timeout=20)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert "trainer_step_duration_seconds" in own
    assert "temporal_worker" in theirs or "temporal_request" in theirs


# -------------------------------------------------------------------------------- logs


async def test_request_id_is_echoed_and_logged_with_the_job_id(
    run: Run, api: httpx.AsyncClient, captured_logs: io.StringIO
) -> None:
    job_id = run.completed[0]["id"]
    request_id = f"obs-{uuid.uuid4().hex}"
    response = await api.get(f"/trainer/jobs/{job_id}", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id

    async def access_line() -> dict[str, Any] | None:
        for line in json_lines(captured_logs):
            if line.get("request_id") == request_id:
                return line
        return None

    line = await wait_for(access_line, timeout=5)
    assert line["job_id"] == job_id
    assert line["logger"] == "api.access" and line["status"] == 200
    assert {"timestamp", "level", "message", "service"} <= line.keys()
    assert "Bearer" not in json.dumps(line)

    generated = await api.get("/health", headers={"X-Request-ID": "not a usable id"})
    assert generated.headers["X-Request-ID"] not in ("", "not a usable id")


async def test_activity_lines_carry_workflow_step_and_job() -> None:
    """The worker's interceptor binds the ids around an activity, and only around it."""

    class Inner(ActivityInboundInterceptor):
        async def execute_activity(self, input: ExecuteActivityInput) -> Any:
            return structlog.contextvars.get_contextvars()

    bound = ActivityLogContext().intercept_activity(Inner(None))  # type: ignore[arg-type]
    job = JobRef(job_id="job-42")
    call = ExecuteActivityInput(fn=lambda _: None, args=[job], executor=None, headers={})
    context = await ActivityEnvironment().run(bound.execute_activity, call)
    assert context["job_id"] == "job-42"
    assert context["activity"] and context["workflow_id"] and context["attempt"] == 1
    assert "job_id" not in structlog.contextvars.get_contextvars()


def test_redaction_filter_masks_keys_tokens_and_emails() -> None:
    record = logging.LogRecord(
        "t",
        logging.INFO,
        __file__,
        1,
        "calling with %s for %s (Authorization: Bearer abc.def.ghi)",
        ("sk-proj-AbC123xyz987", "jane.doe@school.example.org"),
        None,
    )
    assert RedactingFilter().filter(record)
    message = record.getMessage()
    assert "sk-proj-AbC123xyz987" not in message and "sk-[redacted]" in message
    assert "jane.doe@school.example.org" not in message and "[redacted-email]" in message
    assert "abc.def.ghi" not in message


def test_json_lines_mask_bound_values_too() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.observability.redaction")
    logger.addHandler(json_handler("test", stream))
    logger.propagate = False
    try:
        with structlog.contextvars.bound_contextvars(job_id="j-1", tenant_id="t-1"):
            logger.warning("retrying", extra={"detail": "key sk-live-0123456789 from a@b.io"})
    finally:
        logger.handlers.clear()
        logger.propagate = True
    line = json.loads(stream.getvalue())
    assert line["job_id"] == "j-1" and line["tenant_id"] == "t-1"
    assert line["service"] == "test" and line["level"] == "warning"
    assert "sk-live" not in line["detail"] and "a@b.io" not in line["detail"]


# ------------------------------------------------------------------------------- stats


async def test_stats_by_tenant_and_base_model_since(run: Run, api: httpx.AsyncClient) -> None:
    since = run.since.isoformat()
    stats = (await api.get("/trainer/stats", params={"since": since})).json()
    assert stats["total_jobs"] == 3 and stats["completed_jobs"] == 2
    assert stats["failed_jobs"] == 1 and stats["total_evaluations"] == 2

    tenants = {t["tenant_id"]: t for t in stats["by_tenant"]}
    mine = tenants[run.tenant]
    assert mine["total_jobs"] == 3
    assert mine["jobs_by_status"] == {"completed": 2, "failed": 1}
    assert mine["training_tokens"] == sum(j["trainingTokens"] for j in run.completed)
    assert mine["training_cost"] == pytest.approx(sum(j["trainingCost"] for j in run.completed))

    models = {m["base_model"]: m for m in stats["by_base_model"]}
    nano = models[OTHER_BASE_MODEL]
    assert nano["jobs_by_status"] == {"completed": 1}
    assert nano["training_tokens"] == run.completed[1]["trainingTokens"]

    # The same numbers for the tenant's own reader, who sees no one else.
    reader = bearer(run.tenant, ["trainer:read"])
    own = (await api.get("/stats", params={"since": since}, headers=reader)).json()
    assert [t["tenant_id"] for t in own["by_tenant"]] == [run.tenant]
    assert own["by_tenant"][0] == mine

    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    empty = (await api.get("/trainer/stats", params={"since": future})).json()
    assert empty["total_jobs"] == 0 and empty["by_tenant"] == [] and empty["by_base_model"] == []

    everything = (await api.get("/trainer/stats")).json()
    assert everything["since"] is None and everything["total_jobs"] >= 3
    bad = await api.get("/trainer/stats", params={"since": "yesterday"})
    assert bad.status_code == 422
