"""A hostile client on the real stack: no request body, query or token may make the API answer
500 or store what PostgreSQL cannot hold (size limits and keep-alive: test_request_limits).

Bodies are sent as raw bytes, so they can carry what `json=` cannot: lone surrogates
(`"\\ud800"`), NaN and Infinity, integers beyond 64 bits.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from tests.support.auth import TEST_JWT_SECRET
from tests.support.jobs import job_request, submit, wait_for_job

NUL = "nul\x00here"
SURROGATE = "lone\ud800here"
JSON_HEADERS = {"Content-Type": "application/json"}
EVALUATION = {
    "name": "hostile-evaluation",
    "harness_config": {"pedagogy_tests": ["content_accuracy"], "timeout": 60},
    "thresholds": {"pedagogy_score": 0.05},
}


def raw(body: Any) -> bytes:
    """JSON as Python writes it: lone surrogates as `\\ud800` escapes, NaN as `NaN`."""
    return json.dumps(body).encode("ascii")


def with_number(body: Any, number: str) -> bytes:
    """`body` as JSON with each "NUMBER" placeholder replaced by the literal `number`."""
    return raw(body).replace(b'"NUMBER"', number.encode())


def refused(response: httpx.Response, field: str, status: int = 422) -> dict[str, Any]:
    """The error envelope naming `field`, echoing none of the hostile values."""
    assert response.status_code == status, response.text
    body = response.json()
    named = [e["field"] for e in body.get("errors", [])] + [body["detail"]]
    assert any(field in n for n in named), body
    assert "nul\x00here" not in response.text and "\\u0000" not in response.text
    assert "\\ud800" not in response.text
    return body


@pytest.fixture(scope="module")
async def completed(api: httpx.AsyncClient) -> dict[str, Any]:
    job = await submit(api, job_request(name="hostile-target"))
    finished = await wait_for_job(api, job["id"])
    assert finished["status"] == "completed", finished
    return finished


# ---- text fields: NUL, lone surrogates, length -----------------------------------------------


def _with(path: str, value: Any) -> dict[str, Any]:
    body = job_request()
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return body


JOB_FIELDS = [
    ("name", "name"),
    ("description", "description"),
    ("baseModel", "baseModel"),
    ("datasetUri", "datasetUri"),
    ("datasheet.source", "datasheet.source"),
    ("datasheet.notes", "datasheet"),  # an extra (tenant-defined) datasheet field
    ("policy.restrictions.region", "policy.restrictions"),
    ("policy.owner", "policy"),  # an extra policy field
]


@pytest.mark.parametrize("value", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(("path", "field"), JOB_FIELDS, ids=[p for p, _ in JOB_FIELDS])
async def test_unstorable_text_in_a_job_is_refused_naming_the_field(
    api: httpx.AsyncClient, path: str, field: str, value: str
) -> None:
    response = await api.post(
        "/trainer/jobs", content=raw(_with(path, value)), headers=JSON_HEADERS
    )
    refused(response, field)


@pytest.mark.parametrize(
    ("container", "field"),
    [("datasheet", "datasheet"), ("policy.restrictions", "policy.restrictions")],
)
@pytest.mark.parametrize("key", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_unstorable_keys_are_refused(
    api: httpx.AsyncClient, container: str, field: str, key: str
) -> None:
    body = _with(f"{container}.nested", {"ok": [{key: 1}]})
    response = await api.post("/trainer/jobs", content=raw(body), headers=JSON_HEADERS)
    message = " ".join(e["message"] for e in refused(response, field)["errors"])
    assert "nested.ok[0]: key #0" in message


@pytest.mark.parametrize("value", [0.5, "high"], ids=["unknown-name", "not-a-number"])
@pytest.mark.parametrize("key", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_a_hostile_threshold_name_is_refused_and_never_echoed(
    api: httpx.AsyncClient, key: str, value: Any
) -> None:
    # A key is part of an error's path, and the envelope must still be printable.
    body = _with("policy.thresholds", {key: value})
    response = await api.post("/trainer/jobs", content=raw(body), headers=JSON_HEADERS)
    refused(response, "policy.thresholds")


async def test_text_of_other_requests_is_checked(
    api: httpx.AsyncClient, completed: dict[str, Any]
) -> None:
    job = f"/trainer/jobs/{completed['id']}"
    evaluations = {"job_id": completed["id"]}
    evaluated = (await api.get("/trainer/evaluations", params=evaluations)).json()["total"]
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("PUT", job, {"name": SURROGATE}, "name"),
        ("PUT", job, {"description": NUL}, "description"),
        ("POST", f"{job}/evaluate", {**EVALUATION, "name": NUL}, "name"),
        ("POST", f"{job}/evaluate", {**EVALUATION, "description": SURROGATE}, "description"),
        (
            "POST",
            f"{job}/evaluate",
            {**EVALUATION, "harness_config": {"custom_tests": {"mine": {"samples": [NUL]}}}},
            "harness_config.custom_tests",
        ),
        ("POST", f"{job}/promote", {"force": True, "metadata": {"ticket": NUL}}, "metadata"),
        ("POST", f"{job}/promote", {"force": True, "metadata": {SURROGATE: 1}}, "metadata"),
        ("POST", f"{job}/approve", {"reviewer": NUL}, "reviewer"),
        ("POST", f"{job}/reject", {"note": SURROGATE}, "note"),
        ("POST", f"{job}/cancel", {"reason": "x" * 3_000_000}, "reason"),
        (
            "POST",
            "/trainer/datasets/validate",
            {"datasetUri": "tutor-k12-good.jsonl", "scope": "tenant_123", "datasheet": {NUL: 1}},
            "datasheet",
        ),
    ]
    for method, path, body, field in cases:
        response = await api.request(method, path, content=raw(body), headers=JSON_HEADERS)
        refused(response, field)
    # Nothing was stored or started.
    after = (await api.get(job)).json()
    assert (after["name"], after.get("description")) == (
        completed["name"],
        completed.get("description"),
    )
    assert after.get("promotion") == completed.get("promotion")
    assert (await api.get("/trainer/evaluations", params=evaluations)).json()["total"] == evaluated


async def test_a_nul_cancel_reason_is_refused_and_the_job_stays_cancellable(
    api: httpx.AsyncClient, slow_training: None
) -> None:
    job = await submit(api, job_request(name="hostile-cancel"))
    await wait_for_job(api, job["id"], until={"training"})
    response = await api.post(
        f"/trainer/jobs/{job['id']}/cancel", content=raw({"reason": NUL}), headers=JSON_HEADERS
    )
    refused(response, "reason")
    cancel = await api.post(f"/trainer/jobs/{job['id']}/cancel", json={"reason": "changed plan"})
    assert cancel.status_code == 202, cancel.text
    ended = await wait_for_job(api, job["id"], until={"cancelled"})
    assert ended["status"] == "cancelled"


# ---- numbers: NaN, Infinity, beyond 64 bits ------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_refused_where_they_are(
    api: httpx.AsyncClient, completed: dict[str, Any], number: str
) -> None:
    promote = f"/trainer/jobs/{completed['id']}/promote"
    validate = {"datasetUri": "tutor-k12-good.jsonl", "scope": "t", "datasheet": {"n": "NUMBER"}}
    cases: list[tuple[str, Any, str]] = [
        (
            "/trainer/jobs",
            _with("policy.restrictions.max_cost_usd", "NUMBER"),
            "policy.restrictions.max_cost_usd",
        ),
        ("/trainer/jobs", {**job_request(), "weights": {"pedagogy": "NUMBER"}}, "weights.pedagogy"),
        (promote, {"force": True, "metadata": {"score": [1, "NUMBER"]}}, "metadata.score.1"),
        ("/trainer/datasets/validate", validate, "datasheet.n"),
    ]
    for path, body, field in cases:
        response = await api.post(path, content=with_number(body, number), headers=JSON_HEADERS)
        refused(response, field)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("config.seed", 2**63, "config.seed"),
        ("config.seed", -1, "config.seed"),
        ("config.seed", 2**31, "config.seed"),
        ("datasheet.size", 2**64, "datasheet.size"),
        ("policy.restrictions.quota", 2**63, "policy.restrictions"),
        ("datasheet.collection_date", "0001-01-01T00:00:00+14:00", "datasheet.collection_date"),
    ],
)
async def test_numbers_out_of_range_are_refused(
    api: httpx.AsyncClient, path: str, value: Any, field: str
) -> None:
    response = await api.post(
        "/trainer/jobs", content=raw(_with(path, value)), headers=JSON_HEADERS
    )
    refused(response, field)


@pytest.mark.parametrize("depth", [20, 70, 100_000])
async def test_bodies_nested_too_deep_are_refused(api: httpx.AsyncClient, depth: int) -> None:
    # 20 passes the body's bound but not the datasheet's; 100 000 overflows the parser.
    deep = raw(_with("datasheet.tree", "NESTED"))
    deep = deep.replace(b'"NESTED"', b"[" * depth + b"]" * depth)
    response = await api.post("/trainer/jobs", content=deep, headers=JSON_HEADERS)
    assert response.status_code == 422, response.text
    assert "nested deeper than" in response.text


# ---- queries --------------------------------------------------------------------------------


async def test_list_offsets_are_bounded(api: httpx.AsyncClient, completed: dict[str, Any]) -> None:
    evaluation = str(uuid.uuid4())
    lists = [
        "/trainer/jobs",
        "/trainer/evaluations",
        f"/trainer/jobs/{completed['id']}/events",
        f"/trainer/evaluations/{evaluation}/samples",
    ]
    for path in lists:
        for offset in (2**63, 2**64, 2**31):
            refused(await api.get(path, params={"offset": offset}), "offset")
    largest = await api.get("/trainer/jobs", params={"offset": 2**31 - 1})
    assert largest.status_code == 200 and largest.json()["jobs"] == []


@pytest.mark.parametrize("path", ["/trainer/stats", "/stats"])
@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_stats_since_a_date_with_no_utc_equivalent_is_refused(
    api: httpx.AsyncClient, path: str, since: str
) -> None:
    refused(await api.get(path, params={"since": since}), "since")


async def test_a_nul_in_a_list_filter_is_refused(api: httpx.AsyncClient) -> None:
    refused(await api.get("/trainer/jobs", params={"provider_filter": NUL}), "provider_filter")


# ---- tokens ---------------------------------------------------------------------------------


def _token(**claims: Any) -> dict[str, str]:
    now = int(time.time())
    payload = {"sub": "hostile", "tenant": "tenant_123", "iat": now, "exp": now + 600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, TEST_JWT_SECRET, algorithm='HS256')}"}


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": 5},
        {"roles": [1, 2]},
        {"roles": {"trainer:read": True}},
        {"roles": ["trainer:read"], "tenant": NUL},
        {"roles": ["trainer:read"], "sub": "x" * 300},
    ],
    ids=["roles-number", "roles-of-numbers", "roles-object", "tenant-nul", "subject-too-long"],
)
async def test_a_token_with_malformed_claims_is_401(api_url: str, claims: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.get("/trainer/jobs", headers=_token(**claims))
    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "unauthorized"


# ---- unknown base models --------------------------------------------------------------------


async def test_an_unknown_base_model_is_refused_at_submit(api: httpx.AsyncClient) -> None:
    before = (await api.get("/trainer/jobs", params={"limit": 1})).json()["total"]
    response = await api.post("/trainer/jobs", json=job_request(baseModel="gpt-0-imaginary"))
    body = refused(response, "baseModel")
    assert body["error_code"] == "base_model_unknown"
    assert (await api.get("/trainer/jobs", params={"limit": 1})).json()["total"] == before
