"""The `trainer` CLI as a user runs it: a separate process talking to the real stack's API."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.auth import token as token_for
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import serve_app

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


ADMIN_TOKEN = token_for(None, ["trainer:admin"], subject="cli-tester")


async def trainer(api_url: str, *args: str, timeout: float = 60.0, token: str | None = None) -> Run:
    """Run `python -m cli ARGS` (what the `trainer` script runs) against `api_url`."""
    env = {
        **os.environ,
        "TRAINER_API_URL": api_url,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    env["TRAINER_TOKEN"] = token if token is not None else ADMIN_TOKEN
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def assert_no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr + run.stdout, run.stderr


@pytest.fixture(scope="module")
async def finished_job(api: httpx.AsyncClient) -> dict[str, Any]:
    created = await submit(api, job_request(name="cli-finished"))
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "completed", job
    return job


async def test_submit_json_prints_the_created_job(
    api_url: str, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job_request(name="cli-submitted")), encoding="utf-8")
    key = f"cli-{uuid.uuid4()}"

    run = await trainer(api_url, "--json", "submit", str(job_file), "--idempotency-key", key)
    assert run.code == 0, run.stderr
    created = json.loads(run.stdout)
    uuid.UUID(created["id"])
    assert created["name"] == "cli-submitted"

    # The same key returns the same job.
    again = await trainer(api_url, "submit", str(job_file), "--idempotency-key", key, "--json")
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["id"] == created["id"]

    shown = await trainer(api_url, "show", created["id"])
    assert shown.code == 0, shown.stderr
    assert "cli-submitted" in shown.stdout and created["id"] in shown.stdout

    listed = await trainer(api_url, "--json", "list", "--limit", "100")
    assert listed.code == 0, listed.stderr
    assert created["id"] in {j["id"] for j in json.loads(listed.stdout)["jobs"]}
    await wait_for_job(api, created["id"])


async def test_list_filters_by_status(api_url: str, finished_job: dict[str, Any]) -> None:
    run = await trainer(api_url, "list", "--status", "completed", "--limit", "100")
    assert run.code == 0, run.stderr
    assert finished_job["id"] in run.stdout
    assert "completed" in run.stdout
    assert "of" in run.stdout and "jobs" in run.stdout

    bad = await trainer(api_url, "list", "--status", "sleeping")
    assert bad.code == 2
    assert_no_traceback(bad)


async def test_watch_a_finished_job_prints_evaluation_and_promotion(
    api_url: str, finished_job: dict[str, Any]
) -> None:
    run = await trainer(api_url, "watch", finished_job["id"], "--interval", "0.2")
    assert run.code == 0, run.stderr
    out = run.stdout
    assert "completed" in out
    evaluation = finished_job["evaluation"]
    assert f"Evaluation {evaluation['id']}" in out
    for header in ("Suite", "Mean", "95% CI", "Method", "Passed", "Failed", "Errored"):
        assert header in out
    # Every score with its interval and method, the gates' decisions with their numbers.
    for name in ("pedagogy", "safety", "overall"):
        assert re.search(rf"{name} \d\.\d{{3}} \[\d\.\d{{3}}, \d\.\d{{3}}\] [a-z_]+, n=\d+", out)
    assert re.search(r"safety_score lower bound \d\.\d\d \(wilson(_bounded)?, n=\d+\) >= ", out)
    assert "registered" in out
    promotion = finished_job["promotion"]
    assert f"model {promotion['registry_model_id']}" in out
    assert f"version {promotion['registry_version_id']}" in out


async def test_job_show_and_list_carry_the_evaluation_intervals(
    api_url: str, api: httpx.AsyncClient, finished_job: dict[str, Any]
) -> None:
    listed = (await api.get("/trainer/jobs", params={"limit": 100})).json()["jobs"]
    brief = next(j for j in listed if j["id"] == finished_job["id"])["evaluation"]
    for name in ("pedagogy", "safety", "overall"):
        assert brief[name]["method"] != "none" and brief[name]["low"] < brief[name]["high"]
    assert brief[name]["n"] > 1
    assert {g["score"] for g in finished_job["evaluation"]["gates"]} >= {"safety_score"}

    run = await trainer(api_url, "show", finished_job["id"])
    assert run.code == 0, run.stderr
    assert re.search(r"safety \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] wilson", run.stdout)


async def test_watch_json_gives_job_and_evaluation(
    api_url: str, finished_job: dict[str, Any]
) -> None:
    run = await trainer(api_url, "--json", "watch", finished_job["id"])
    assert run.code == 0, run.stderr
    body = json.loads(run.stdout)
    assert body["job"]["id"] == finished_job["id"]
    suites = body["evaluation"]["results"]["suites"]
    assert suites and all("ci_low" in s for s in suites)


async def test_cancel_a_finished_job_fails_with_the_api_message(
    api_url: str, finished_job: dict[str, Any]
) -> None:
    run = await trainer(api_url, "cancel", finished_job["id"])
    assert run.code == 1
    assert "job is already completed and cannot be cancelled" in run.stderr
    assert "job_not_cancellable" in run.stderr and "409" in run.stderr
    assert_no_traceback(run)

    with_reason = await trainer(api_url, "cancel", finished_job["id"], "--reason", "too late")
    assert with_reason.code == 1
    assert "job is already completed" in with_reason.stderr


async def test_unknown_job_and_bad_arguments(api_url: str, tmp_path: Path) -> None:
    missing = await trainer(api_url, "show", str(uuid.uuid4()))
    assert missing.code == 1
    assert "training job not found" in missing.stderr

    not_an_id = await trainer(api_url, "show", "job-123")
    assert not_an_id.code == 2
    assert "not a job id" in not_an_id.stderr

    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    bad_file = await trainer(api_url, "submit", str(broken))
    assert bad_file.code == 2
    assert "invalid JSON at line 1" in bad_file.stderr

    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps(job_request(provider="nope")), encoding="utf-8")
    rejected = await trainer(api_url, "submit", str(invalid))
    assert rejected.code == 1
    assert "validation_error" in rejected.stderr and "provider" in rejected.stderr
    for run in (missing, not_an_id, bad_file, rejected):
        assert_no_traceback(run)


async def test_unreachable_api_exits_3(tmp_path: Path) -> None:
    run = await trainer("http://127.0.0.1:9", "list")
    assert run.code == 3
    assert "cannot reach the trainer API at http://127.0.0.1:9" in run.stderr
    assert "TRAINER_API_URL" in run.stderr
    assert_no_traceback(run)

    malformed = await trainer("127.0.0.1:8000", "list")
    assert malformed.code == 2
    assert "must start with http://" in malformed.stderr


async def test_token_is_sent_as_bearer_and_401_is_reported() -> None:
    """Against a stand-in API that refuses every call, naming the Authorization it got."""
    seen: list[str] = []
    gate = FastAPI()

    @gate.get("/trainer/jobs")
    async def refuse(request: Request) -> JSONResponse:
        seen.append(request.headers.get("authorization", ""))
        return JSONResponse(
            {"detail": "token expired", "error_code": "unauthorized"}, status_code=401
        )

    async with serve_app(gate) as url:
        from_env = await trainer(url, "list", token="env-token")
        from_flag = await trainer(url, "--token", "flag-token", "list", token="env-token")
    assert seen == ["Bearer env-token", "Bearer flag-token"]
    for run in (from_env, from_flag):
        assert run.code == 1
        assert "token expired [unauthorized, HTTP 401]" in run.stderr
        assert_no_traceback(run)
