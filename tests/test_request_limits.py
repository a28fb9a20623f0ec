"""Limits that hold whatever a request carries: the body size (413, declared or chunked),
strict JSON on every route, a 500 that keeps the keep-alive connection, and the cached
base-model lookup behind the submit-time check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
from fastapi.routing import APIRoute

from api.app import create_app
from api.base_models import BaseModelCheck
from api.json_body import StrictJSONRoute
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS
from tests.support.servers import serve_app

JSON_HEADERS = {"Content-Type": "application/json"}


def client_port(response: httpx.Response) -> int:
    """The local port of the connection that carried `response`."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


class _Models:
    def __init__(self, answers: list[BaseException | None]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def retrieve(self, model: str) -> object:
        self.asked.append(model)
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        return object()


class _Client:
    def __init__(self, models: _Models) -> None:
        self.models = models

    def with_options(self, **_: object) -> _Client:
        return self


async def test_known_models_are_cached_and_an_unreachable_provider_accepts() -> None:
    # The openai SDK's exceptions are typed with httpx2, the HTTP client it is built on.
    request = httpx2.Request("GET", "http://provider/v1/models/x")
    not_found = openai.NotFoundError(
        "no such model", response=httpx2.Response(404, request=request), body=None
    )
    models = _Models(
        [openai.APIConnectionError(request=request), None, not_found, ValueError("dot segment")]
    )
    now = [0.0]
    check = BaseModelCheck(_Client(models), cache_seconds=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await check.is_unknown("m") is False  # cannot tell: accepted, not remembered
    assert await check.is_unknown("m") is False  # known: remembered
    assert await check.is_unknown("m") is False  # from the cache
    assert models.asked == ["m", "m"]
    now[0] = 61.0
    assert await check.is_unknown("m") is True  # gone since
    assert await check.is_unknown("..") is True  # no URL can name it


# ---- body size, keep-alive, the catch-all -----------------------------------------------------


@pytest.fixture(scope="module")
async def small_limit_url(settings: Settings, worker: object) -> AsyncIterator[str]:
    app = create_app(settings.model_copy(update={"max_request_body_bytes": 1024}))

    async def boom() -> None:
        raise RuntimeError("an unexpected failure /srv/secret/path")

    app.add_api_route("/boom", boom, methods=["GET"])
    async with serve_app(app) as url:
        yield url


async def test_an_oversized_body_is_413_whether_declared_or_chunked(small_limit_url: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * 512
            await asyncio.sleep(0)

    async with httpx.AsyncClient(base_url=small_limit_url, headers=ADMIN_HEADERS) as client:
        declared = await client.post("/trainer/jobs", content=b" " * 2048, headers=JSON_HEADERS)
        chunked = await client.post("/trainer/jobs", content=chunks(), headers=JSON_HEADERS)
        small = await client.post("/trainer/jobs", content=b"{}", headers=JSON_HEADERS)
    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert response.json()["error_code"] == "request_too_large"
    assert "transfer-encoding" in chunked.request.headers
    assert small.status_code == 422  # under the limit: read and validated as usual


async def test_the_default_limit_refuses_a_large_body(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/trainer/jobs", content=b" " * (11 * 1024 * 1024), headers=JSON_HEADERS
    )
    assert response.status_code == 413, response.text


async def test_an_unexpected_error_is_500_and_keeps_the_connection(small_limit_url: str) -> None:
    async with httpx.AsyncClient(
        base_url=small_limit_url, headers=ADMIN_HEADERS, limits=httpx.Limits(max_connections=1)
    ) as client:
        failed = await client.get("/boom")
        failed_port = client_port(failed)
        after = await client.get("/health")
        after_port = client_port(after)
    assert failed.status_code == 500
    assert failed.json()["error_code"] == "internal_error"
    assert "secret" not in failed.text and "Traceback" not in failed.text
    assert after.status_code in (200, 503)
    assert after_port == failed_port  # the same keep-alive connection


async def test_a_request_that_used_to_500_keeps_the_connection(api_url: str) -> None:
    async with httpx.AsyncClient(
        base_url=api_url, headers=ADMIN_HEADERS, limits=httpx.Limits(max_connections=1)
    ) as client:
        hostile = await client.get("/trainer/jobs", params={"offset": 2**63})
        hostile_port = client_port(hostile)
        after = await client.get("/trainer/jobs", params={"limit": 1})
        after_port = client_port(after)
    assert hostile.status_code == 422
    assert after.status_code == 200
    assert after_port == hostile_port


def test_every_route_parses_json_strictly(settings: Settings) -> None:
    def api_routes(routes: list[Any]) -> list[APIRoute]:
        found: list[APIRoute] = []
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif hasattr(route, "original_router"):  # an included router
                found += api_routes(route.original_router.routes)
        return found

    routes = api_routes(create_app(settings).routes)
    assert len(routes) > 20
    assert [r.path for r in routes if not isinstance(r, StrictJSONRoute)] == []
