"""Schemathesis against the published spec (docs/api/rest/model-trainer.yaml), on the real
stack: every check (`--checks all`, less use_after_free: DELETE cancels a job, which stays
readable), all four phases including the stateful one, a bounded
number of examples. The run must find no server error, no response that breaks the documented
schema or status codes, and nothing else its checks look for.

A finished job is made first, and its id (and its evaluation's) is given for path
parameters half of the time, so requests reach the job-specific logic and not only its 404s.
The seed is fixed so a failure reproduces; `tests/schemathesis.toml` holds the few settings
the checks need about this API (see the comments there).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx

from api.openapi_export import SPEC_PATH
from tests.conftest import ADMIN_HEADERS
from tests.support.auth import bearer
from tests.support.jobs import job_request, submit, wait_for_job

CONFIG_PATH = Path(__file__).parent / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "st"
PHASES = "examples,coverage,fuzzing,stateful"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))  # per operation and phase
SEED = 20261201
# Generous: the run is bounded by its example count, this only stops a hung run.
RUN_TIMEOUT_SECONDS = 900


def _run_config(tmp_path: Path, job_ids: list[str], evaluation_ids: list[str]) -> Path:
    """The checked-in settings, plus real ids for path parameters half of the time, so
    generated requests reach the job-specific logic rather than only its 404s."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG_PATH.read_text(encoding="utf-8")
        + f"""
[dictionaries.jobs]
values = {json.dumps(job_ids)}

[dictionaries.evaluations]
values = {json.dumps(evaluation_ids)}

[parameters]
"path.job_id" = {{ dictionary = "jobs", probability = 0.5 }}
"path.evaluation_id" = {{ dictionary = "evaluations", probability = 0.5 }}
""",
        encoding="utf-8",
    )
    return config


async def _finished_job(api_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=ADMIN_HEADERS) as api:
        created = await submit(api, job_request(policy={"scope": "tenant_schemathesis"}))
        return await wait_for_job(api, created["id"], until={"completed"})


async def test_schemathesis_finds_no_failure(api_url: str, tmp_path: Path) -> None:
    assert SCHEMATHESIS.exists(), "schemathesis is a dev extra: pip install -e '.[dev]'"
    job = await _finished_job(api_url)
    config = _run_config(tmp_path, [job["id"]], [job["evaluation"]["id"]])
    # An admin with a home tenant: it may act on every tenant, and names one where needed.
    token = bearer(
        "tenant_schemathesis", ["trainer:admin"], subject="schemathesis", expires_in=7200
    )
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        str(SPEC_PATH),
        "--url",
        api_url,
        "--checks",
        "all",
        # The one DELETE (/trainer/jobs/{id}) cancels the job, as the contract says, and the
        # job stays readable with status `cancelled`: a read after it is no use-after-free.
        "--exclude-checks",
        "use_after_free",
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        "-H",
        f"Authorization: {token['Authorization']}",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        raise
    text = output.decode("utf-8", "replace")
    print(text[-4_000:])  # the run's summary, in the test log
    assert process.returncode == 0, text[-30_000:]
    # Every operation of the spec was tested, and the stateful phase ran scenarios.
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", text)
    assert selected is not None and selected[1] == selected[2], text[-5_000:]
    scenarios = re.search(r"Scenarios:\s+(\d+)", text)
    assert scenarios is not None and int(scenarios[1]) > 0, text[-5_000:]
