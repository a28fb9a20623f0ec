"""Secrets never leave settings: a full run's logs and its Temporal history do not contain
the provider key or the JWT secret (activities read them; workflows never carry them)."""

from __future__ import annotations

import logging

import httpx
import pytest
from temporalio.client import Client

from core.settings import Settings
from tests.support.auth import TEST_JWT_SECRET
from tests.support.jobs import job_request, submit, wait_for_job


async def test_full_run_leaks_no_secret_into_logs_or_history(
    api: httpx.AsyncClient,
    temporal_client: Client,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = [settings.provider_api_key(), TEST_JWT_SECRET]
    assert all(len(s) > 10 for s in secrets)
    caplog.set_level(logging.DEBUG)

    created = await submit(api, job_request(name="secret-check"))
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "completed"
    evaluation = (await api.get(f"/trainer/jobs/{job['id']}/evaluation")).json()

    history = await temporal_client.get_workflow_handle(job["workflowId"]).fetch_history()
    # Text format prints payload bytes as they are (JSON would base64 them).
    history_text = "\n".join(str(event) for event in history.events)
    assert "validate_dataset" in history_text  # the history is really the job's
    logs = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__}" for r in caplog.records)
    assert caplog.records  # the run did log
    for secret in secrets:
        assert secret not in history_text
        assert secret not in logs
        assert secret not in str(job) and secret not in str(evaluation)
