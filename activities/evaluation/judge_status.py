"""What an evaluation records about its rubric judge: the judge model, the prompt version
and, per model-graded suite, whether the latest calibration of that judge lets the suite
trust it (`calibrated`), shows it does not (`uncalibrated`), or is missing (`unknown`: never
calibrated for this judge model and prompt version, or over a gold set changed since, or a
custom suite, which has no gold set). Only `calibrated` suites are trusted; the others are
named in the evaluation's report, not hidden."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from activities.evaluation.calibration import gold_sha256, is_calibrated, suite_judge_model
from activities.evaluation.graders.judge import JUDGE_PROMPT_VERSION
from core.evaluation import EvaluationEndpointSettings, EvaluationSummary
from core.evaluation_suites import (
    GOLD_DIR,
    is_model_graded,
    list_builtin_suites,
    load_builtin_suite,
)
from core.judge_calibration import JudgeRecord, SuiteCalibration, SuiteJudgeStatus
from core.settings import Settings
from store import judge_calibrations


def suite_status(name: str, stored: SuiteCalibration | None, floor: float) -> SuiteJudgeStatus:
    if (
        stored is None
        or not (GOLD_DIR / f"{name}.yaml").is_file()
        or stored.gold_sha256 != gold_sha256(name)
    ):
        return SuiteJudgeStatus(suite=name, status="unknown")
    return SuiteJudgeStatus(
        suite=name,
        status="calibrated" if is_calibrated(stored, floor) else "uncalibrated",
        agreement=stored.agreement,
        kappa=stored.kappa,
        n=stored.n,
    )


def model_graded(names: Iterable[str]) -> list[str]:
    """The built-in suites among `names` that a judge grades."""
    builtin = set(list_builtin_suites())
    return [n for n in names if n in builtin and is_model_graded(load_builtin_suite(n))]


async def judge_record(
    pool: asyncpg.Pool,
    judge_model: str,
    suites: Iterable[str],
    *,
    floor: float,
    custom_judged: Iterable[str] = (),
) -> JudgeRecord:
    """The judge and its calibration on each model-graded suite of an evaluation."""
    graded = model_graded(suites)
    by_model: dict[str, list[str]] = {}
    for name in graded:
        model = suite_judge_model(load_builtin_suite(name), judge_model)
        by_model.setdefault(model, []).append(name)
    stored: dict[str, SuiteCalibration] = {}
    for model, names in by_model.items():
        stored |= await judge_calibrations.latest_calibrations(
            pool, model, JUDGE_PROMPT_VERSION, names
        )
    statuses = [suite_status(name, stored.get(name), floor) for name in graded]
    statuses += [SuiteJudgeStatus(suite=name, status="unknown") for name in custom_judged]
    return JudgeRecord(
        model=judge_model,
        prompt_version=JUDGE_PROMPT_VERSION,
        agreement_floor=floor,
        suites=statuses,
    )


async def with_judge_record(
    pool: asyncpg.Pool,
    summary: EvaluationSummary,
    settings: Settings,
    *,
    custom_judged: Iterable[str] = (),
) -> EvaluationSummary:
    """The summary with its judge record (nothing to record when no suite was scored);
    `custom_judged` names the request's own suites the judge graded."""
    if not summary.suites:
        return summary
    record = await judge_record(
        pool,
        EvaluationEndpointSettings.from_settings(settings).judge_model,
        [s.suite for s in summary.suites],
        floor=settings.eval_judge_agreement_floor,
        custom_judged=custom_judged,
    )
    return summary.model_copy(update={"judge": record})
