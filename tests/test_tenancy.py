"""Authentication and tenant isolation on the authenticated API: a tenant sees and touches
only its own jobs, evaluations, promotions and stats; another tenant's id answers 404."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from pydantic import SecretStr

from api.app import create_app
from core.settings import Settings
from tests.support.auth import TEST_JWT_SECRET, bearer, token
from tests.support.jobs import job_request, wait_for_job
from tests.support.servers import serve_app

WRITER = ["trainer:read", "trainer:write"]
READER = ["trainer:read"]
ADMIN = ["trainer:admin"]


@pytest.fixture(scope="module")
async def secured_url(settings: Settings, worker: object) -> AsyncIterator[str]:
    secured = settings.model_copy(
        update={"auth_mode": "jwt", "jwt_secret": SecretStr(TEST_JWT_SECRET)}
    )
    async with serve_app(create_app(secured)) as url:
        yield url


@pytest.fixture
async def client(secured_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=secured_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
async def finished_job(secured_url: str) -> dict:
    """A completed, evaluated and promoted job of tenant_alpha."""
    async with httpx.AsyncClient(base_url=secured_url, timeout=60) as http:
        headers = bearer("tenant_alpha", WRITER)
        body = job_request(name="alpha-job", policy={"scope": "tenant_alpha"})
        created = await http.post("/trainer/jobs", json=body, headers=headers)
        assert created.status_code == 201, created.text
        http.headers.update(headers)
        return await wait_for_job(http, created.json()["id"])


async def test_missing_invalid_or_expired_tokens_are_401(client: httpx.AsyncClient) -> None:
    cases = {
        "none": {},
        "not bearer": {"Authorization": "Basic abc"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "wrong key": bearer("tenant_alpha", READER, secret="another-secret-" + "x" * 40),
        "expired": bearer("tenant_alpha", READER, expires_in=-60),
    }
    for name, headers in cases.items():
        response = await client.get("/trainer/jobs", headers=headers)
        assert response.status_code == 401, name
        assert response.json()["error_code"] == "unauthorized", name
    expired = await client.get("/trainer/jobs", headers=cases["expired"])
    assert expired.json()["detail"] == "token expired"


async def test_missing_role_is_403(client: httpx.AsyncClient) -> None:
    body = job_request(policy={"scope": "tenant_alpha"})
    response = await client.post("/trainer/jobs", json=body, headers=bearer("tenant_alpha", READER))
    assert response.status_code == 403
    assert "trainer:write" in response.json()["detail"]
    nobody = await client.get("/trainer/jobs", headers=bearer("tenant_alpha", []))
    assert nobody.status_code == 403


async def test_policy_scope_must_be_the_callers_tenant(client: httpx.AsyncClient) -> None:
    body = job_request(policy={"scope": "tenant_beta"})
    response = await client.post("/trainer/jobs", json=body, headers=bearer("tenant_alpha", WRITER))
    assert response.status_code == 403
    assert "policy.scope" in response.json()["detail"]


async def test_another_tenants_job_is_404_everywhere(
    client: httpx.AsyncClient, finished_job: dict
) -> None:
    job_id = finished_job["id"]
    evaluation_id = finished_job["evaluation"]["id"]
    beta = bearer("tenant_beta", [*WRITER])
    calls = [
        ("GET", f"/trainer/jobs/{job_id}", None),
        ("PUT", f"/trainer/jobs/{job_id}", {"name": "stolen"}),
        ("DELETE", f"/trainer/jobs/{job_id}", None),
        ("POST", f"/trainer/jobs/{job_id}/cancel", {"reason": "x"}),
        ("GET", f"/trainer/jobs/{job_id}/events", None),
        ("GET", f"/trainer/jobs/{job_id}/model-card", None),
        (
            "POST",
            f"/trainer/jobs/{job_id}/evaluate",
            {"name": "e", "harness_config": {}, "thresholds": {}},
        ),
        ("GET", f"/trainer/jobs/{job_id}/evaluation", None),
        ("POST", f"/trainer/jobs/{job_id}/promote", {"force": False}),
        ("POST", f"/trainer/jobs/{job_id}/approve", {"note": "x"}),
        ("POST", f"/trainer/jobs/{job_id}/reject", {"note": "x"}),
        ("GET", f"/trainer/evaluations/{evaluation_id}", None),
        ("GET", f"/trainer/evaluations/{evaluation_id}/samples", None),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body, headers=beta)
        assert response.status_code == 404, (method, path, response.text)
    # ...while its owner still sees it, unchanged.
    own = await client.get(f"/trainer/jobs/{job_id}", headers=bearer("tenant_alpha", READER))
    assert own.status_code == 200
    assert own.json()["name"] == "alpha-job"


async def test_lists_and_stats_are_tenant_scoped(
    client: httpx.AsyncClient, finished_job: dict
) -> None:
    beta = bearer("tenant_beta", READER)
    alpha = bearer("tenant_alpha", READER)
    beta_jobs = (await client.get("/trainer/jobs?limit=100", headers=beta)).json()
    assert all(j["tenantId"] == "tenant_beta" for j in beta_jobs["jobs"])
    assert finished_job["id"] not in {j["id"] for j in beta_jobs["jobs"]}
    alpha_jobs = (await client.get("/trainer/jobs?limit=100", headers=alpha)).json()
    assert {j["tenantId"] for j in alpha_jobs["jobs"]} == {"tenant_alpha"}
    assert finished_job["id"] in {j["id"] for j in alpha_jobs["jobs"]}
    beta_evals = (await client.get("/trainer/evaluations", headers=beta)).json()
    assert beta_evals["total"] == 0
    for path in ("/stats", "/trainer/stats"):
        beta_stats = (await client.get(path, headers=beta)).json()
        assert beta_stats["total_jobs"] == 0
        assert beta_stats["total_promotions"] == 0
        alpha_stats = (await client.get(path, headers=alpha)).json()
        assert alpha_stats["total_jobs"] == alpha_jobs["total"]
        assert alpha_stats["successful_promotions"] >= 1


async def test_admin_sees_every_tenant_and_may_force(
    client: httpx.AsyncClient, finished_job: dict
) -> None:
    admin = bearer(None, ADMIN)
    seen = await client.get(f"/trainer/jobs/{finished_job['id']}", headers=admin)
    assert seen.status_code == 200
    writer_force = await client.post(
        f"/trainer/jobs/{finished_job['id']}/promote",
        json={"force": True, "metadata": {"reviewer": "w", "promotion_reason": "why not"}},
        headers=bearer("tenant_alpha", WRITER),
    )
    assert writer_force.status_code == 403
    forced = await client.post(
        f"/trainer/jobs/{finished_job['id']}/promote",
        json={"force": True, "metadata": {"reviewer": "ops-lead", "promotion_reason": "hotfix"}},
        headers=admin,
    )
    assert forced.status_code == 201, forced.text
    promotion = forced.json()
    assert promotion["promotion_metadata"]["reviewer"] == "ops-lead"
    assert promotion["promotion_reason"] == "hotfix"
    assert promotion["decision"]["forced"] is True


async def test_rs256_public_key_and_rotated_secret_file(
    settings: Settings, worker: object, tmp_path: Path
) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file = tmp_path / "jwt.pub"
    key_file.write_bytes(public_pem)
    rs = settings.model_copy(update={"auth_mode": "jwt", "jwt_public_key_file": str(key_file)})
    now = int(time.time())
    claims = {"sub": "svc", "tenant": "tenant_rs", "roles": READER, "exp": now + 60}
    rs_token = jwt.encode(claims, private_key, algorithm="RS256")
    async with serve_app(create_app(rs)) as url, httpx.AsyncClient(base_url=url) as http:
        ok = await http.get("/trainer/jobs", headers={"Authorization": f"Bearer {rs_token}"})
        assert ok.status_code == 200
        hs = await http.get("/trainer/jobs", headers=bearer("tenant_rs", READER))
        assert hs.status_code == 401  # an HS256 token is not accepted by an RS256 deployment

    secret_file = tmp_path / "jwt.secret"
    secret_file.write_text("first-secret-0123456789abcdefghij")
    hs_settings = settings.model_copy(
        update={"auth_mode": "jwt", "jwt_secret_file": str(secret_file)}
    )
    async with serve_app(create_app(hs_settings)) as url, httpx.AsyncClient(base_url=url) as http:
        first = token("tenant_rs", READER, secret="first-secret-0123456789abcdefghij")
        assert (
            await http.get("/trainer/jobs", headers={"Authorization": f"Bearer {first}"})
        ).status_code == 200
        secret_file.write_text("rotated-secret-0123456789abcdefghij")  # no restart
        assert (
            await http.get("/trainer/jobs", headers={"Authorization": f"Bearer {first}"})
        ).status_code == 401
        second = token("tenant_rs", READER, secret="rotated-secret-0123456789abcdefghij")
        assert (
            await http.get("/trainer/jobs", headers={"Authorization": f"Bearer {second}"})
        ).status_code == 200


async def test_unknown_job_and_foreign_job_look_the_same(
    client: httpx.AsyncClient, finished_job: dict
) -> None:
    beta = bearer("tenant_beta", READER)
    foreign = await client.get(f"/trainer/jobs/{finished_job['id']}", headers=beta)
    unknown = await client.get(f"/trainer/jobs/{uuid.uuid4()}", headers=beta)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["detail"] == unknown.json()["detail"]


async def test_rs256_tokens_verified_through_a_jwks_url(settings: Settings, worker: object) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    jwks = FastAPI()

    @jwks.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return {"keys": [{**jwk, "kid": "key-1", "use": "sig", "alg": "RS256"}]}

    async with serve_app(jwks) as idp:
        secured = settings.model_copy(
            update={"auth_mode": "jwt", "jwt_jwks_url": f"{idp}/.well-known/jwks.json"}
        )
        now = int(time.time())
        claims = {"sub": "svc", "tenant": "tenant_jwks", "roles": READER, "exp": now + 60}
        good = jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": "key-1"})
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "key-1"})
        async with serve_app(create_app(secured)) as url, httpx.AsyncClient(base_url=url) as http:
            ok = await http.get("/trainer/jobs", headers={"Authorization": f"Bearer {good}"})
            assert ok.status_code == 200, ok.text
            assert ok.json()["total"] == 0  # tenant_jwks has no jobs
            bad = await http.get("/trainer/jobs", headers={"Authorization": f"Bearer {forged}"})
            assert bad.status_code == 401
