"""Recorded workflow histories replay against today's workflow code.

A change to a workflow that running executions would not survive (a step added, removed or
reordered without `workflow.patched`) fails here. The fixtures under
tests/fixtures/histories/ were recorded from the workflows as they are since they began to
own the job's lifecycle, call activities by reference and carry the job's facts in their
inputs (the promotion's too); re-record them only together with a `workflow.patched` change,
or with a change deployed once running executions have drained:

    RECORD_HISTORIES=1 .venv/bin/pytest -q tests/test_replay.py -k test_record_histories
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from core.settings import Settings
from tests.support.histories import record_scenarios, run_histories
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.reordered_workflow import ReorderedTrainingWorkflow
from worker import WORKFLOWS

FIXTURES = Path(__file__).parent / "fixtures" / "histories"


def replayer(workflows: list[type] = WORKFLOWS) -> Replayer:
    return Replayer(workflows=workflows, data_converter=pydantic_data_converter)


def fixture_histories() -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        for path in sorted(FIXTURES.glob("*.json"))
    ]


async def replay_all(
    histories: list[WorkflowHistory], workflows: list[type] = WORKFLOWS
) -> Mapping[str, Exception]:
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer(workflows).replay_workflows(each(), raise_on_replay_failure=False)
    return results.replay_failures


async def test_checked_in_histories_replay() -> None:
    histories = fixture_histories()
    names = {h.workflow_id.split(".")[0] for h in histories}
    # Every workflow type, and a training job that continued as new, are covered.
    assert {
        "training-completed",
        "training-continued-as-new",
        "training-cancelled-by-signal",
        "training-cancelled-by-workflow",
        "training-failed",
        "evaluation",
        "promotion",
        "dataset-check",
    } <= names
    assert await replay_all(histories) == {}


async def test_a_run_recorded_now_replays(api: httpx.AsyncClient, temporal_client: Client) -> None:
    created = await submit(api, job_request(name="replayed"))
    done = await wait_for_job(api, created["id"])
    assert done["status"] == "completed"
    histories = await run_histories(temporal_client, created["workflowId"])
    assert len(histories) == 1 and len(histories[0].events) > 20
    assert await replay_all(histories) == {}


async def test_a_changed_workflow_fails_replay() -> None:
    training = [h for h in fixture_histories() if h.workflow_id == "training-completed"]
    assert training
    failures = await replay_all(training, workflows=[ReorderedTrainingWorkflow])
    assert len(failures) == 1
    (failure,) = failures.values()
    assert "nondetermin" in str(failure).lower()


def scrub(value: Any) -> Any:
    """Drop what replay does not read and a fixture should not carry: stack traces (server
    paths) and worker identities (host names)."""
    if isinstance(value, dict):
        return {
            k: ("recorded-worker" if k == "identity" else scrub(v))
            for k, v in value.items()
            if k != "stackTrace"
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records the fixtures")
async def test_record_histories(
    api: httpx.AsyncClient, temporal_client: Client, emulator: httpx.AsyncClient, settings: Settings
) -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for old in FIXTURES.glob("*.json"):
        old.unlink()
    recorded = await record_scenarios(api, temporal_client, emulator, settings)
    for name, history in recorded.items():
        scrubbed = scrub(history.to_json_dict())
        (FIXTURES / f"{name}.json").write_text(json.dumps(scrubbed, indent=1) + "\n")
    assert await replay_all(fixture_histories()) == {}
