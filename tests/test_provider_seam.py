"""The provider seam's translations: OpenAI's job statuses onto the normalized status, and
its `metrics` events into typed metric points. Pure functions, no services."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openai.types.fine_tuning import FineTuningJob

from activities.providers.openai_clients import RotatingOpenAIClient
from activities.providers.openai_provider import OpenAIProvider, _to_provider_job
from activities.providers.openai_translation import job_status, metric_point
from activities.providers.registry import ProviderClients, UnsupportedProvider, build_provider
from core.models import Provider
from core.provider_status import ProviderJobStatus
from core.settings import Settings
from core.steps import CancelProviderResult, LaunchResult, WaitResult

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("validating_files", ProviderJobStatus.queued),
        ("queued", ProviderJobStatus.queued),
        ("running", ProviderJobStatus.running),
        ("succeeded", ProviderJobStatus.succeeded),
        ("failed", ProviderJobStatus.failed),
        ("cancelled", ProviderJobStatus.cancelled),
    ],
)
def test_openai_statuses_map_onto_the_normalized_ones(
    raw: str, expected: ProviderJobStatus
) -> None:
    assert job_status(raw) is expected


@pytest.mark.parametrize("raw", ["paused", "pausing", "", "SUCCEEDED"])
def test_an_unknown_openai_status_keeps_the_job_waiting(raw: str) -> None:
    status = job_status(raw)
    assert status is ProviderJobStatus.running
    assert not status.is_terminal


def test_only_the_ends_are_terminal() -> None:
    terminal = {s for s in ProviderJobStatus if s.is_terminal}
    assert terminal == {
        ProviderJobStatus.succeeded,
        ProviderJobStatus.failed,
        ProviderJobStatus.cancelled,
    }


def _openai_job(status: str) -> FineTuningJob:
    return FineTuningJob.model_validate(
        {
            "id": "ftjob-abc",
            "object": "fine_tuning.job",
            "status": status,
            "model": "gpt-4o-mini-2024-07-18",
            "created_at": 1_764_000_000,
            "organization_id": "org-1",
            "training_file": "file-1",
            "result_files": [],
            "seed": 7,
            "hyperparameters": {"n_epochs": 3},
            "metadata": {"trainer_job_id": "job-1"},
        }
    )


def test_a_provider_job_carries_both_the_normalized_and_the_raw_status() -> None:
    job = _to_provider_job(_openai_job("validating_files"))
    assert job.status is ProviderJobStatus.queued
    assert job.raw_status == "validating_files"
    assert not job.is_terminal
    done = _to_provider_job(_openai_job("succeeded"))
    assert done.status is ProviderJobStatus.succeeded and done.is_terminal


def test_a_metrics_event_becomes_a_typed_point() -> None:
    data: dict[str, Any] = {
        "step": 7,
        "total_steps": 30,
        "train_loss": 1.25,
        "valid_loss": 1.5,
        "train_mean_token_accuracy": 0.61,
        "valid_mean_token_accuracy": 0.58,
        "full_valid_loss": 1.4,
    }
    point = metric_point("metrics", data, AT)
    assert point is not None
    assert point.step == 7
    assert point.total_steps == 30
    assert point.train_loss == 1.25
    assert point.valid_loss == 1.5
    assert point.train_token_accuracy == 0.61
    assert point.valid_token_accuracy == 0.58
    assert point.recorded_at == AT
    assert point.learning_rate is None and point.epoch is None


def test_a_point_leaves_out_what_the_event_does_not_report() -> None:
    point = metric_point("metrics", {"step": 3, "train_loss": 2, "valid_loss": "n/a"}, AT)
    assert point is not None
    assert point.step == 3 and point.train_loss == 2.0
    assert point.valid_loss is None and point.total_steps is None
    assert point.train_token_accuracy is None and point.valid_token_accuracy is None


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("message", {"step": 1, "train_loss": 1.0}),
        ("metrics", None),
        ("metrics", {}),
        ("metrics", {"train_loss": 1.0}),
        ("metrics", {"step": "one", "train_loss": 1.0}),
    ],
)
def test_other_events_are_no_metric_points(event_type: str, data: dict[str, Any] | None) -> None:
    assert metric_point(event_type, data, AT) is None


def test_step_results_read_the_normalized_status() -> None:
    result = WaitResult(done=True, provider_status="succeeded")
    assert result.provider_status is ProviderJobStatus.succeeded
    launched = LaunchResult(provider_job_id="ftjob-abc", provider_status="queued")
    assert launched.provider_status is ProviderJobStatus.queued
    assert CancelProviderResult().provider_status is None


def test_step_results_recorded_with_a_raw_status_still_decode() -> None:
    recorded = WaitResult.model_validate_json(
        '{"done": false, "provider_status": "validating_files"}'
    )
    assert recorded.provider_status is ProviderJobStatus.queued
    with pytest.raises(ValueError):
        WaitResult(done=True, provider_status="paused")


def _provider_clients(key: str = "sk-first") -> ProviderClients:
    settings = Settings.model_validate(
        {"openai_api_key": key, "openai_base_url": "http://127.0.0.1:9/v1"}
    )
    return ProviderClients(settings=settings, openai=RotatingOpenAIClient(settings))


async def test_the_registry_builds_the_openai_provider() -> None:
    clients = _provider_clients()
    provider = build_provider(Provider.openai.value, clients)
    assert isinstance(provider, OpenAIProvider)
    await clients.openai.close()


@pytest.mark.parametrize("name", [Provider.vertex_ai.value, "nonsense", ""])
def test_the_registry_refuses_a_provider_this_deployment_does_not_serve(name: str) -> None:
    with pytest.raises(UnsupportedProvider, match="is not available in this deployment"):
        build_provider(name, _provider_clients())


def test_a_configured_provider_without_a_factory_is_refused() -> None:
    with pytest.raises(UnsupportedProvider):
        build_provider(Provider.openai.value, _provider_clients(), factories={})


async def test_the_openai_client_is_rebuilt_when_its_key_rotates(tmp_path: Path) -> None:
    key_file = tmp_path / "openai_key"
    key_file.write_text("sk-first")
    settings = Settings.model_validate(
        {"openai_api_key_file": str(key_file), "openai_base_url": "http://127.0.0.1:9/v1"}
    )
    rotating = RotatingOpenAIClient(settings)
    first = rotating.current()
    assert rotating.current() is first
    key_file.write_text("sk-second")
    second = rotating.current()
    assert second is not first and second.api_key == "sk-second"
    assert not first.is_closed()  # retired, not closed: in-flight calls may still use it
    await rotating.close()
    assert first.is_closed() and second.is_closed()
