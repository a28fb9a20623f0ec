"""/health reports each configured provider and each inference endpoint beside the
contract's checks: a configured provider that cannot be reached or read makes the service
unhealthy (503); an inference endpoint that only evaluation calls makes it degraded (200)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import SecretStr

from api.app import create_app
from core.settings import Settings
from tests.support.servers import free_port, serve_app

CATALOGUE = """\
pools:
  cpu: {tokens_per_second: 1000, hourly_price_usd: 0.5}
models:
  tiny-base: {path: ./tiny-base, max_seq_length: 512, licence: apache-2.0, gpu_pool: cpu}
"""


def inference_stand_in(seen: list[str], *, with_health: bool = True) -> FastAPI:
    app = FastAPI()
    if with_health:

        @app.get("/health")
        async def health() -> Response:
            seen.append("/health")
            return Response(status_code=200)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        seen.append(f"/v1/models {request.headers.get('authorization', '')}")
        return {"object": "list", "data": [{"id": "tiny-base", "object": "model"}]}

    return app


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    path = tmp_path / "base-models.yaml"
    path.write_text(CATALOGUE, encoding="utf-8")
    return path


async def health_of(settings: Settings) -> httpx.Response:
    async with (
        serve_app(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        return await client.get("/health")


async def test_an_openai_only_deployment_reports_openai_everywhere(settings: Settings) -> None:
    response = await health_of(settings)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy" and body["service"] == "model-trainer"
    assert set(body["checks"]) == {"database", "temporal", "openai"}
    assert body["providers"] == {"openai": "healthy"}
    assert body["inference"] == {"openai": "healthy", "judge": "healthy", "moderation": "healthy"}


async def test_a_self_hosted_deployment_checks_its_catalogue_and_inference_server(
    settings: Settings, catalogue: Path
) -> None:
    seen: list[str] = []
    async with serve_app(inference_stand_in(seen)) as server:
        hosted = settings.model_copy(
            update={
                "self_hosted_catalogue_file": catalogue,
                "self_hosted_inference_url": f"{server}/v1",
            }
        )
        response = await health_of(hosted)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    assert body["providers"] == {"openai": "healthy", "self_hosted": "healthy"}
    assert body["inference"] == {
        "openai": "healthy",
        "self_hosted": "healthy",
        "judge": "healthy",
        "moderation": "healthy",
    }
    assert seen == ["/health"]


async def test_a_down_inference_server_degrades_the_service(
    settings: Settings, catalogue: Path
) -> None:
    hosted = settings.model_copy(
        update={
            "self_hosted_catalogue_file": catalogue,
            "self_hosted_inference_url": f"http://127.0.0.1:{free_port()}/v1",
        }
    )
    response = await health_of(hosted)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["inference"]["self_hosted"].startswith("unhealthy: ")
    assert "127.0.0.1" not in response.text  # no addresses in the answer
    assert body["providers"] == {"openai": "healthy", "self_hosted": "healthy"}
    assert set(body["checks"].values()) == {"healthy"}


async def test_an_unreadable_catalogue_makes_the_service_unhealthy(
    settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [not, a, mapping]\n", encoding="utf-8")
    for path in (broken, tmp_path / "missing.yaml"):
        response = await health_of(settings.model_copy(update={"self_hosted_catalogue_file": path}))
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["status"] == "unhealthy"
        assert body["providers"]["self_hosted"].startswith("unhealthy: ")
        assert str(tmp_path) not in response.text


async def test_a_self_hosted_judge_is_checked_where_it_runs(
    settings: Settings, catalogue: Path
) -> None:
    seen: list[str] = []
    async with serve_app(inference_stand_in(seen, with_health=False)) as judge:
        judged = settings.model_copy(
            update={
                # Deployment settings read by name (see core.evaluation).
                "eval_judge_provider": "self_hosted",
                "eval_judge_base_url": f"{judge}/v1",
                "self_hosted_inference_api_key": SecretStr("vk"),
            }
        )
        response = await health_of(judged)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["inference"]["judge"] == "healthy"
    assert body["inference"]["moderation"] == "healthy"  # still on OpenAI
    assert "self_hosted" not in body["inference"]  # the provider is not configured
    # No /health there: the server's model list answers instead, with its key.
    assert seen == ["/v1/models Bearer vk"]
