"""Inference endpoints per model role: which server, client and model name answer the
candidate, the baseline, the rubric judge and moderation of one evaluation.

An OpenAI job is graded entirely on the OpenAI client, as it always was. A self-hosted
job's candidate (its LoRA adapter) and its baseline (the catalogue's base model) are
served by the self-hosted inference server (vLLM's OpenAI-compatible API), reached through
the same SDK with another base URL. The judge and moderation stay on OpenAI unless the
deployment configures them on a self-hosted server (`core.evaluation.
EvaluationEndpointSettings`).

Each endpoint carries a cache scope: responses of a self-hosted server are cached under
its base URL, so the same model name on two servers never shares an entry. OpenAI's scope
is None, which keeps the cache keys it always had.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import asyncpg
from openai import AsyncOpenAI
from pydantic import SecretStr

from activities.evaluation.graders.base import CallTarget
from activities.evaluation.ratelimit import RateLimitGate
from core.evaluation import EvaluationEndpointSettings, InferenceProvider
from core.models import Provider
from core.self_hosted_serving import inference_url_for
from core.settings import Settings
from store import promotions

EvalRole = Literal["candidate", "baseline", "judge", "moderation"]


@dataclass(frozen=True)
class InferenceEndpoint:
    """One role's server: the client that calls it and the model name it serves."""

    role: EvalRole
    provider: InferenceProvider
    client: AsyncOpenAI
    model: str
    # Part of every cache key of this endpoint's responses; None for OpenAI.
    cache_scope: str | None
    base_url: str


@dataclass(frozen=True)
class EvaluationEndpoints:
    model: InferenceEndpoint  # the candidate or the baseline, whichever is graded
    judge: InferenceEndpoint
    moderation: InferenceEndpoint


def _secret(value: SecretStr | None) -> str:
    # The SDK refuses an empty key; servers without auth ignore whatever is sent.
    return value.get_secret_value() if value is not None else "unset"


def normalized_url(url: str) -> str:
    return url.rstrip("/")


class InferenceClients:
    """The evaluation's clients: OpenAI's (rotating its key, shared with the fine-tuning
    provider) and one per self-hosted base URL, built on first use, closed with the
    worker."""

    def __init__(self, settings: Settings, openai: Callable[[], AsyncOpenAI]) -> None:
        self.settings = settings
        self._openai = openai
        self._self_hosted: dict[str, AsyncOpenAI] = {}

    def openai(self) -> AsyncOpenAI:
        return self._openai()

    def self_hosted(
        self, base_url: str | None = None, api_key: SecretStr | None = None
    ) -> AsyncOpenAI:
        url = normalized_url(base_url or self.settings.self_hosted_inference_url)
        client = self._self_hosted.get(url)
        if client is None:
            client = AsyncOpenAI(
                base_url=url,
                api_key=_secret(api_key or self.settings.self_hosted_inference_api_key),
                max_retries=2,
                timeout=self.settings.openai_timeout_seconds,
            )
            self._self_hosted[url] = client
        return client

    async def close(self) -> None:
        for client in self._self_hosted.values():
            await client.close()
        self._self_hosted.clear()


def inference_provider(provider: Provider | str) -> InferenceProvider:
    """Where a job's models are served: self-hosted ones on the inference server, every
    other provider's through the OpenAI-compatible client (today only OpenAI's)."""
    return "self_hosted" if Provider(provider) is Provider.self_hosted else "openai"


def _endpoint(
    clients: InferenceClients,
    role: EvalRole,
    provider: InferenceProvider,
    model: str,
    *,
    base_url: str | None = None,
    api_key: SecretStr | None = None,
) -> InferenceEndpoint:
    if provider == "openai":
        client = clients.openai()
        return InferenceEndpoint(
            role=role,
            provider=provider,
            client=client,
            model=model,
            cache_scope=None,
            base_url=str(client.base_url),
        )
    url = normalized_url(base_url or clients.settings.self_hosted_inference_url)
    return InferenceEndpoint(
        role=role,
        provider=provider,
        client=clients.self_hosted(url, api_key),
        model=model,
        cache_scope=url,
        base_url=url,
    )


def model_endpoint(
    clients: InferenceClients, role: EvalRole, provider: Provider | str, model: str
) -> InferenceEndpoint:
    """The candidate's or the baseline's endpoint, by the provider that produced it; a
    self-hosted model on the server of its base model."""
    served_by = inference_provider(provider)
    url = inference_url_for(clients.settings, model) if served_by == "self_hosted" else None
    return _endpoint(clients, role, served_by, model, base_url=url)


def judge_endpoint(
    clients: InferenceClients, conf: EvaluationEndpointSettings
) -> InferenceEndpoint:
    return _endpoint(
        clients,
        "judge",
        conf.judge_provider,
        conf.judge_model,
        base_url=conf.judge_base_url,
        api_key=conf.judge_api_key,
    )


def moderation_endpoint(
    clients: InferenceClients, conf: EvaluationEndpointSettings
) -> InferenceEndpoint:
    return _endpoint(
        clients,
        "moderation",
        conf.moderation_provider,
        conf.moderation_model,
        base_url=conf.moderation_base_url,
        api_key=conf.moderation_api_key,
    )


def evaluation_endpoints(
    clients: InferenceClients,
    role: EvalRole,
    provider: Provider | str,
    model: str,
    conf: EvaluationEndpointSettings | None = None,
) -> EvaluationEndpoints:
    """Every endpoint one graded run calls: its model's, the judge's and moderation's."""
    conf = conf or EvaluationEndpointSettings.from_settings(clients.settings)
    return EvaluationEndpoints(
        model=model_endpoint(clients, role, provider, model),
        judge=judge_endpoint(clients, conf),
        moderation=moderation_endpoint(clients, conf),
    )


@dataclass(frozen=True)
class RunTargets:
    """What `run_suite` needs beyond the suite: the model's client and the targets of the
    judge and moderation, each with a retry budget and one rate gate per server."""

    client: AsyncOpenAI
    model: str
    judge_model: str
    moderation_model: str
    gate: RateLimitGate
    model_scope: str | None
    model_provider: str
    judge_target: CallTarget
    moderation_target: CallTarget


def run_targets(
    endpoints: EvaluationEndpoints, *, max_retries: int, max_pause_seconds: float
) -> RunTargets:
    """Clients with the evaluation's retry budget (sized for 429 storms; the SDK honours
    Retry-After), and one rate gate per base URL: a spent OpenAI budget does not hold
    calls to the self-hosted server."""
    gates: dict[str, RateLimitGate] = {}

    def target(endpoint: InferenceEndpoint) -> CallTarget:
        gate = gates.setdefault(
            endpoint.base_url, RateLimitGate(max_pause_seconds=max_pause_seconds)
        )
        return CallTarget(
            client=endpoint.client.with_options(max_retries=max_retries),
            cache_scope=endpoint.cache_scope,
            gate=gate,
            provider=endpoint.provider,
        )

    model = target(endpoints.model)
    assert model.gate is not None  # always given above
    return RunTargets(
        client=model.client,
        model=endpoints.model.model,
        judge_model=endpoints.judge.model,
        moderation_model=endpoints.moderation.model,
        gate=model.gate,
        model_scope=model.cache_scope,
        model_provider=model.provider,
        judge_target=target(endpoints.judge),
        moderation_target=target(endpoints.moderation),
    )


async def grading_targets(
    pool: asyncpg.Pool,
    clients: InferenceClients,
    job_id: str,
    role: str,
    model: str,
    *,
    serve: Callable[[str, str], Awaitable[None]] | None = None,
) -> RunTargets:
    """The targets of one graded run of `model` for the evaluation of job `job_id`: the
    model on the server of the provider that trained it (a self-hosted job's base model
    on the inference server), the judge and moderation where the deployment runs them.

    A self-hosted adapter is first handed to `serve` (its name and artifact URI), which
    loads it unless the server has it: a champion graded as the baseline was loaded for
    its own evaluation, perhaps on a server that has restarted since."""
    settings = clients.settings
    source = await promotions.model_source(pool, job_id, model)
    provider = promotions.serving_provider(source, model)
    adapter_uri = source.model_adapter_uri if source is not None else None
    if serve is not None and provider is Provider.self_hosted and adapter_uri:
        await serve(model, adapter_uri)
    return run_targets(
        evaluation_endpoints(
            clients, "baseline" if role == "baseline" else "candidate", provider, model
        ),
        max_retries=settings.eval_max_retries,
        max_pause_seconds=settings.eval_max_rate_limit_pause_seconds,
    )
