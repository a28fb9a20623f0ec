"""The REST API on the real stack: status codes, the error envelope, validation messages,
idempotency, listing, evaluation, promotion, stats and health.

Every response in this module passes through `_no_leaks`: no body may carry a Python
traceback or the provider API key.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS
from tests.support.jobs import job_request, provider_jobs_for, submit, wait_for_job
from tests.support.servers import serve_app

API_KEY = "sk-test-not-a-real-key"
ENVELOPE = {"detail", "error_code", "timestamp"}
CONTRACT_STATS = {
    "total_jobs",
    "active_jobs",
    "completed_jobs",
    "failed_jobs",
    "total_evaluations",
    "passed_evaluations",
    "failed_evaluations",
    "total_promotions",
    "successful_promotions",
    "average_training_time",
    "total_training_cost",
}
EVALUATION_BODY: dict[str, Any] = {
    "name": "rest-evaluation",
    "description": "on-demand evaluation",
    "harness_config": {
        "pedagogy_tests": ["content_accuracy"],
        "safety_tests": ["harmful_content"],
        "timeout": 120,
    },
    # Low bars: this evaluation must pass so the job stays promotable afterwards.
    "thresholds": {"pedagogy_score": 0.05, "safety_score": 0.05},
}


async def _no_leaks(response: httpx.Response) -> None:
    body = (await response.aread()).decode("utf-8", "replace")
    where = f"{response.request.method} {response.request.url.path}"
    assert "Traceback" not in body, f"{where} leaked a traceback: {body[:500]}"
    assert API_KEY not in body, f"{where} leaked the provider API key"


@pytest.fixture(scope="module")
async def api(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real API over HTTP, with every response checked for leaks."""
    async with httpx.AsyncClient(
        base_url=api_url,
        timeout=60,
        headers=ADMIN_HEADERS,
        event_hooks={"response": [_no_leaks]},
    ) as client:
        yield client


def scope(label: str) -> str:
    return f"tenant_{label}_{uuid.uuid4().hex[:8]}"


def envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert ENVELOPE <= set(body), body
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["error_code"], str) and body["error_code"]
    return body


def field_errors(body: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in body.get("errors", [])}


@pytest.fixture(scope="module")
async def trained(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Two finished jobs, trained side by side: one on good data, one on unsafe data."""
    good, unsafe = await asyncio.gather(
        submit(api, job_request(name="rest-good", policy={"scope": scope("rest_good")})),
        submit(
            api,
            job_request(
                name="rest-unsafe",
                datasetUri="tutor-k12-unsafe.jsonl",
                policy={"scope": scope("rest_unsafe")},
                datasheet={"redaction": "none"},  # it holds made-up personal data
            ),
        ),
    )
    good, unsafe = await asyncio.gather(
        wait_for_job(api, good["id"]), wait_for_job(api, unsafe["id"])
    )
    assert good["status"] == "completed", good
    assert unsafe["status"] == "completed", unsafe
    return {"good": good, "unsafe": unsafe}


async def wait_for_evaluation(
    api: httpx.AsyncClient, job_id: str, evaluation_id: str, timeout: float = 60.0
) -> tuple[dict[str, Any], list[str]]:
    """Poll GET /trainer/jobs/{id}/evaluation until it ends; also return the statuses seen."""
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.get(f"/trainer/jobs/{job_id}/evaluation")
        assert response.status_code == 200, response.text
        evaluation = response.json()
        assert evaluation["id"] == evaluation_id
        if not seen or seen[-1] != evaluation["status"]:
            seen.append(evaluation["status"])
        if evaluation["status"] in ("passed", "failed", "error"):
            return evaluation, seen
        assert asyncio.get_running_loop().time() < deadline, f"evaluation still {seen}"
        await asyncio.sleep(0.05)


# ---- errors: unknown ids, malformed ids, invalid bodies ------------------------------------


async def test_unknown_job_is_404_with_the_envelope_everywhere(api: httpx.AsyncClient) -> None:
    job = f"/trainer/jobs/{uuid.uuid4()}"
    calls = [
        api.get(job),
        api.put(job, json={"name": "renamed"}),
        api.delete(job),
        api.post(f"{job}/evaluate", json=EVALUATION_BODY),
        api.get(f"{job}/evaluation"),
        api.post(f"{job}/promote", json={"force": False}),
        api.get(f"{job}/events"),
        api.post(f"{job}/cancel", json={"reason": "test"}),
    ]
    for response in await asyncio.gather(*calls):
        body = envelope(response, 404)
        assert body["error_code"] == "training_job_not_found", response.request.url
        assert body["detail"] == "training job not found"

    evaluation = f"/trainer/evaluations/{uuid.uuid4()}"
    for response in (await api.get(evaluation), await api.get(f"{evaluation}/samples")):
        assert envelope(response, 404)["error_code"] == "evaluation_not_found"

    unknown_route = envelope(await api.get("/trainer/nothing-here"), 404)
    assert unknown_route["error_code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/trainer/jobs/not-a-uuid"),
        ("DELETE", "/trainer/jobs/12345"),
        ("GET", "/trainer/jobs/not-a-uuid/evaluation"),
        ("GET", "/trainer/jobs/not-a-uuid/events"),
        ("GET", "/trainer/evaluations/not-a-uuid"),
    ],
)
async def test_malformed_uuid_is_422_naming_the_parameter(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    body = envelope(await api.request(method, path), 422)
    assert body["error_code"] == "validation_error"
    field = "evaluation_id" if "/evaluations/" in path else "job_id"
    assert field in field_errors(body), body
    assert field in body["detail"]


def _without_license() -> dict[str, Any]:
    body = job_request()
    del body["datasheet"]["license"]
    return body


@pytest.mark.parametrize(
    ("body", "field", "mentions"),
    [
        pytest.param(_without_license(), "datasheet.license", "required", id="missing-license"),
        pytest.param(
            job_request(config={"n_epochs": 0}), "config.n_epochs", "greater than", id="n_epochs-0"
        ),
        pytest.param(
            job_request(config={"n_epochs": 3, "epochs_typo": 3}),
            "config.epochs_typo",
            "not permitted",
            id="unknown-config-key",
        ),
        pytest.param(
            job_request(policy={"thresholds": {"foo": 0.5}}),
            "policy.thresholds",
            "foo",
            id="unknown-threshold",
        ),
        pytest.param(
            job_request(policy={"thresholds": {"safety_score": 1.5}}),
            "policy.thresholds",
            "safety_score",
            id="threshold-out-of-range",
        ),
        pytest.param(job_request(provider="azure"), "provider", "openai", id="bad-provider-enum"),
        pytest.param(job_request(baseModel=""), "baseModel", "at least 1", id="empty-base-model"),
        pytest.param(
            {k: v for k, v in job_request().items() if k != "datasetUri"},
            "datasetUri",
            "required",
            id="missing-dataset-uri",
        ),
        pytest.param(
            job_request(policy={"scope": "no spaces allowed"}),
            "policy.scope",
            "pattern",
            id="bad-scope",
        ),
    ],
)
async def test_invalid_job_body_is_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], field: str, mentions: str
) -> None:
    before = (await api.get("/trainer/jobs", params={"limit": 1})).json()["total"]
    error = envelope(await api.post("/trainer/jobs", json=body), 422)
    assert error["error_code"] == "validation_error"
    errors = field_errors(error)
    assert field in errors, errors
    assert mentions in errors[field], errors
    assert field in error["detail"]
    # Nothing was created.
    assert (await api.get("/trainer/jobs", params={"limit": 1})).json()["total"] == before


async def test_body_that_is_not_json_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/trainer/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert envelope(response, 422)["error_code"] == "validation_error"


async def test_unsupported_provider_is_422_naming_provider(api: httpx.AsyncClient) -> None:
    body = envelope(await api.post("/trainer/jobs", json=job_request(provider="vertex_ai")), 422)
    assert body["error_code"] == "provider_unsupported"
    assert body["detail"].startswith("provider:")
    assert "vertex_ai" in body["detail"] and "openai" in body["detail"]


# ---- idempotency ---------------------------------------------------------------------------


async def test_idempotency_key_returns_the_same_job_once(
    api: httpx.AsyncClient, settings: Settings, temporal_client: Client
) -> None:
    key = f"rest-{uuid.uuid4()}"
    body = job_request(name="idempotent", policy={"scope": scope("idem")})
    first = await api.post("/trainer/jobs", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    retry = await api.post("/trainer/jobs", json=body, headers={"Idempotency-Key": key})
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers

    job_id = first.json()["id"]
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetchval("SELECT count(*) FROM jobs WHERE idempotency_key = $1", key)
    finally:
        await conn.close()
    assert rows == 1
    workflow_id = first.json()["workflowId"]
    runs = [w async for w in temporal_client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    described = await temporal_client.get_workflow_handle(workflow_id).describe()
    assert len(runs) <= 1 and all(r.run_id == described.run_id for r in runs)

    changed = {**body, "baseModel": "gpt-4.1-mini-2025-04-14"}
    conflict = envelope(
        await api.post("/trainer/jobs", json=changed, headers={"Idempotency-Key": key}), 409
    )
    assert conflict["error_code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in conflict["detail"]

    # A different key is a different job.
    other = await api.post("/trainer/jobs", json=body, headers={"Idempotency-Key": key + "-2"})
    assert other.status_code == 201 and other.json()["id"] != job_id
    for created in (job_id, other.json()["id"]):  # no need to train them to the end
        assert (await api.delete(f"/trainer/jobs/{created}")).status_code in (204, 409)
        await wait_for_job(api, created, timeout=30)


# ---- validation failures end the job before any provider call ------------------------------


def _chat_line(i: int) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "system", "content": "You are a patient tutor."},
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
            ]
        }
    )


async def _submit_and_fail(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    created = await submit(api, body)
    job = await wait_for_job(api, created["id"], until={"failed"}, timeout=30)
    assert job["status"] == "failed"
    assert "providerJobId" not in job
    return job


async def test_invalid_dataset_fails_fast_with_line_numbers_and_no_provider_call(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, dataset_root: Path
) -> None:
    lines = [_chat_line(i) for i in range(1, 13)]
    lines[2] = '{"messages": [ this is not json'
    lines[4] = json.dumps(
        {"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "ok"}]}
    )
    name = f"rest-bad-{uuid.uuid4().hex[:8]}.jsonl"
    (dataset_root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    job = await _submit_and_fail(api, job_request(name="bad-dataset", datasetUri=name))
    assert job["errorCode"] == "dataset_invalid"
    assert "line 3" in job["errorMessage"] and "line 5" in job["errorMessage"]
    # The unknown role is named by position, never echoed (a role could hold anything).
    assert "unknown_role" in job["errorMessage"] and "wizard" not in job["errorMessage"]
    assert await provider_jobs_for(emulator, job["id"]) == []


async def test_blank_datasheet_license_fails_naming_license(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient
) -> None:
    job = await _submit_and_fail(
        api, job_request(name="blank-license", datasheet={"license": "   "})
    )
    assert job["errorCode"] == "dataset_invalid"
    assert "license" in job["errorMessage"]
    assert await provider_jobs_for(emulator, job["id"]) == []


async def test_dataset_outside_the_root_is_denied(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient
) -> None:
    job = await _submit_and_fail(api, job_request(name="escape", datasetUri="../../etc/passwd"))
    assert job["errorCode"] == "dataset_access_denied"
    assert "root:" not in job["errorMessage"]  # nothing of the file is echoed
    assert await provider_jobs_for(emulator, job["id"]) == []


async def test_unknown_base_model_fails_naming_it(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient
) -> None:
    # The provider cannot answer at submit, so the job is accepted; its validate step, which
    # asks again, names the model. (An answer at submit is a 422: test_hostile_requests.)
    fault = {"path_prefix": "/v1/models/gpt-0-imaginary", "status": 503, "count": 1}
    assert (await emulator.post("/_emulator/faults", json=fault)).status_code < 300
    job = await _submit_and_fail(
        api, job_request(name="unknown-model", baseModel="gpt-0-imaginary")
    )
    assert "gpt-0-imaginary" in job["errorMessage"]
    assert job["errorCode"] == "base_model_unknown"
    assert await provider_jobs_for(emulator, job["id"]) == []


# ---- listing ---------------------------------------------------------------------------------


async def _list_all(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = await api.get("/trainer/jobs", params={**params, "offset": offset, "limit": 100})
        assert response.status_code == 200, response.text
        page = response.json()
        assert (page["offset"], page["limit"]) == (offset, 100)
        jobs += page["jobs"]
        offset += 100
        if offset >= page["total"]:
            assert len(jobs) == page["total"]
            return jobs


async def test_list_filters_paginates_and_counts(
    api: httpx.AsyncClient, trained: dict[str, dict[str, Any]]
) -> None:
    tenant = scope("list")
    failed_ids = []
    for i in range(3):  # one after the other: the list is newest first
        created = await submit(
            api,
            job_request(name=f"list-{i}", datasetUri="missing.jsonl", policy={"scope": tenant}),
        )
        failed_ids.append(created["id"])
    for job_id in failed_ids:
        await wait_for_job(api, job_id, until={"failed"}, timeout=30)
    completed_id = trained["good"]["id"]

    everything = await _list_all(api)
    ids = [j["id"] for j in everything]
    assert {*failed_ids, completed_id} <= set(ids)
    newest_first = [i for i in ids if i in failed_ids]
    assert newest_first == failed_ids[::-1]

    failed = await _list_all(api, status_filter="failed")
    assert {j["status"] for j in failed} == {"failed"}
    assert set(failed_ids) <= {j["id"] for j in failed}
    assert completed_id not in {j["id"] for j in failed}

    completed = await _list_all(api, status_filter="completed")
    assert {j["status"] for j in completed} == {"completed"}
    assert completed_id in {j["id"] for j in completed}
    assert not set(failed_ids) & {j["id"] for j in completed}
    assert len(failed) + len(completed) <= len(everything)

    openai = await _list_all(api, provider_filter="openai")
    assert {j["provider"] for j in openai} == {"openai"}
    # Self-hosted jobs of other tests may share the tenant: each filter finds its own.
    self_hosted = await _list_all(api, provider_filter="self_hosted")
    assert {j["provider"] for j in self_hosted} <= {"self_hosted"}
    assert len(openai) + len(self_hosted) == len(everything)
    empty = (await api.get("/trainer/jobs", params={"provider_filter": "bedrock"})).json()
    assert (empty["jobs"], empty["total"]) == ([], 0)

    # Pages of two walk the same order as one big page.
    paged: list[str] = []
    for offset in range(0, min(len(ids), 6), 2):
        page = (await api.get("/trainer/jobs", params={"offset": offset, "limit": 2})).json()
        assert page["total"] == len(ids)
        assert len(page["jobs"]) == min(2, len(ids) - offset)
        paged += [j["id"] for j in page["jobs"]]
    assert paged == ids[: len(paged)]
    beyond = (await api.get("/trainer/jobs", params={"offset": len(ids)})).json()
    assert (beyond["jobs"], beyond["total"]) == ([], len(ids))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status_filter": "bogus"}, "status_filter"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
async def test_bad_list_parameters_are_422(
    api: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    body = envelope(await api.get("/trainer/jobs", params=params), 422)
    assert field in field_errors(body)


# ---- update --------------------------------------------------------------------------------


async def test_update_name_and_description_persists(
    api: httpx.AsyncClient, trained: dict[str, dict[str, Any]]
) -> None:
    job_id = trained["unsafe"]["id"]
    response = await api.put(
        f"/trainer/jobs/{job_id}", json={"name": "renamed-job", "description": "new words"}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["description"]) == (
        "renamed-job",
        "new words",
    )
    stored = (await api.get(f"/trainer/jobs/{job_id}")).json()
    assert (stored["name"], stored["description"]) == ("renamed-job", "new words")
    assert stored["updatedAt"] >= trained["unsafe"]["updatedAt"]

    # A partial update keeps the other field.
    only_name = (await api.put(f"/trainer/jobs/{job_id}", json={"name": "rest-unsafe"})).json()
    assert (only_name["name"], only_name["description"]) == ("rest-unsafe", "new words")

    invalid = envelope(await api.put(f"/trainer/jobs/{job_id}", json={"name": ""}), 422)
    assert "name" in field_errors(invalid)


async def test_status_cannot_be_set_by_update(
    api: httpx.AsyncClient, trained: dict[str, dict[str, Any]]
) -> None:
    job_id = trained["good"]["id"]
    body = envelope(await api.put(f"/trainer/jobs/{job_id}", json={"status": "training"}), 400)
    assert body["error_code"] == "status_not_settable"
    assert (await api.get(f"/trainer/jobs/{job_id}")).json()["status"] == "completed"
    finished = envelope(await api.put(f"/trainer/jobs/{job_id}", json={"status": "cancelled"}), 409)
    assert "completed" in finished["detail"]


# ---- actions on a job that is still training -----------------------------------------------


@pytest.mark.usefixtures("slow_training")
async def test_actions_on_a_running_job_are_rejected_with_a_reason(
    api: httpx.AsyncClient,
) -> None:
    created = await submit(api, job_request(name="still-training", policy={"scope": scope("run")}))
    job = await wait_for_job(api, created["id"], until={"training"}, stage="training")
    path = f"/trainer/jobs/{job['id']}"

    evaluate = envelope(await api.post(f"{path}/evaluate", json=EVALUATION_BODY), 400)
    assert evaluate["error_code"] == "job_not_evaluable"
    assert "training" in evaluate["detail"] and "completed" in evaluate["detail"]
    promote = envelope(await api.post(f"{path}/promote", json={"force": True}), 400)
    assert promote["error_code"] == "job_not_promotable"
    assert "training" in promote["detail"]
    no_evaluation = envelope(await api.get(f"{path}/evaluation"), 404)
    assert no_evaluation["error_code"] == "evaluation_not_found"

    assert (await api.delete(path)).status_code == 204
    await wait_for_job(api, job["id"], until={"cancelled"}, timeout=30)


# ---- evaluation ----------------------------------------------------------------------------


@pytest.fixture
async def slow_chat(emulator: httpx.AsyncClient) -> AsyncIterator[None]:
    """Chat completions take a moment, so a running evaluation can be observed."""
    before = (await emulator.get("/_emulator/settings")).json()["chat_latency_seconds"]
    await emulator.patch("/_emulator/settings", json={"chat_latency_seconds": 0.1})
    yield
    await emulator.patch("/_emulator/settings", json={"chat_latency_seconds": before})


@pytest.mark.usefixtures("slow_chat")
async def test_evaluate_a_completed_job(
    api: httpx.AsyncClient, trained: dict[str, dict[str, Any]]
) -> None:
    job_id = trained["good"]["id"]
    response = await api.post(f"/trainer/jobs/{job_id}/evaluate", json=EVALUATION_BODY)
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["status"] in ("pending", "running")
    assert started["job_id"] == job_id
    assert started["harness_config"]["safety_tests"] == ["harmful_content"]

    again = envelope(await api.post(f"/trainer/jobs/{job_id}/evaluate", json=EVALUATION_BODY), 409)
    assert again["error_code"] == "evaluation_running"
    assert started["id"] in again["detail"]

    evaluation, seen = await wait_for_evaluation(api, job_id, started["id"])
    assert "running" in seen, seen
    assert evaluation["status"] in ("passed", "failed"), evaluation
    assert evaluation["passed"] is (evaluation["status"] == "passed")
    suites = {s["suite"]: s for s in evaluation["results"]["suites"]}
    assert set(suites) == {"content_accuracy", "harmful_content"}
    assert suites["content_accuracy"]["category"] == "pedagogy"
    assert suites["harmful_content"]["category"] == "safety"
    for suite in suites.values():
        assert suite["n"] > 0
        assert suite["n"] == (
            suite["passed"] + suite["failed"] + suite["errored"] + suite["contaminated"]
        )
    assert 0.0 <= evaluation["pedagogy_score"] <= 1.0
    assert 0.0 <= evaluation["safety_score"] <= 1.0
    assert evaluation["completed_at"] is not None

    listed = (await api.get("/trainer/evaluations", params={"job_id": job_id})).json()
    assert {e["job_id"] for e in listed["evaluations"]} == {job_id}
    assert listed["evaluations"][0]["id"] == started["id"]  # newest first
    assert listed["total"] == len(listed["evaluations"]) >= 2  # the pipeline's and ours
    one = (await api.get(f"/trainer/evaluations/{started['id']}")).json()
    assert one["status"] == evaluation["status"]

    samples_path = f"/trainer/evaluations/{started['id']}/samples"
    everything = (await api.get(samples_path, params={"limit": 500})).json()
    total = everything["total"]
    assert total == len(everything["samples"]) >= 4
    first = (await api.get(samples_path, params={"limit": 3})).json()
    second = (await api.get(samples_path, params={"limit": 3, "offset": 3})).json()
    assert first["total"] == second["total"] == total
    keys = [(s["role"], s["suite"], s["sample_id"]) for s in everything["samples"]]
    paged = [(s["role"], s["suite"], s["sample_id"]) for s in first["samples"] + second["samples"]]
    assert paged == keys[:6]
    candidate = (await api.get(samples_path, params={"role": "candidate", "limit": 500})).json()
    assert {s["role"] for s in candidate["samples"]} == {"candidate"}
    assert {s["suite"] for s in candidate["samples"]} == set(suites)
    assert candidate["total"] == sum(s["n"] for s in suites.values())
    assert candidate["samples"][0]["model"] == trained["good"]["providerModelId"]
    bad_role = envelope(await api.get(samples_path, params={"role": "judge"}), 422)
    assert "role" in field_errors(bad_role)


@pytest.mark.parametrize(
    ("body", "status", "mentions"),
    [
        (
            {**EVALUATION_BODY, "thresholds": {"pedagogy_score": 2}},
            422,
            "thresholds.pedagogy_score",
        ),
        (
            {**EVALUATION_BODY, "harness_config": {"pedagogy_tests": ["no_such_suite"]}},
            422,
            "harness_config.pedagogy_tests[0]",
        ),
        ({**EVALUATION_BODY, "harness_config": {"timeout": 1}}, 422, "harness_config.timeout"),
        ({k: v for k, v in EVALUATION_BODY.items() if k != "name"}, 422, "name"),
    ],
)
async def test_invalid_evaluation_body_names_the_field(
    api: httpx.AsyncClient,
    trained: dict[str, dict[str, Any]],
    body: dict[str, Any],
    status: int,
    mentions: str,
) -> None:
    response = await api.post(f"/trainer/jobs/{trained['good']['id']}/evaluate", json=body)
    assert mentions in envelope(response, status)["detail"]


# ---- promotion -----------------------------------------------------------------------------


async def test_promote_a_passed_job_is_idempotent_at_the_registry(
    api: httpx.AsyncClient, registry: httpx.AsyncClient, trained: dict[str, dict[str, Any]]
) -> None:
    job = trained["good"]
    path = f"/trainer/jobs/{job['id']}/promote"
    latest = (await api.get(f"/trainer/jobs/{job['id']}/evaluation")).json()
    assert latest["passed"] is True, latest["results"].get("failed_thresholds")

    first = await api.post(path, json={"metadata": {"reviewer": "ai_engineer_123"}})
    assert first.status_code == 201, first.text
    promotion = first.json()
    assert promotion["promoted"] is True
    assert promotion["evaluation_id"] == latest["id"]
    assert promotion["promotion_metadata"]["reviewer"] == "ai_engineer_123"
    ids = [promotion[f"registry_{k}_id"] for k in ("model", "version", "binding")]
    assert all(isinstance(i, str) and i.isdigit() for i in ids), ids

    second = await api.post(path)  # no body at all: the contract makes it optional
    assert second.status_code == 201, second.text
    assert second.json()["id"] == promotion["id"]  # a replay returns the same promotion
    assert [second.json()[f"registry_{k}_id"] for k in ("model", "version", "binding")] == ids

    # The pipeline's own promotion reached the same registry records.
    auto = job["promotion"]
    assert [auto[f"registry_{k}_id"] for k in ("model", "version", "binding")] == ids
    binding = (await registry.get(f"/bindings/{ids[2]}")).json()
    assert binding["provider_model_id"] == job["providerModelId"]
    assert str(binding["version_id"]) == ids[1]
    reread = (await api.get(f"/trainer/jobs/{job['id']}")).json()["promotion"]
    assert reread["id"] == second.json()["id"]


async def test_promote_without_force_after_a_failed_evaluation_is_400(
    api: httpx.AsyncClient, trained: dict[str, dict[str, Any]]
) -> None:
    job = trained["unsafe"]
    assert job["evaluation"]["status"] == "failed", job["evaluation"]
    assert job["promotion"] is None
    body = envelope(await api.post(f"/trainer/jobs/{job['id']}/promote", json={}), 400)
    assert body["error_code"] == "evaluation_not_passed"
    assert "failed" in body["detail"] and "force" in body["detail"]
    assert (await api.get(f"/trainer/jobs/{job['id']}")).json()["promotion"] is None


# ---- stats and health ----------------------------------------------------------------------


async def test_stats_follow_the_contract_and_agree(
    api: httpx.AsyncClient, trained: dict[str, dict[str, Any]]
) -> None:
    for _ in range(20):  # jobs of other tests may move between the two reads
        stats = await api.get("/stats")
        trainer_stats = await api.get("/trainer/stats")
        assert stats.status_code == trainer_stats.status_code == 200
        if stats.json() == trainer_stats.json():
            break
        await asyncio.sleep(0.2)
    assert stats.json() == trainer_stats.json()
    s = stats.json()
    assert CONTRACT_STATS <= set(s)  # the contract's fields, and our breakdowns beside them
    assert s["total_jobs"] >= s["completed_jobs"] + s["failed_jobs"] + s["active_jobs"]
    assert s["completed_jobs"] >= 2  # the two trained jobs
    assert s["total_evaluations"] >= s["passed_evaluations"] + s["failed_evaluations"]
    assert s["passed_evaluations"] >= 1 and s["failed_evaluations"] >= 1
    assert 1 <= s["successful_promotions"] <= s["total_promotions"]
    assert s["total_training_cost"] >= trained["good"]["trainingCost"] > 0
    assert s["average_training_time"] >= 0  # completed jobs exist, so there is a mean


async def test_health_is_200_when_everything_is_reachable(api: httpx.AsyncClient) -> None:
    response = await api.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    assert {"database", "temporal", "openai"} <= set(body["checks"])
    assert set(body["checks"].values()) == {"healthy"}, body["checks"]


async def test_health_is_503_naming_an_unreachable_provider(settings: Settings) -> None:
    broken = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1"})
    async with (
        serve_app(create_app(broken)) as url,
        httpx.AsyncClient(base_url=url, event_hooks={"response": [_no_leaks]}) as client,
    ):
        response = await client.get("/health")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["openai"].startswith("unhealthy")
    assert body["checks"]["database"] == body["checks"]["temporal"] == "healthy"
