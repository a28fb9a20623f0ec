"""Inference endpoints per model role: an OpenAI job is graded on the OpenAI client alone;
a self-hosted job's candidate and baseline go to the self-hosted inference server, while
the judge and moderation stay on OpenAI unless configured on a self-hosted server. Real
HTTP: two stand-in OpenAI-compatible servers record what reaches each."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from fastapi import FastAPI, Request
from openai import AsyncOpenAI
from openai.types.moderation import Categories

from activities.evaluation.cache import MemoryCache, request_key
from activities.evaluation.endpoints import (
    InferenceClients,
    evaluation_endpoints,
    grading_targets,
    inference_provider,
    model_endpoint,
    run_targets,
)
from activities.evaluation.harness import run_suite
from core.db import open_database
from core.evaluation import EvaluationEndpointSettings
from core.evaluation_suites import Suite, suite_from_dict
from core.models import Provider
from core.self_hosted_serving import base_model_of, fine_tuned_model_id, inference_urls
from core.settings import Settings
from store import job_records, jobs
from store.promotions import ModelSource, serving_provider
from tests.support.servers import serve_app


@dataclass
class Recorded:
    chats: list[dict[str, Any]] = field(default_factory=list)
    moderations: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)


def stand_in(name: str, recorded: Recorded) -> FastAPI:
    """An OpenAI-compatible server answering chat (model and judge) and moderation."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        body = await request.json()
        recorded.chats.append(body)
        recorded.auth.append(request.headers.get("authorization", ""))
        if "response_format" in body:
            content = json.dumps({"score": 1.0, "passed": True, "rationale": f"judged by {name}"})
        else:
            content = f"{name} says 4 via {body['model']}"
        return {
            "id": f"chatcmpl-{uuid4().hex[:8]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
        }

    @app.post("/v1/moderations")
    async def moderations(request: Request) -> dict[str, Any]:
        body = await request.json()
        recorded.moderations.append(body)
        names = [f.alias or name for name, f in Categories.model_fields.items()]
        return {
            "id": f"modr-{uuid4().hex[:8]}",
            "model": body["model"],
            "results": [
                {
                    "flagged": False,
                    "categories": dict.fromkeys(names, False),
                    "category_scores": dict.fromkeys(names, 0.0),
                    "category_applied_input_types": {n: ["text"] for n in names},
                }
            ],
        }

    return app


@dataclass
class Servers:
    openai_url: str
    self_hosted_url: str
    openai: Recorded
    self_hosted: Recorded


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    at_openai, at_self_hosted = Recorded(), Recorded()
    async with (
        serve_app(stand_in("openai", at_openai)) as openai_url,
        serve_app(stand_in("vllm", at_self_hosted)) as self_hosted_url,
    ):
        yield Servers(f"{openai_url}/v1", f"{self_hosted_url}/v1", at_openai, at_self_hosted)


def suite() -> Suite:
    return suite_from_dict(
        {
            "name": "routing",
            "graders": [{"type": "judge"}, {"type": "moderation"}],
            "samples": [
                {
                    "id": f"s{i}",
                    "messages": [{"role": "user", "content": f"2+2? ({i})"}],
                    "reference": "4",
                }
                for i in range(3)
            ],
        }
    )


async def clients_for(servers: Servers, **overrides: Any) -> tuple[InferenceClients, AsyncOpenAI]:
    settings = Settings(
        _env_file=None,
        self_hosted_inference_url=servers.self_hosted_url,
        self_hosted_inference_api_key="vllm-key",
        eval_judge_model="judge-model",
        **overrides,
    )
    openai_client = AsyncOpenAI(base_url=servers.openai_url, api_key="sk-openai", max_retries=0)
    return InferenceClients(settings, lambda: openai_client), openai_client


async def grade(
    clients: InferenceClients,
    provider: Provider,
    model: str,
    conf: EvaluationEndpointSettings | None = None,
    cache: MemoryCache | None = None,
) -> None:
    targets = run_targets(
        evaluation_endpoints(clients, "candidate", provider, model, conf),
        max_retries=0,
        max_pause_seconds=1.0,
    )
    run = await run_suite(
        targets.client,
        suite(),
        targets.model,
        judge_model=targets.judge_model,
        moderation_model=targets.moderation_model,
        gate=targets.gate,
        model_scope=targets.model_scope,
        model_provider=targets.model_provider,
        judge_target=targets.judge_target,
        moderation_target=targets.moderation_target,
        cache=cache,
    )
    assert run.score.errored == 0, [s.error for s in run.samples]
    assert run.score.passed == 3


def model_calls(recorded: Recorded) -> list[dict[str, Any]]:
    return [c for c in recorded.chats if "response_format" not in c]


def judge_calls(recorded: Recorded) -> list[dict[str, Any]]:
    return [c for c in recorded.chats if "response_format" in c]


def test_roles_resolve_per_provider() -> None:
    openai_client = AsyncOpenAI(base_url="http://openai.invalid/v1", api_key="k")
    settings = Settings(_env_file=None, self_hosted_inference_url="http://vllm.invalid:8000/v1/")
    clients = InferenceClients(settings, lambda: openai_client)

    openai_job = evaluation_endpoints(clients, "candidate", Provider.openai, "ft:gpt-4o-mini:x")
    assert openai_job.model.client is openai_client
    assert openai_job.judge.client is openai_client
    assert openai_job.moderation.client is openai_client
    assert openai_job.model.cache_scope is None  # OpenAI's cache keys stay as they were
    assert openai_job.judge.model == settings.eval_judge_model

    hosted = evaluation_endpoints(clients, "baseline", Provider.self_hosted, "tiny-base")
    assert hosted.model.provider == "self_hosted" and hosted.model.role == "baseline"
    assert hosted.model.model == "tiny-base"
    assert str(hosted.model.client.base_url).rstrip("/") == "http://vllm.invalid:8000/v1"
    assert hosted.model.cache_scope == "http://vllm.invalid:8000/v1"
    assert hosted.judge.client is openai_client and hosted.moderation.client is openai_client
    # One client per server, reused by every run of the worker.
    again = evaluation_endpoints(clients, "candidate", Provider.self_hosted, "job-adapter")
    assert again.model.client is hosted.model.client

    judged_at_home = evaluation_endpoints(
        clients,
        "candidate",
        Provider.self_hosted,
        "job-adapter",
        EvaluationEndpointSettings(
            judge_provider="self_hosted",
            judge_base_url="http://judge.invalid/v1",
            judge_model="qwen-judge",
        ),
    )
    assert judged_at_home.judge.provider == "self_hosted"
    assert judged_at_home.judge.model == "qwen-judge"
    assert judged_at_home.judge.cache_scope == "http://judge.invalid/v1"
    assert judged_at_home.moderation.client is openai_client
    assert inference_provider("openai") == "openai"
    assert inference_provider(Provider.self_hosted) == "self_hosted"


def test_each_base_model_and_its_adapters_go_to_the_server_the_catalogue_names(
    tmp_path: Path,
) -> None:
    catalogue = tmp_path / "base-models.yaml"
    catalogue.write_text(
        "pools: {cpu: {tokens_per_second: 100, hourly_price_usd: 1}}\n"
        "models:\n"
        "  qwen: {path: /m/qwen, max_seq_length: 512, licence: apache-2.0, gpu_pool: cpu}\n"
        "  llama: {path: /m/llama, max_seq_length: 512, licence: llama3.2, gpu_pool: cpu,\n"
        "          inference_url: 'http://vllm-llama.invalid:8000/v1/'}\n",
        encoding="utf-8",
    )
    settings = Settings(
        _env_file=None,
        self_hosted_catalogue_file=catalogue,
        self_hosted_inference_url="http://vllm.invalid:8000/v1",
    )
    clients = InferenceClients(
        settings, lambda: AsyncOpenAI(base_url="http://openai.invalid/v1", api_key="k")
    )

    def server(model: str) -> str:
        endpoint = model_endpoint(clients, "candidate", Provider.self_hosted, model)
        return str(endpoint.client.base_url).rstrip("/")

    assert server("llama") == "http://vllm-llama.invalid:8000/v1"
    assert server(fine_tuned_model_id("llama", "job-1")) == "http://vllm-llama.invalid:8000/v1"
    assert server("qwen") == server(fine_tuned_model_id("qwen", "job-2"))
    assert server("qwen") == "http://vllm.invalid:8000/v1"
    assert base_model_of(fine_tuned_model_id("llama", "job-1")) == "llama"
    assert inference_urls(settings) == [
        "http://vllm.invalid:8000/v1",
        "http://vllm-llama.invalid:8000/v1",
    ]


def test_the_serving_provider_is_the_one_that_trained_the_model() -> None:
    hosted_job = ModelSource(
        job_provider=Provider.self_hosted, base_model="tiny-base", model_provider=None
    )
    assert serving_provider(hosted_job, "tiny-base") is Provider.self_hosted
    # An OpenAI champion graded as a self-hosted job's baseline stays on OpenAI.
    champion = hosted_job.model_copy(update={"model_provider": Provider.openai})
    assert serving_provider(champion, "ft:gpt-4o-mini:org::abc") is Provider.openai
    assert serving_provider(None, "anything") is Provider.openai


def test_cache_keys_of_two_servers_never_collide() -> None:
    params = {"model": "tiny-base", "messages": [{"role": "user", "content": "hi"}]}
    openai_key = request_key("chat", params)
    assert request_key("chat", params, None) == openai_key
    one = request_key("chat", params, "http://a:8000/v1")
    other = request_key("chat", params, "http://b:8000/v1")
    assert len({openai_key, one, other}) == 3


async def test_an_openai_job_is_graded_on_the_openai_client_alone(servers: Servers) -> None:
    clients, openai_client = await clients_for(servers)
    try:
        await grade(clients, Provider.openai, "ft:gpt-4o-mini:org::abc")
    finally:
        await openai_client.close()
        await clients.close()
    assert [c["model"] for c in model_calls(servers.openai)] == ["ft:gpt-4o-mini:org::abc"] * 3
    assert {c["model"] for c in judge_calls(servers.openai)} == {"judge-model"}
    assert len(servers.openai.moderations) == 3
    assert servers.self_hosted.chats == [] and servers.self_hosted.moderations == []


async def test_a_self_hosted_candidate_is_asked_on_the_inference_server(
    servers: Servers,
) -> None:
    clients, openai_client = await clients_for(servers)
    try:
        await grade(clients, Provider.self_hosted, "job-123-adapter")
    finally:
        await openai_client.close()
        await clients.close()
    # The candidate on the self-hosted server, with its own key...
    assert [c["model"] for c in model_calls(servers.self_hosted)] == ["job-123-adapter"] * 3
    assert set(servers.self_hosted.auth) == {"Bearer vllm-key"}
    assert judge_calls(servers.self_hosted) == [] and servers.self_hosted.moderations == []
    # ... and the judge and moderation on OpenAI, which never sees the candidate.
    assert model_calls(servers.openai) == []
    assert len(judge_calls(servers.openai)) == 3 and len(servers.openai.moderations) == 3
    judged = [json.loads(c["messages"][-1]["content"]) for c in judge_calls(servers.openai)]
    assert all(j["answer"].startswith("vllm says 4 via job-123-adapter") for j in judged)


async def test_a_self_hosted_judge_runs_where_configured(servers: Servers) -> None:
    clients, openai_client = await clients_for(servers)
    conf = EvaluationEndpointSettings(
        judge_provider="self_hosted", judge_model="local-judge", moderation_provider="openai"
    )
    try:
        await grade(clients, Provider.self_hosted, "job-9-adapter", conf)
    finally:
        await openai_client.close()
        await clients.close()
    assert {c["model"] for c in judge_calls(servers.self_hosted)} == {"local-judge"}
    assert judge_calls(servers.openai) == [] and model_calls(servers.openai) == []
    assert len(servers.openai.moderations) == 3


async def test_one_model_name_on_two_servers_is_cached_apart(servers: Servers) -> None:
    clients, openai_client = await clients_for(servers)
    cache = MemoryCache()
    try:
        await grade(clients, Provider.self_hosted, "same-name", cache=cache)
        await grade(clients, Provider.openai, "same-name", cache=cache)
    finally:
        await openai_client.close()
        await clients.close()
    # The OpenAI run found nothing of the self-hosted server's answers in the cache.
    assert len(model_calls(servers.self_hosted)) == 3
    assert len(model_calls(servers.openai)) == 3
    # The judge and moderation requests differ (different answers), so they miss too;
    # a re-run of the self-hosted grading is served from the cache entirely.
    before = (len(servers.self_hosted.chats), len(servers.openai.chats))
    clients, openai_client = await clients_for(servers)
    try:
        await grade(clients, Provider.self_hosted, "same-name", cache=cache)
    finally:
        await openai_client.close()
        await clients.close()
    assert (len(servers.self_hosted.chats), len(servers.openai.chats)) == before


async def a_job(
    pool: asyncpg.Pool, tenant: str, provider: Provider, base: str, model: str | None
) -> str:
    job_id = str(uuid4())
    await job_records.insert_job(
        pool,
        {
            "id": job_id,
            "tenant_id": tenant,
            "name": "tutor",
            "description": None,
            "provider": provider.value,
            "base_model": base,
            "dataset_uri": "d.jsonl",
            "config": {},
            "policy": {},
            "datasheet": {},
            "idempotency_key": None,
            "workflow_id": f"training-{job_id}",
        },
    )
    if model is not None:
        metadata = (
            {"adapter_uri": f"s3://a/adapters/{job_id}"} if provider.value == "self_hosted" else {}
        )
        await jobs.record_provider_job(pool, job_id, f"p-{job_id}", metadata)
        await jobs.record_training_result(
            pool,
            job_id,
            fine_tuned_model=model,
            trained_tokens=None,
            training_cost=None,
            training_duration=None,
        )
    return job_id


async def test_each_graded_model_is_asked_where_its_job_trained_it(database_url: str) -> None:
    pool = await open_database(database_url, max_size=2)
    openai_client = AsyncOpenAI(base_url="http://openai.invalid/v1", api_key="k")
    settings = Settings(_env_file=None, self_hosted_inference_url="http://vllm.invalid/v1")
    clients = InferenceClients(settings, lambda: openai_client)
    served: list[tuple[str, str]] = []

    async def serve(name: str, uri: str) -> None:
        served.append((name, uri))

    tenant = f"tenant_ep_{uuid4().hex[:6]}"
    try:
        hosted_champion = await a_job(pool, tenant, Provider.self_hosted, "tiny-base", "champ-sh")
        await a_job(pool, tenant, Provider.openai, "gpt-4o-mini", "ft:gpt-4o-mini:o::c")
        job = await a_job(pool, tenant, Provider.self_hosted, "tiny-base", "cand-sh")

        async def targets(role: str, model: str) -> Any:
            return await grading_targets(pool, clients, job, role, model, serve=serve)

        candidate = await targets("candidate", "cand-sh")
        base = await targets("baseline", "tiny-base")
        champion = await targets("baseline", "champ-sh")
        openai_champion = await targets("baseline", "ft:gpt-4o-mini:o::c")
    finally:
        await clients.close()
        await openai_client.close()
        await pool.close()
    for hosted in (candidate, base, champion):
        assert hosted.model_provider == "self_hosted"
        assert hosted.model_scope == "http://vllm.invalid/v1"
        assert hosted.judge_target.provider == "openai"
    assert openai_champion.model_provider == "openai" and openai_champion.model_scope is None
    # Adapters are made sure of before grading; a base model and OpenAI's models are not.
    assert [name for name, _ in served] == ["cand-sh", "champ-sh"]
    assert served[1][1] == f"s3://a/adapters/{hosted_champion}"
