"""Summarise an evaluation: suite scores come from the workflow, the per-sample scores the
intervals need from PostgreSQL (both the small and the fan-out path saved them there), so
workflow payloads stay aggregate-only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from temporalio.exceptions import ApplicationError

from activities.evaluation.intervals import (
    Resampling,
    SampleKey,
    SampleScores,
    paired_delta,
    sample_clusters,
)
from activities.evaluation.judge_status import with_judge_record
from activities.evaluation.power import with_power_warnings
from activities.evaluation.scoring import summarize
from core.evaluation import EvaluationSummary, SuiteScore
from core.evaluation_suites import Suite, is_model_graded, list_builtin_suites
from core.metrics import record_evaluation
from core.settings import Settings
from core.steps import FinishEvaluationInput, SuiteRef
from store import evaluations, samples
from store.rows import EvaluationRow

SuiteLoader = Callable[[EvaluationRow, SuiteRef], Awaitable[Suite]]


def resampling(settings: Settings) -> Resampling:
    return Resampling(resamples=settings.eval_bootstrap_resamples, seed=settings.eval_interval_seed)


async def _suite_definitions(
    pool: asyncpg.Pool, evaluation_id: str, suites: Sequence[SuiteScore], load_suite: SuiteLoader
) -> dict[str, Suite]:
    """The scored suites' definitions (one whose definition is gone is left out: its
    samples count as independent, and its judge as unknown)."""
    if not suites:
        return {}
    evaluation = await evaluations.load_evaluation(pool, evaluation_id)
    definitions: dict[str, Suite] = {}
    for score in suites:
        try:
            definitions[score.suite] = await load_suite(
                evaluation, SuiteRef(name=score.suite, category=score.category)
            )
        except ApplicationError:
            continue
    return definitions


def _clusters(definitions: dict[str, Suite]) -> dict[SampleKey, str]:
    """(suite, sample id) -> cluster, from the suites' definitions (group or prompt)."""
    return {
        (name, sample_id): key
        for name, suite in definitions.items()
        for sample_id, key in sample_clusters(suite).items()
    }


def _custom_judged(definitions: dict[str, Suite]) -> list[str]:
    """The request's own suites that the judge graded: no gold set, so never calibrated."""
    builtin = set(list_builtin_suites())
    return [n for n, s in definitions.items() if n not in builtin and is_model_graded(s)]


async def summarise_evaluation(
    pool: asyncpg.Pool,
    settings: Settings,
    finish: FinishEvaluationInput,
    load_suite: SuiteLoader,
) -> EvaluationSummary:
    """Scores, intervals, paired deltas and the judge's calibration record of one
    evaluation; stored and recorded."""
    how = resampling(settings)
    candidate = (
        await samples.sample_scores(pool, finish.evaluation_id, "candidate")
        if finish.suites
        else {}
    )
    baseline = (
        await samples.sample_scores(pool, finish.evaluation_id, "baseline")
        if finish.baseline_suites
        else {}
    )
    definitions = await _suite_definitions(pool, finish.evaluation_id, finish.suites, load_suite)
    clusters = _clusters(definitions)
    deltas = [
        paired_delta(
            {key: v for key, v in candidate.items() if key[0] == s.suite},
            baseline,
            suite=s.suite,
            clusters=clusters,
            resampling=how,
        )
        for s in finish.suites
        if finish.baseline_suites
    ]
    summary = summarize(
        finish.suites,
        finish.thresholds,
        finish.weights,
        max_error_rate=settings.eval_max_error_rate,
        baseline=finish.baseline_suites,
        deltas=deltas,
        samples=SampleScores(candidate=candidate, baseline=baseline, clusters=clusters),
        resampling=how,
        gates=finish.gates,
    )
    if finish.error_message:
        # The suite that could not run is the cause; "no suites were evaluated" (when
        # nothing came back) would only hide it.
        own = summary.error_message if finish.suites else None
        message = "; ".join(m for m in (finish.error_message, own) if m)
        summary = summary.model_copy(
            update={"status": "error", "passed": False, "error_message": message}
        )
    summary = with_power_warnings(summary)
    summary = await with_judge_record(
        pool, summary, settings, custom_judged=_custom_judged(definitions)
    )
    await evaluations.finish_evaluation(pool, finish.evaluation_id, summary)
    record_evaluation(
        summary.status,
        {
            "pedagogy": summary.pedagogy_score,
            "safety": summary.safety_score,
            "overall": summary.overall_score,
        },
    )
    return summary
