"""The real model path: the self-hosted tiny model, trained for real in a GPU worker and
served by the inference server, is evaluated with the sample job's real thresholds
(pedagogy 0.6, safety 0.8). Its report shows low scores with honest intervals (never
zero-width, each with its method), warns that three samples a suite cannot tell a model at
the threshold from one below it, and the gate refuses it: the job completes unpromoted,
the decision stored with the numbers it was made on."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.evaluation.power import required_samples
from core.settings import Settings
from tests.support.jobs import wait_for_job
from tests.support.self_hosted_stack import SelfHostedStack, self_hosted_stack
from tests.support.tiny_model import TINY_MODEL_NAME

EXAMPLE_JOB = Path(__file__).resolve().parents[1] / "examples" / "job-self-hosted.json"
TRAINING_TIMEOUT = 420.0
# Enough for a real adapter, few enough for a CPU; the report, not the training, is tested.
QUICK_STEPS = 10


@pytest.fixture(scope="module")
async def stack(
    settings: Settings,
    temporal_client: Client,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[SelfHostedStack]:
    async with self_hosted_stack(
        settings, temporal_client, tmp_path_factory.mktemp("self-hosted-report")
    ) as running:
        yield running


def example_job() -> dict[str, Any]:
    """examples/job-self-hosted.json, its thresholds as shipped, trained for fewer steps."""
    body: dict[str, Any] = copy.deepcopy(json.loads(EXAMPLE_JOB.read_text(encoding="utf-8")))
    body["name"] = "tiny-tutor-report"
    body["baseModel"] = TINY_MODEL_NAME
    body["config"] = {**body["config"], "max_steps": QUICK_STEPS}
    return body


def assert_honest(interval: dict[str, Any], what: str) -> None:
    assert interval["n"] > 1, (what, interval)
    assert interval["method"] not in (None, "none"), (what, interval)
    low, mean, high = interval["low"], interval["mean"], interval["high"]
    assert low <= mean <= high, (what, interval)
    assert high > low, (what, interval)  # no zero-width interval for n > 1


async def test_tiny_model_report_is_honest_and_the_gate_refuses_it(
    stack: SelfHostedStack,
) -> None:
    await stack.start_gpu_worker()
    body = example_job()
    assert body["policy"]["thresholds"] == {"pedagogy_score": 0.6, "safety_score": 0.8}
    response = await stack.api.post("/trainer/jobs", json=body)
    assert response.status_code == 201, response.text
    job = response.json()
    done = await wait_for_job(stack.api, job["id"], timeout=TRAINING_TIMEOUT)

    # Failing the thresholds is an evaluation result: the job completes, unpromoted.
    assert done["status"] == "completed", done.get("errorMessage")
    assert done["evaluation"]["status"] == "failed", done["evaluation"]
    assert done["evaluation"]["passed"] is False
    assert done["promotion"] is None

    response = await stack.api.get(f"/trainer/jobs/{job['id']}/evaluation")
    assert response.status_code == 200, response.text
    report = response.json()
    results = report["results"]
    assert report["model"] == done["providerModelId"]

    # Every suite scored its few samples, each with a method and an interval of real width.
    suites = results["suites"]
    assert {s["category"] for s in suites} >= {"pedagogy", "safety"}
    for suite in suites:
        scored = suite["passed"] + suite["failed"]
        assert 1 < scored <= 3, suite
        assert suite["interval_method"] not in (None, "none"), suite
        assert suite["ci_low"] <= suite["mean"] <= suite["ci_high"], suite
        assert suite["ci_high"] > suite["ci_low"], suite
    for name in ("pedagogy", "safety", "overall"):
        assert_honest(report[name], name)

    # Low scores: a tiny random model does not teach; the point score is under its bar.
    assert report["pedagogy_score"] < 0.6, report["pedagogy"]

    # The gate refused it, and says on which numbers: each threshold's gate, the value it
    # compared (the mean, or the interval's lower bound), n, the interval and the method.
    gates = {g["score"]: g for g in report["gates"]}
    assert set(gates) == {"pedagogy_score", "safety_score"}
    for score, threshold in body["policy"]["thresholds"].items():
        gate = gates[score]
        assert gate["threshold"] == threshold
        assert gate["n"] == report[score.removesuffix("_score")]["n"]
        assert gate["method"] == report[score.removesuffix("_score")]["method"]
        compared = gate["ci_low"] if gate["gate"] == "lower_bound" else gate["mean"]
        assert gate["value"] == compared
        assert gate["passed"] is (gate["value"] >= threshold)
    assert gates["pedagogy_score"]["passed"] is False
    # Safety is decided on its lower bound: a handful of samples cannot show 0.8.
    assert gates["safety_score"]["gate"] == "lower_bound"
    assert gates["safety_score"]["passed"] is False
    failed = results["failed_thresholds"]
    assert [line.split()[0] for line in failed] == ["pedagogy_score", "safety_score"], failed

    # Three samples a suite are far from what telling 0.6 from 0.55 needs: said so.
    warnings = results["warnings"]
    needed = required_samples(0.6)
    for suite in suites:
        if suite["category"] == "pedagogy":
            assert any(
                w.startswith(f"{suite['suite']}: ") and f"{needed} needed" in w for w in warnings
            ), warnings

    # Nor can it be promoted by asking: only an admin's force would override the gate.
    response = await stack.api.post(f"/trainer/jobs/{job['id']}/promote", json={})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "evaluation_not_passed"
