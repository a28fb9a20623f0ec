"""Real responses of the running stack, validated against the ORIGINAL contract's schemas
(tests/contract/model-trainer.original.yaml, OpenAPI 3.0): what a client generated from that
contract would parse. A field it does not mark nullable must be absent, never `null`.

Each response is checked against the schema the contract gives for its operation and status;
an error the contract lists without a schema is checked against the contract's ErrorResponse.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

from tests.conftest import ADMIN_HEADERS
from tests.support.jobs import TERMINAL, job_request, submit

CONTRACT_PATH = Path(__file__).parent / "contract" / "model-trainer.original.yaml"
EVALUATION_BODY: dict[str, Any] = {
    "name": "contract-evaluation",
    "harness_config": {"pedagogy_tests": ["content_accuracy"], "safety_tests": ["harmful_content"]},
    "thresholds": {"pedagogy_score": 0.05, "safety_score": 0.05},
}
# The accepted deviations (README, "Contract deviations"): registry ids are the registry's
# integers as strings, not UUIDs; and the provider enum gains `self_hosted` (a job trained
# by this service; OpenAI jobs still carry only the contract's values). Everything else is
# checked as the contract wrote it.
REGISTRY_ID_FIELDS = ("registry_model_id", "registry_version_id", "registry_binding_id")
ADDED_PROVIDERS = ("self_hosted",)
CONTRACT_POSTS = (
    "/trainer/jobs",
    "/trainer/jobs/{job_id}/evaluate",
    "/trainer/jobs/{job_id}/promote",
)


def _load_contract() -> dict[str, Any]:
    contract = yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))
    promotion = contract["components"]["schemas"]["PromotionResponse"]["properties"]
    for field in REGISTRY_ID_FIELDS:
        promotion[field].pop("format")
    contract["components"]["schemas"]["Provider"]["enum"].extend(ADDED_PROVIDERS)
    return contract


CONTRACT = _load_contract()


def _inline(node: Any) -> Any:
    """The schema with every `#/components/schemas/...` reference replaced by its target
    (the contract has no recursive schemas)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            return _inline(CONTRACT["components"]["schemas"][ref.rsplit("/", 1)[-1]])
        return {key: _inline(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value) for value in node]
    return node


def _template_of(path: str) -> tuple[str, dict[str, Any]]:
    """The contract's path template matching a concrete path, and its path item."""
    for template, item in CONTRACT["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            return template, item
    raise AssertionError(f"{path} is not an operation of the original contract")


def contract_errors(response: httpx.Response) -> list[str]:
    """Why the response breaks the original contract (empty when it conforms)."""
    method = response.request.method.lower()
    template, item = _template_of(response.request.url.path)
    operation = item[method]
    declared = operation["responses"].get(str(response.status_code))
    schema: dict[str, Any] | None = None
    if declared is not None and "content" in declared:
        schema = declared["content"]["application/json"]["schema"]
    elif response.status_code >= 400:
        schema = {"$ref": "#/components/schemas/ErrorResponse"}
    if schema is None:
        return []
    validator = OAS30ReadValidator(_inline(schema), format_checker=oas30_format_checker)
    where = f"{method.upper()} {template} {response.status_code}"
    return [
        f"{where}: {'.'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
        for e in validator.iter_errors(response.json())
    ]


def assert_contract(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problems = contract_errors(response)
    assert problems == [], "\n".join(problems)
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
async def api(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=ADMIN_HEADERS) as client:
        yield client


def _scope(label: str) -> str:
    return f"tenant_contract_{label}_{uuid.uuid4().hex[:8]}"


async def _follow(
    api: httpx.AsyncClient, job_id: str, until: set[str], timeout: float = 90.0
) -> list[str]:
    """Poll the job until its status is in `until`, checking every snapshot against the
    contract; return the statuses seen, in order."""
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = assert_contract(await api.get(f"/trainer/jobs/{job_id}"), 200)
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in until:
            return seen
        assert job["status"] not in TERMINAL, f"job ended {seen}, waiting for {until}"
        assert asyncio.get_running_loop().time() < deadline, f"job still {seen}"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def completed(api: httpx.AsyncClient) -> dict[str, Any]:
    """One job followed from submission to `completed`, every status seen checked."""
    created = assert_contract(
        await api.post("/trainer/jobs", json=job_request(policy={"scope": _scope("done")})), 201
    )
    assert created["status"] == "pending"
    # Nothing has run yet: the provider's and the result's fields are absent, not null.
    for field in ("providerJobId", "providerModelId", "trainingTokens", "completedAt"):
        assert field not in created, field
    seen = await _follow(api, created["id"], {"completed"})
    assert seen[-1] == "completed", seen
    return assert_contract(await api.get(f"/trainer/jobs/{created['id']}"), 200)


async def test_a_completed_job_and_the_lists_follow_the_contract(
    api: httpx.AsyncClient, completed: dict[str, Any]
) -> None:
    assert completed["providerModelId"] and completed["trainingTokens"] > 0
    assert "errorMessage" not in completed
    listed = assert_contract(await api.get("/trainer/jobs", params={"limit": 100}), 200)
    assert listed["jobs"]
    for status in ("completed", "pending"):
        assert_contract(await api.get("/trainer/jobs", params={"status_filter": status}), 200)


async def test_evaluations_follow_the_contract(
    api: httpx.AsyncClient, completed: dict[str, Any]
) -> None:
    path = f"/trainer/jobs/{completed['id']}"
    finished = assert_contract(await api.get(f"{path}/evaluation"), 200)
    assert finished["status"] in ("passed", "failed")

    started = assert_contract(await api.post(f"{path}/evaluate", json=EVALUATION_BODY), 201)
    assert started["status"] in ("pending", "running")
    # Not graded yet: no scores, no verdict, no end time (absent rather than null).
    for field in ("pedagogy_score", "passed", "completed_at", "description", "error_message"):
        assert field not in started, field
    for _ in range(600):
        latest = assert_contract(await api.get(f"{path}/evaluation"), 200)
        if latest["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.05)
    assert latest["status"] in ("passed", "failed"), latest
    listed = assert_contract(
        await api.get("/trainer/evaluations", params={"job_id": completed["id"]}), 200
    )
    assert {e["job_id"] for e in listed["evaluations"]} == {completed["id"]}
    assert_contract(await api.get("/trainer/evaluations"), 200)


async def test_promotions_follow_the_contract(
    api: httpx.AsyncClient, completed: dict[str, Any]
) -> None:
    path = f"/trainer/jobs/{completed['id']}"
    evaluation = assert_contract(await api.get(f"{path}/evaluation"), 200)
    if evaluation["passed"]:
        promoted = assert_contract(await api.post(f"{path}/promote", json={}), 201)
        assert promoted["promoted"] is True and promoted["registry_version_id"].isdigit()
    else:
        refused = assert_contract(await api.post(f"{path}/promote", json={}), 400)
        assert refused["error_code"] == "evaluation_not_passed"
    forced = assert_contract(await api.post(f"{path}/promote", json={"force": True}), 201)
    assert forced["job_id"] == completed["id"]


async def test_an_evaluating_job_follows_the_contract(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient
) -> None:
    """Slow graders hold the job in `evaluating` long enough to be seen there."""
    before = (await emulator.get("/_emulator/settings")).json()["chat_latency_seconds"]
    await emulator.patch("/_emulator/settings", json={"chat_latency_seconds": 0.2})
    try:
        created = await submit(api, job_request(policy={"scope": _scope("evaluating")}))
        seen = await _follow(api, created["id"], {"evaluating"})
    finally:
        await emulator.patch("/_emulator/settings", json={"chat_latency_seconds": before})
    assert seen[-1] == "evaluating", seen
    await _follow(api, created["id"], {"completed"})


@pytest.mark.usefixtures("slow_training")
async def test_a_training_then_cancelled_job_follows_the_contract(
    api: httpx.AsyncClient,
) -> None:
    created = await submit(api, job_request(policy={"scope": _scope("cancel")}))
    seen = await _follow(api, created["id"], {"training"})
    assert seen[-1] == "training", seen
    path = f"/trainer/jobs/{created['id']}"
    # The contract answers 400 for a job that is not ready to evaluate or promote.
    not_ready = assert_contract(await api.post(f"{path}/evaluate", json=EVALUATION_BODY), 400)
    assert not_ready["error_code"] == "job_not_evaluable"
    not_ready = assert_contract(await api.post(f"{path}/promote", json={"force": True}), 400)
    assert not_ready["error_code"] == "job_not_promotable"
    assert_contract(await api.get("/trainer/jobs", params={"status_filter": "training"}), 200)

    assert (await api.delete(path)).status_code == 204
    await _follow(api, created["id"], {"cancelled"})
    cancelled = assert_contract(await api.get(path), 200)
    assert "providerModelId" not in cancelled


async def test_a_failed_job_follows_the_contract(
    api: httpx.AsyncClient, dataset_root: Path
) -> None:
    (dataset_root / "contract-broken.jsonl").write_text("not json\n", encoding="utf-8")
    created = await submit(
        api,
        job_request(datasetUri="contract-broken.jsonl", policy={"scope": _scope("failed")}),
    )
    await _follow(api, created["id"], {"failed"})
    failed = assert_contract(await api.get(f"/trainer/jobs/{created['id']}"), 200)
    assert failed["errorMessage"] and "providerJobId" not in failed
    listed = assert_contract(
        await api.get("/trainer/jobs", params={"status_filter": "failed"}), 200
    )
    assert any(job["id"] == created["id"] for job in listed["jobs"])
    path = f"/trainer/jobs/{created['id']}"
    assert_contract(await api.post(f"{path}/evaluate", json=EVALUATION_BODY), 400)
    assert_contract(await api.post(f"{path}/promote", json={}), 400)


async def test_errors_follow_the_contract(api: httpx.AsyncClient) -> None:
    unknown = f"/trainer/jobs/{uuid.uuid4()}"
    assert_contract(await api.get(unknown), 404)
    assert_contract(await api.put(unknown, json={"name": "x"}), 404)
    assert_contract(await api.delete(unknown), 404)
    assert_contract(await api.get(f"{unknown}/evaluation"), 404)
    invalid = assert_contract(await api.post("/trainer/jobs", json={"name": ""}), 422)
    assert invalid["error_code"] == "validation_error"
    assert_contract(await api.get("/trainer/jobs", params={"limit": 0}), 422)


async def test_stats_and_health_follow_the_contract(api: httpx.AsyncClient) -> None:
    assert_contract(await api.get("/trainer/stats"), 200)
    # Nothing created since tomorrow: no mean training time, so the field is absent.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    empty = assert_contract(await api.get("/trainer/stats", params={"since": tomorrow}), 200)
    assert empty["total_jobs"] == 0 and "average_training_time" not in empty
    assert_contract(await api.get("/health"), 200)


def test_the_validator_rejects_what_a_generated_client_would() -> None:
    """The check itself: a null in a non-nullable field, or a 409 body where the contract
    lists none, is reported."""
    request = httpx.Request("GET", f"http://api/trainer/jobs/{uuid.uuid4()}")
    with_null = httpx.Response(
        200, json={"id": str(uuid.uuid4()), "startedAt": None}, request=request
    )
    assert any("startedAt" in p for p in contract_errors(with_null))
    body = {"detail": "x", "error_code": "y", "timestamp": "2026-01-01T00:00:00Z"}
    assert contract_errors(httpx.Response(404, json=body, request=request)) == []
    assert contract_errors(httpx.Response(404, json={**body, "detail": None}, request=request))


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/trainer/jobs",
            job_request(weights={"pedagogy": 0.5, "safety": False}),
            "weights.safety",
        ),
        ("/trainer/jobs", job_request(config={"n_epochs": "3"}), "config.n_epochs"),
        ("/trainer/jobs", job_request(config={"seed": False}), "config.seed"),
        (
            "/trainer/jobs",
            job_request(config={"learning_rate_multiplier": True}),
            "config.learning_rate_multiplier",
        ),
        ("/trainer/jobs", job_request(policy={"require_approval": 1}), "policy.require_approval"),
        (
            "/trainer/jobs",
            job_request(policy={"thresholds": {"safety_score": True}}),
            "policy.thresholds.safety_score",
        ),
        ("/trainer/jobs", job_request(datasheet={"size": True}), "datasheet.size"),
        (
            "/trainer/jobs",
            job_request(datasheet={"collection_date": 0}),
            "datasheet.collection_date",
        ),
        (
            "/trainer/jobs/{job_id}/evaluate",
            {**EVALUATION_BODY, "harness_config": {"parallel": "yes"}},
            "harness_config.parallel",
        ),
        (
            "/trainer/jobs/{job_id}/evaluate",
            {**EVALUATION_BODY, "thresholds": {"safety_score": False}},
            "thresholds.safety_score",
        ),
        ("/trainer/jobs/{job_id}/promote", {"force": 1}, "force"),
        ("/trainer/datasets/validate", {"datasetUri": "x.jsonl", "nEpochs": True}, "nEpochs"),
    ],
)
async def test_values_of_another_json_type_are_refused_as_the_schema_says(
    api: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    """A boolean where the schema says number, a number or text where it says boolean, and
    text where it says integer: each is a 422 naming the field, not a silent conversion."""
    response = await api.post(path.format(job_id=uuid.uuid4()), json=body)
    refused = assert_contract(response, 422) if path in CONTRACT_POSTS else response.json()
    assert response.status_code == 422, response.text
    assert any(e["field"].startswith(field) for e in refused["errors"]), refused


@pytest.mark.parametrize("since", ["0.5", "1700000000", "yesterday"])
async def test_stats_since_is_an_iso_date_time_only(api: httpx.AsyncClient, since: str) -> None:
    """Not seconds since 1970, which the date-time parser would otherwise read a number as."""
    refused = assert_contract(await api.get("/trainer/stats", params={"since": since}), 422)
    assert [e["field"] for e in refused["errors"]] == ["since"]
