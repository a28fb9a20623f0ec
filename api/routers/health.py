"""Health and service statistics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr

from api.auth import Caller
from api.deps import CallerDep, StateDep
from api.json_body import StrictJSONRoute
from api.schemas import (
    BaseModelUsage,
    HealthChecks,
    HealthResponse,
    ServiceStats,
    TenantUsage,
)
from api.state import AppState
from core.base_model_catalogue import load_catalogue
from core.bounds import UtcConvertibleDatetime
from core.evaluation import EvaluationEndpointSettings
from core.json_types import DateTimeText
from core.models import Provider
from core.providers import configured_providers
from core.self_hosted_serving import inference_urls
from core.settings import Settings
from store.health import ping
from store.job_listing import UsageRow, service_stats

router = APIRouter(tags=["Health"], route_class=StrictJSONRoute)

SinceQuery = Annotated[
    Annotated[UtcConvertibleDatetime, DateTimeText] | None,
    Query(
        description="ISO 8601 date-time: count only jobs, evaluations and promotions created "
        "since then (without an offset, UTC).",
    ),
]
CHECK_TIMEOUT_SECONDS = 3.0
SERVICE_VERSION = "1.0.0"
HEALTHY = "healthy"


class ServiceHealth(HealthResponse):
    """The contract's health answer, with each configured provider and each inference
    endpoint beside `checks`. `unhealthy` (503): the database, Temporal or a configured
    provider cannot be reached or read, so jobs cannot be taken or trained. `degraded`
    (200): only an inference endpoint that evaluation calls (the self-hosted inference
    server, a self-hosted judge or moderation server) is down; jobs are taken and train,
    and their evaluation retries until the endpoint is back."""

    status: Literal["healthy", "degraded", "unhealthy"]
    providers: dict[str, str] = Field(
        default_factory=dict,
        description="Each configured fine-tuning provider: openai (its API reachable), "
        "self_hosted (its base-model catalogue readable).",
    )
    inference: dict[str, str] = Field(
        default_factory=dict,
        description="Each inference endpoint evaluation calls: openai, self_hosted (the "
        "inference server), judge and moderation (wherever they run).",
    )


async def _check(probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except httpx.HTTPStatusError as err:
        return f"unhealthy: HTTP {err.response.status_code}"
    except Exception as err:  # any failure means "not reachable"; the type says why
        return f"unhealthy: {type(err).__name__}"
    return HEALTHY


async def _catalogue_readable(path: Path | None) -> None:
    if path is None:
        raise FileNotFoundError("no catalogue configured")
    catalogue = await asyncio.to_thread(load_catalogue, path)
    if not catalogue.models:
        raise LookupError("the catalogue names no base model")


def _server_root(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


async def _server_up(base_url: str, api_key: SecretStr | None) -> None:
    """vLLM's `GET /health`; an OpenAI-compatible server without one answers `/v1/models`."""
    root = _server_root(base_url)
    headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as http:
        response = await http.get(f"{root}/health")
        if response.status_code == 404:
            response = await http.get(f"{root}/v1/models", headers=headers)
        response.raise_for_status()


def _self_hosted_urls(settings: Settings) -> list[str]:
    """The self-hosted inference servers; the default one alone when the catalogue cannot
    be read (the provider's own check reports that)."""
    try:
        return inference_urls(settings)
    except Exception:  # an unreadable catalogue must not turn /health into a 500
        return [settings.self_hosted_inference_url.rstrip("/")]


async def _inference(
    settings: Settings, served: tuple[Provider, ...], openai: str
) -> dict[str, str]:
    """Each endpoint evaluation calls, probed once per server."""
    conf = EvaluationEndpointSettings.from_settings(settings)
    default_url = settings.self_hosted_inference_url.rstrip("/")
    servers: dict[str, SecretStr | None] = {}
    self_hosted_urls = _self_hosted_urls(settings) if Provider.self_hosted in served else []
    for server in self_hosted_urls:
        servers[server] = settings.self_hosted_inference_api_key
    roles: dict[str, str | None] = {}  # role -> its self-hosted URL (None: OpenAI)
    for role, provider, url, key in (
        ("judge", conf.judge_provider, conf.judge_base_url, conf.judge_api_key),
        ("moderation", conf.moderation_provider, conf.moderation_base_url, conf.moderation_api_key),
    ):
        if provider == "openai":
            roles[role] = None
            continue
        chosen = (url or default_url).rstrip("/")
        roles[role] = chosen
        servers.setdefault(chosen, key or settings.self_hosted_inference_api_key)
    urls = list(servers)
    results = await asyncio.gather(*(_check(_server_up(u, servers[u])) for u in urls))
    by_url = dict(zip(urls, results, strict=True))
    endpoints = {"openai": openai}
    if Provider.self_hosted in served:
        # Every base model's server must answer for self-hosted serving to be healthy.
        states = [by_url[server] for server in self_hosted_urls]
        endpoints["self_hosted"] = next((st for st in states if st != "healthy"), "healthy")
    for role, url in roles.items():
        endpoints[role] = openai if url is None else by_url[url]
    return endpoints


@router.get(
    "/health",
    response_model=ServiceHealth,
    responses={503: {"model": ServiceHealth}},
    summary="Health check",
)
async def health(st: StateDep) -> JSONResponse:
    settings = st.settings
    served = configured_providers(settings)
    database, temporal, provider, catalogue = await asyncio.gather(
        _check(ping(st.pool)),
        _check(st.temporal.service_client.check_health()),
        _check(st.openai.with_options(max_retries=0).models.list()),
        _check(_catalogue_readable(settings.self_hosted_catalogue_file)),
    )
    checks = HealthChecks(database=database, temporal=temporal, openai=provider)
    providers = {p.value: provider if p is Provider.openai else catalogue for p in served}
    inference = await _inference(settings, served, provider)
    if not all(v == HEALTHY for v in (database, temporal, *providers.values())):
        status = "unhealthy"
    elif not all(v == HEALTHY for v in inference.values()):
        status = "degraded"
    else:
        status = "healthy"
    body = ServiceHealth(
        status=status,
        version=SERVICE_VERSION,
        checks=checks,
        providers=providers,
        inference=inference,
    )
    return JSONResponse(
        status_code=503 if status == "unhealthy" else 200, content=body.model_dump()
    )


async def _stats(st: AppState, caller: Caller, since: datetime | None) -> ServiceStats:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    usage = await service_stats(st.pool, caller.tenant_filter(), since)
    return ServiceStats(
        **usage.totals.model_dump(),
        since=since,
        by_tenant=[TenantUsage(tenant_id=r.key, **_usage(r)) for r in usage.by_tenant],
        by_base_model=[BaseModelUsage(base_model=r.key, **_usage(r)) for r in usage.by_base_model],
    )


def _usage(row: UsageRow) -> dict[str, Any]:
    return row.model_dump(exclude={"key"})


@router.get("/trainer/stats", response_model=ServiceStats, summary="Get service statistics")
async def trainer_stats(caller: CallerDep, st: StateDep, since: SinceQuery = None) -> ServiceStats:
    return await _stats(st, caller, since)


@router.get("/stats", response_model=ServiceStats, summary="Get service statistics (alias)")
async def stats(caller: CallerDep, st: StateDep, since: SinceQuery = None) -> ServiceStats:
    return await _stats(st, caller, since)
