"""Training config per provider: the union in workflow payloads (through Temporal's pydantic
converter, and as histories recorded before the tag decode it), and at the API, where the
job's provider chooses the config, the self-hosted base model comes from the catalogue and
the OpenAI fine-tuning cutoff refuses new OpenAI jobs."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from api.app import create_app
from api.routers.jobs import submission_date
from api.schemas import TrainingJobCreate
from core.models import (
    AnyTrainingConfig,
    Provider,
    SelfHostedTrainingConfig,
    TrainingConfig,
    TrainingJobInput,
    TrainingMethod,
    epochs_of,
)
from core.providers import configured_providers
from core.settings import Settings
from core.steps import LaunchInput, ValidateInput
from core.training_config import stored_config
from tests.conftest import ADMIN_HEADERS
from tests.support.jobs import job_request
from tests.support.servers import serve_app
from tests.support.tiny_model import TINY_MODEL_NAME, tiny_model_dir, write_catalogue

CONVERTER = pydantic_data_converter.payload_converter
LORA = {"lora_rank": 8, "lora_alpha": 16, "lora_target_modules": ["q_proj", "v_proj"]}
BEFORE_CUTOFF = date(2027, 1, 6)  # the default cutoff day itself still accepts jobs
AFTER_CUTOFF = date(2027, 1, 7)


def _job_input(config: AnyTrainingConfig, provider: Provider) -> TrainingJobInput:
    return TrainingJobInput(
        job_id=str(uuid.uuid4()),
        tenant_id="tenant_a",
        name="tutor",
        provider=provider,
        base_model="base",
        dataset_uri="tutor-k12-good.jsonl",
        config=config,
    )


def _round_trip(value: Any) -> Any:
    return CONVERTER.from_payloads(CONVERTER.to_payloads([value]), [type(value)])[0]


# ---- the union in workflow payloads ----------------------------------------------------


@pytest.mark.parametrize(
    ("config", "provider"),
    [
        (TrainingConfig(n_epochs=2, method=TrainingMethod.dpo, seed=7), Provider.openai),
        (SelfHostedTrainingConfig(**LORA, n_epochs=5, max_steps=50), Provider.self_hosted),
    ],
    ids=["openai", "self_hosted"],
)
def test_each_config_round_trips_through_the_temporal_converter(
    config: AnyTrainingConfig, provider: Provider
) -> None:
    inp = _job_input(config, provider)
    decoded = _round_trip(inp)
    assert type(decoded.config) is type(config)
    assert decoded == inp
    for step in (
        ValidateInput(
            job_id=inp.job_id,
            tenant_id=inp.tenant_id,
            provider=provider,
            base_model="base",
            dataset_uri=inp.dataset_uri,
            config=config,
        ),
        LaunchInput(
            job_id=inp.job_id,
            tenant_id=inp.tenant_id,
            provider=provider,
            base_model="base",
            config=config,
            training_file="file-1",
        ),
    ):
        assert _round_trip(step) == step
        assert type(_round_trip(step).config) is type(config)


def _payload(data: dict[str, Any]) -> Payload:
    encoded = CONVERTER.to_payloads([data])[0]
    return Payload(metadata=dict(encoded.metadata), data=json.dumps(data).encode())


def test_a_payload_recorded_before_the_tag_decodes_as_openai() -> None:
    recorded = json.loads(
        CONVERTER.to_payloads([_job_input(TrainingConfig(), Provider.openai)])[0].data
    )
    del recorded["config"]["provider"]
    recorded["config"]["n_epochs"] = 4
    [decoded] = CONVERTER.from_payloads([_payload(recorded)], [TrainingJobInput])
    assert decoded.config == TrainingConfig(n_epochs=4)
    # A job input from before `config` had any value at all gets OpenAI's defaults.
    del recorded["config"]
    [bare] = CONVERTER.from_payloads([_payload(recorded)], [TrainingJobInput])
    assert bare.config == TrainingConfig()


def test_a_tag_decides_between_configs_sharing_keys() -> None:
    """`{"n_epochs": 2}` is valid for both; only the tag makes it self-hosted."""
    shared = {"n_epochs": 2, "batch_size": 2}
    recorded = json.loads(
        CONVERTER.to_payloads([_job_input(TrainingConfig(), Provider.openai)])[0].data
    )
    recorded["config"] = {"provider": "self_hosted", **shared}
    [decoded] = CONVERTER.from_payloads([_payload(recorded)], [TrainingJobInput])
    assert decoded.config == SelfHostedTrainingConfig(**shared)
    recorded["config"] = {"provider": "vertex_ai", **shared}
    with pytest.raises(ValidationError):
        TrainingJobInput.model_validate(recorded)


def test_epochs_and_stored_configs_of_either_provider() -> None:
    assert epochs_of(TrainingConfig(n_epochs=2)) == 2
    assert epochs_of(SelfHostedTrainingConfig(n_epochs=12)) == 12
    assert stored_config("self_hosted", {"n_epochs": 12, **LORA}) == SelfHostedTrainingConfig(
        n_epochs=12, **LORA
    )
    assert stored_config("openai", {"n_epochs": 4}) == TrainingConfig(n_epochs=4)
    assert stored_config("openai", {"lora_rank": 4}) is None
    assert stored_config("openai", {}) is None


def test_the_request_keeps_the_tag_out_of_what_is_stored_and_hashed() -> None:
    body = TrainingJobCreate.model_validate(_self_hosted_job())
    assert isinstance(body.config, SelfHostedTrainingConfig)
    dumped = body.model_dump(mode="json", by_alias=True)["config"]
    assert "provider" not in dumped and dumped["lora_rank"] == 8
    openai = TrainingJobCreate.model_validate(job_request())
    assert "provider" not in json.loads(openai.model_dump_json(by_alias=True))["config"]


def test_self_hosted_is_served_only_with_a_catalogue(tmp_path: Path) -> None:
    plain = Settings(_env_file=None)
    assert configured_providers(plain) == (Provider.openai,)
    with_catalogue = plain.model_copy(update={"self_hosted_catalogue_file": tmp_path / "c.yaml"})
    assert configured_providers(with_catalogue) == (Provider.openai, Provider.self_hosted)


# ---- at the API ------------------------------------------------------------------------


@dataclass
class Deployment:
    app: FastAPI
    client: httpx.AsyncClient
    catalogue: Path | None

    def submitting_on(self, day: date) -> None:
        self.app.dependency_overrides[submission_date] = lambda: day


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    return write_catalogue(tmp_path / "c.yaml")


@pytest.fixture
def queue() -> str:
    """A task queue no worker serves: accepted jobs wait there, and are terminated after."""
    return f"provider-config-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def started(temporal_client: Client) -> AsyncIterator[list[str]]:
    workflow_ids: list[str] = []
    yield workflow_ids
    for workflow_id in workflow_ids:
        try:
            await temporal_client.get_workflow_handle(workflow_id).terminate("test over")
        except RPCError:
            pass


@asynccontextmanager
async def _deployment(app: FastAPI, catalogue: Path | None) -> AsyncIterator[Deployment]:
    async with (
        serve_app(app) as url,
        httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN_HEADERS) as client,
    ):
        yield Deployment(app, client, catalogue)


@pytest.fixture
async def self_hosted(settings: Settings, catalogue: Path, queue: str) -> AsyncIterator[Deployment]:
    own = settings.model_copy(
        update={
            "self_hosted_catalogue_file": catalogue,
            "temporal_task_queue": queue,
            "openai_fine_tuning_exception": False,
        }
    )
    async with _deployment(create_app(own), catalogue) as deployment:
        deployment.submitting_on(BEFORE_CUTOFF)
        yield deployment


@pytest.fixture
async def openai_only(settings: Settings, queue: str) -> AsyncIterator[Deployment]:
    own = settings.model_copy(
        update={"temporal_task_queue": queue, "openai_fine_tuning_exception": False}
    )
    async with _deployment(create_app(own), None) as deployment:
        deployment.submitting_on(BEFORE_CUTOFF)
        yield deployment


def _self_hosted_job(**overrides: Any) -> dict[str, Any]:
    """The sample request made self-hosted; `overrides` win, and `config` replaces the
    sample's whole rather than merging into it."""
    fields: dict[str, Any] = {"provider": "self_hosted", "baseModel": TINY_MODEL_NAME}
    fields.update((k, v) for k, v in overrides.items() if k != "config")
    body = job_request(**fields)
    body["config"] = overrides.get("config", LORA)
    return body


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"detail", "error_code", "timestamp"}, body
    return body


def _field_errors(body: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in body.get("errors", [])}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (job_request(config={"lora_rank": 8}), "config.lora_rank"),
        (job_request(config={"provider": "self_hosted"}), "config.provider"),
        (
            _self_hosted_job(config={"learning_rate_multiplier": 1.0}),
            "config.learning_rate_multiplier",
        ),
        (_self_hosted_job(config={**LORA, "suffix": "x"}), "config.suffix"),
    ],
    ids=["lora-key-for-openai", "tag-key", "openai-key-for-self-hosted", "suffix-for-self-hosted"],
)
async def test_a_key_of_another_provider_is_422_naming_it(
    self_hosted: Deployment, body: dict[str, Any], field: str
) -> None:
    error = _error(await self_hosted.client.post("/trainer/jobs", json=body), 422)
    assert error["error_code"] == "validation_error"
    assert "not permitted" in _field_errors(error)[field], error
    assert field in error["detail"]


async def test_a_self_hosted_value_out_of_bounds_is_422_naming_it(self_hosted: Deployment) -> None:
    body = _self_hosted_job(config={"lora_rank": 0, "lora_target_modules": "q_proj"})
    errors = _field_errors(_error(await self_hosted.client.post("/trainer/jobs", json=body), 422))
    assert set(errors) == {"config.lora_rank", "config.lora_target_modules"}, errors


async def test_a_base_model_outside_the_catalogue_is_422_listing_it(
    self_hosted: Deployment,
) -> None:
    body = _self_hosted_job(baseModel="gpt-4o-mini-2024-07-18")
    error = _error(await self_hosted.client.post("/trainer/jobs", json=body), 422)
    assert error["error_code"] == "base_model_unknown"
    assert error["detail"].startswith("baseModel:")
    assert TINY_MODEL_NAME in error["detail"]
    assert self_hosted.catalogue is not None
    for path in (str(self_hosted.catalogue), str(tiny_model_dir()), "/"):
        assert path not in error["detail"]


async def test_self_hosted_is_refused_where_no_catalogue_is_configured(
    openai_only: Deployment,
) -> None:
    response = await openai_only.client.post("/trainer/jobs", json=_self_hosted_job())
    error = _error(response, 422)
    assert error["error_code"] == "provider_unsupported"
    assert "self_hosted" in error["detail"] and "openai" in error["detail"]


async def test_a_valid_self_hosted_job_is_accepted_with_its_lora_config(
    self_hosted: Deployment, started: list[str], temporal_client: Client
) -> None:
    sent = {**LORA, "n_epochs": 5, "max_steps": 40}
    response = await self_hosted.client.post("/trainer/jobs", json=_self_hosted_job(config=sent))
    assert response.status_code == 201, response.text
    job = response.json()
    started.append(job["workflowId"])
    assert (job["provider"], job["baseModel"]) == ("self_hosted", TINY_MODEL_NAME)
    defaults = SelfHostedTrainingConfig().model_dump(mode="json", exclude={"provider"})
    echoed = {k: v for k, v in {**defaults, **sent}.items() if v is not None}
    assert job["config"] == echoed
    read = await self_hosted.client.get(f"/trainer/jobs/{job['id']}")
    assert read.json()["config"] == echoed
    # The workflow got the typed self-hosted config.
    history = await temporal_client.get_workflow_handle(job["workflowId"]).fetch_history()
    started_event = history.events[0].workflow_execution_started_event_attributes
    [inp] = CONVERTER.from_payloads(list(started_event.input.payloads), [TrainingJobInput])
    assert inp.config == SelfHostedTrainingConfig(**sent)


async def test_openai_is_refused_after_the_cutoff_naming_the_date_and_self_hosted(
    self_hosted: Deployment, started: list[str]
) -> None:
    self_hosted.submitting_on(AFTER_CUTOFF)
    error = _error(await self_hosted.client.post("/trainer/jobs", json=job_request()), 422)
    assert error["error_code"] == "openai_fine_tuning_closed"
    assert "2027-01-06" in error["detail"] and "self_hosted" in error["detail"]
    # The self-hosted provider still takes jobs after the cutoff.
    accepted = await self_hosted.client.post("/trainer/jobs", json=_self_hosted_job())
    assert accepted.status_code == 201, accepted.text
    started.append(accepted.json()["workflowId"])


async def test_a_job_accepted_before_the_cutoff_is_replayed_after_it(
    self_hosted: Deployment, started: list[str]
) -> None:
    key = {"Idempotency-Key": f"cutoff-{uuid.uuid4().hex}"}
    first = await self_hosted.client.post("/trainer/jobs", json=job_request(), headers=key)
    assert first.status_code == 201, first.text
    started.append(first.json()["workflowId"])
    self_hosted.submitting_on(AFTER_CUTOFF)
    replay = await self_hosted.client.post("/trainer/jobs", json=job_request(), headers=key)
    assert replay.status_code == 201, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    other = {"Idempotency-Key": f"cutoff-{uuid.uuid4().hex}"}
    refused = await self_hosted.client.post("/trainer/jobs", json=job_request(), headers=other)
    assert _error(refused, 422)["error_code"] == "openai_fine_tuning_closed"


async def test_openai_is_accepted_after_the_cutoff_with_the_exception(
    settings: Settings, queue: str, started: list[str]
) -> None:
    excepted = settings.model_copy(
        update={"openai_fine_tuning_exception": True, "temporal_task_queue": queue}
    )
    async with _deployment(create_app(excepted), None) as deployment:
        deployment.submitting_on(AFTER_CUTOFF)
        response = await deployment.client.post("/trainer/jobs", json=job_request())
        assert response.status_code == 201, response.text
        started.append(response.json()["workflowId"])
        assert response.json()["config"] == {
            "n_epochs": 3,
            "batch_size": 1,
            "learning_rate_multiplier": 0.1,
            "method": "supervised",
        }
