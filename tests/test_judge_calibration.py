"""Judge calibration: the agreement statistics, the gold sets, the emulator's judge agreeing
with the human verdicts for the reasons it is built on, a random judge failing, the command,
and what an evaluation records about its judge."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import httpx2
import pytest
from openai import AsyncOpenAI
from rich.console import Console
from typer.testing import CliRunner

from activities.evaluation.agreement import agreement, cohen_kappa, confusion
from activities.evaluation.calibration import (
    calibrate_suite,
    format_table,
    gold_sha256,
    is_calibrated,
    run_calibration,
)
from activities.evaluation.graders.base import GradeContext
from activities.evaluation.graders.judge import (
    GRADE_SCHEMA,
    JUDGE_PROMPT_VERSION,
    JUDGE_SYSTEM_PROMPT,
)
from activities.evaluation.graders.pii import find_pii
from activities.evaluation.judge_status import judge_record, with_judge_record
from cli.main import app
from cli.models import Evaluation
from cli.render_evaluation import evaluation_view
from core.db import open_database
from core.evaluation import EvaluationSummary, SuiteCategory, SuiteScore, Thresholds
from core.evaluation_suites import (
    list_builtin_suites,
    load_builtin_suite,
    load_gold_set,
    model_graded_builtin_suites,
)
from core.judge_calibration import Confusion, SuiteCalibration
from core.settings import Settings
from store.judge_calibrations import latest_calibrations, save_calibration
from tests.support.jobs import job_request, submit, wait_for_job

REPO = Path(__file__).resolve().parents[1]
FLOOR = 0.8
JUDGE = "gpt-4o-mini-2024-07-18"
# The judge prompt and reply schema that JUDGE_PROMPT_VERSION names: changing either must
# bump the version, or stored calibrations would vouch for a judge they never measured.
PROMPT_SHA = {"rubric-1": "6b0f8359de30d4b0"}


# ---- agreement statistics ------------------------------------------------------------


def test_confusion_counts_human_verdicts_as_truth() -> None:
    pairs = [(True, True)] * 3 + [(False, True)] * 2 + [(True, False)] + [(False, False)] * 4
    assert confusion(pairs) == Confusion(tp=3, fp=2, fn=1, tn=4)


@pytest.mark.parametrize(
    ("matrix", "expected_agreement", "expected_kappa"),
    [
        (Confusion(tp=10, tn=10), 1.0, 1.0),
        (Confusion(fp=10, fn=10), 0.0, -1.0),
        # p_o = 35/50; humans pass 25, the judge 30: p_e = (25*30 + 25*20)/50^2 = 0.5.
        (Confusion(tp=20, fn=5, fp=10, tn=15), 0.7, 0.4),
        # Every human verdict a pass, the judge passes 15 of 20: p_o = p_e = 0.75.
        (Confusion(tp=15, fn=5), 0.75, 0.0),
    ],
)
def test_agreement_and_kappa_on_known_matrices(
    matrix: Confusion, expected_agreement: float, expected_kappa: float
) -> None:
    assert agreement(matrix) == pytest.approx(expected_agreement)
    assert cohen_kappa(matrix) == pytest.approx(expected_kappa)


@pytest.mark.parametrize("matrix", [Confusion(tp=20), Confusion(tn=7)])
def test_kappa_is_undefined_when_both_raters_use_one_class(matrix: Confusion) -> None:
    assert agreement(matrix) == 1.0
    assert cohen_kappa(matrix) is None


def test_nothing_graded_has_no_agreement() -> None:
    assert agreement(Confusion()) is None and cohen_kappa(Confusion()) is None


# ---- gold sets ---------------------------------------------------------------------------


def test_every_model_graded_suite_has_a_balanced_gold_set() -> None:
    graded = model_graded_builtin_suites()
    assert graded and set(graded) <= set(list_builtin_suites())
    for name in graded:
        gold = load_gold_set(name)
        passes = sum(item.passed for item in gold.items)
        assert len(gold.items) >= 20, name
        # Both verdicts, roughly balanced: a one-class set could not tell a judge from chance.
        assert 0.4 <= passes / len(gold.items) <= 0.6, name
        suite_ids = {s.id for s in load_builtin_suite(name).samples}
        assert {item.sample for item in gold.items} <= suite_ids
        for item in gold.items:
            assert not find_pii(item.answer), (name, item.sample)


def test_prompt_version_names_this_prompt() -> None:
    text = JUDGE_SYSTEM_PROMPT + json.dumps(GRADE_SCHEMA, sort_keys=True)
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == PROMPT_SHA[JUDGE_PROMPT_VERSION], (
        "the judge prompt changed: bump JUDGE_PROMPT_VERSION and record its hash here"
    )


# ---- the emulator's judge and a random one -------------------------------------------------


def emulator_settings(openai_emulator: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        openai_base_url=f"{openai_emulator}/v1",
        openai_api_key="sk-test-not-a-real-key",
        **extra,
    )


async def test_emulator_judge_calibrates_every_suite(openai_emulator: str) -> None:
    """Through the real SDK and the evaluation's judge endpoint: key-point coverage,
    refusal detection and unsafe words agree with the human grader on every suite."""
    suites = model_graded_builtin_suites()
    results = await run_calibration(emulator_settings(openai_emulator), suites, pool=None)
    assert [r.suite for r in results] == suites
    for result in results:
        assert result.errored == 0 and result.n == len(load_gold_set(result.suite).items)
        assert result.judge_model == JUDGE and result.prompt_version == JUDGE_PROMPT_VERSION
        assert is_calibrated(result, FLOOR), (result.suite, result.agreement)
        assert result.kappa is not None and result.kappa > 0.6, result.suite
    table = format_table(results, FLOOR)
    assert "uncalibrated" not in table and table.count("calibrated") == len(suites)


def random_judge(seed: int) -> AsyncOpenAI:
    """An OpenAI-compatible judge that ignores the answer and passes or fails it at random."""
    rng = random.Random(seed)

    def reply(request: httpx2.Request) -> httpx2.Response:
        passed = rng.random() < 0.5
        verdict = {"score": 1.0 if passed else 0.0, "passed": passed, "rationale": "coin"}
        model = json.loads(request.content)["model"]
        return httpx2.Response(
            200,
            json={
                "id": "chatcmpl-random",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": json.dumps(verdict)},
                    }
                ],
            },
        )

    return AsyncOpenAI(
        base_url="http://random-judge.invalid/v1",
        api_key="unused",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(reply)),
    )


async def test_a_judge_answering_at_random_fails_calibration() -> None:
    client = random_judge(seed=7)
    ctx = GradeContext(client=client, judge_model="coin-flip", semaphore=asyncio.Semaphore(8))
    try:
        results = [await calibrate_suite(name, ctx) for name in model_graded_builtin_suites()]
    finally:
        await client.close()
    for result in results:
        assert result.errored == 0
        assert not is_calibrated(result, FLOOR), (result.suite, result.agreement)
    pooled = Confusion(
        **{
            cell: sum(getattr(r.confusion, cell) for r in results)
            for cell in Confusion.model_fields
        }
    )
    pooled_kappa, pooled_agreement = cohen_kappa(pooled), agreement(pooled)
    assert pooled_kappa is not None and abs(pooled_kappa) < 0.15
    assert pooled_agreement is not None and abs(pooled_agreement - 0.5) < 0.1


# ---- the command, stored results and the evaluation's judge record ----------------------


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    opened = await open_database(database_url, max_size=2)
    await opened.execute("DELETE FROM judge_calibrations")
    try:
        yield opened
    finally:
        await opened.close()


async def test_command_prints_the_table_and_stores_each_suite(
    openai_emulator: str, database_url: str, pool: asyncpg.Pool
) -> None:
    env = os.environ | {
        "OPENAI_BASE_URL": f"{openai_emulator}/v1",
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "DATABASE_URL": database_url,
        "EVAL_JUDGE_MODEL": JUDGE,
    }
    args = ["--suite", "content_accuracy", "--suite", "harmful_content"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "activities.evaluation.calibration",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith(f"judge {JUDGE} · prompt {JUDGE_PROMPT_VERSION}")
    assert lines[1].split() == [
        "suite", "n", "agree", "kappa", "TP", "FP", "FN", "TN", "err", "status"
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"content_accuracy", "harmful_content"}
    assert rows["harmful_content"][1] == str(len(load_gold_set("harmful_content").items))
    assert all(row[-1] == "calibrated" for row in rows.values())
    stored = await latest_calibrations(
        pool, JUDGE, JUDGE_PROMPT_VERSION, ["content_accuracy", "harmful_content"]
    )
    assert set(stored) == {"content_accuracy", "harmful_content"}
    assert stored["content_accuracy"].gold_sha256 == gold_sha256("content_accuracy")


def test_cli_subcommand_is_registered_and_checks_suites() -> None:
    result = CliRunner().invoke(app, ["calibrate-judge", "--suite", "no_such_suite"])
    assert result.exit_code == 2
    assert "'no_such_suite'" in result.output and "harmful_content" in result.output
    # A control character in the name is shown escaped, never written raw to the terminal.
    hostile = CliRunner().invoke(app, ["calibrate-judge", "--suite", "a\x1b[2Jb"])
    assert hostile.exit_code == 2
    assert "\x1b" not in hostile.output and "'a\\x1b[2Jb'" in hostile.output


def stored(suite: str, agreement_value: float, **fields: Any) -> SuiteCalibration:
    return SuiteCalibration.model_validate(
        {
            "suite": suite,
            "judge_model": JUDGE,
            "prompt_version": JUDGE_PROMPT_VERSION,
            "gold_sha256": gold_sha256(suite),
            "n": 20,
            "agreement": agreement_value,
            "kappa": 0.5,
            "confusion": {"tp": 8, "fp": 2, "fn": 2, "tn": 8},
        }
        | fields
    )


async def test_evaluation_records_judge_and_each_suites_calibration(pool: asyncpg.Pool) -> None:
    await save_calibration(pool, stored("content_accuracy", 0.7))  # older run, superseded
    await save_calibration(pool, stored("content_accuracy", 0.95))
    await save_calibration(pool, stored("bias_detection", 0.7))  # below the floor
    await save_calibration(pool, stored("harmful_content", 0.95, prompt_version="rubric-0"))
    await save_calibration(pool, stored("privacy_protection", 0.95, gold_sha256="0" * 64))
    names = [
        "content_accuracy",
        "bias_detection",
        "harmful_content",
        "privacy_protection",
        "engagement_quality",
        "my_custom_suite",  # not built in: no gold set
    ]
    record = await judge_record(pool, JUDGE, names, floor=FLOOR)
    assert record.model == JUDGE and record.prompt_version == JUDGE_PROMPT_VERSION
    status = {s.suite: s.status for s in record.suites}
    assert status == {
        "content_accuracy": "calibrated",
        "bias_detection": "uncalibrated",
        "harmful_content": "unknown",  # only calibrated under another prompt version
        "privacy_protection": "unknown",  # its gold set changed since
        "engagement_quality": "unknown",  # never calibrated
    }
    assert {s.suite for s in record.untrusted} == set(status) - {"content_accuracy"}

    score = SuiteScore(
        suite="bias_detection",
        category=SuiteCategory.safety,
        model="m",
        n=1,
        passed=1,
        failed=0,
        errored=0,
        mean=1.0,
        stderr=None,
        ci_low=0.2,
        ci_high=1.0,
    )
    summary = EvaluationSummary(
        status="passed",
        passed=True,
        pedagogy_score=None,
        safety_score=1.0,
        overall_score=1.0,
        suites=[score],
        thresholds=Thresholds(),
        failed_thresholds=[],
    )
    settings = Settings(_env_file=None, eval_judge_model=JUDGE, eval_judge_agreement_floor=0.6)
    recorded = await with_judge_record(pool, summary, settings)
    assert recorded.judge is not None and recorded.judge.agreement_floor == 0.6
    # 0.7 clears a floor of 0.6: the floor is the deployment's setting, not a constant.
    assert [(s.suite, s.status) for s in recorded.judge.suites] == [
        ("bias_detection", "calibrated")
    ]
    dumped = json.loads(recorded.model_dump_json())
    assert dumped["judge"]["suites"][0]["agreement"] == 0.7


async def test_a_jobs_evaluation_reports_its_judge_and_names_untrusted_suites(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    """End to end: the evaluation stored and returned by the API carries the judge record,
    and the CLI's report names the suites whose judge is not calibrated."""
    await save_calibration(pool, stored("content_accuracy", 0.95))
    await save_calibration(pool, stored("harmful_content", 0.6))
    created = await submit(api, job_request(name="judge-record"))
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "completed", job
    response = await api.get(f"/trainer/jobs/{created['id']}/evaluation")
    assert response.status_code == 200, response.text
    evaluation = response.json()
    judge = evaluation["results"]["judge"]
    assert judge["model"] == settings.eval_judge_model
    assert judge["prompt_version"] == JUDGE_PROMPT_VERSION
    assert judge["agreement_floor"] == settings.eval_judge_agreement_floor
    status = {s["suite"]: s["status"] for s in judge["suites"]}
    assert status == {
        "content_accuracy": "calibrated",
        "pedagogical_soundness": "unknown",
        "harmful_content": "uncalibrated",
        "privacy_protection": "unknown",
    }
    console = Console(width=200, record=True)
    console.print(evaluation_view(Evaluation.model_validate(evaluation)))
    shown = console.export_text()
    assert f"judge {settings.eval_judge_model} (prompt {JUDGE_PROMPT_VERSION})" in shown
    assert "harmful_content (uncalibrated, agreement 0.60 < 0.80)" in shown
    assert "privacy_protection (unknown)" in shown and "content_accuracy (" not in shown
