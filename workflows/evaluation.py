"""EvaluationWorkflow, and the evaluation steps the training workflow shares with it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.bookkeeping import BookkeepingActivities
    from activities.evaluation.activities import EvaluationActivities
    from core.evaluation import EvaluationSummary, SuiteScore
    from core.steps import (
        EvaluationPlan,
        FinishEvaluationInput,
        GradeSmallInput,
        RecordFailureInput,
        StartEvaluationInput,
        SuiteTask,
    )
    from workflows.failures import describe_failure
    from workflows.names import EVALUATION_WORKFLOW
    from workflows.options import BOOKKEEPING_TIMEOUT, OUTAGE_BUDGET, PATIENT_RETRY, QUICK_RETRY


async def _run_suites(
    start: StartEvaluationInput, plan: EvaluationPlan, model: str, role: str, deadline: datetime
) -> list[SuiteScore]:
    tasks = [
        SuiteTask(
            evaluation_id=start.evaluation_id,
            suite=suite,
            model=model,
            role=role,
            concurrency=plan.concurrency,
            timeout_seconds=plan.timeout_seconds,
        )
        for suite in plan.suites
    ]

    def run(task: SuiteTask) -> Awaitable[SuiteScore]:
        # harness_config.timeout bounds the whole evaluation, retries and queueing included:
        # a suite started late (parallel: false) gets only what is left.
        left = max(deadline - workflow.now(), timedelta(seconds=1))
        return workflow.execute_activity_method(
            EvaluationActivities.run_evaluation_suite,
            task,
            start_to_close_timeout=left,
            schedule_to_close_timeout=left,
            heartbeat_timeout=timedelta(seconds=start.heartbeat_seconds),
            retry_policy=QUICK_RETRY,
        )

    if plan.parallel:
        return list(await asyncio.gather(*(run(t) for t in tasks)))
    return [await run(t) for t in tasks]


async def evaluate(start: StartEvaluationInput) -> EvaluationSummary:
    """Plan; grade every suite for the candidate and the baseline (a small evaluation in
    one activity, a larger one an activity per suite and model); then summarise.

    However the evaluation stops (a step failing for good, a cancellation), its row is
    closed as `error` rather than left running.
    """
    try:
        return await _evaluate(start)
    except (Exception, asyncio.CancelledError) as err:
        stopped = is_cancelled_exception(err)
        message = "evaluation stopped: cancelled" if stopped else describe_failure(err)[1]
        await workflow.execute_activity_method(
            BookkeepingActivities.fail_evaluation_record,
            RecordFailureInput(record_id=start.evaluation_id, message=message),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            schedule_to_close_timeout=OUTAGE_BUDGET,
            retry_policy=PATIENT_RETRY,
        )
        raise


async def _evaluate(start: StartEvaluationInput) -> EvaluationSummary:
    # Recording and planning is a few quick queries: a local activity, like status writes.
    plan = await workflow.execute_local_activity_method(
        EvaluationActivities.start_evaluation,
        start,
        start_to_close_timeout=BOOKKEEPING_TIMEOUT,
        retry_policy=QUICK_RETRY,
    )
    if plan.small:
        return await _grade_small(start, plan)
    return await _grade_per_suite(start, plan)


async def _grade_small(start: StartEvaluationInput, plan: EvaluationPlan) -> EvaluationSummary:
    """Few model calls: one activity grades them all and summarises (fewer steps)."""
    return await workflow.execute_activity_method(
        EvaluationActivities.grade_small_evaluation,
        GradeSmallInput(start=start, plan=plan),
        # It may take up to the harness timeout; it stops itself there.
        start_to_close_timeout=BOOKKEEPING_TIMEOUT + timedelta(seconds=plan.timeout_seconds),
        heartbeat_timeout=timedelta(seconds=start.heartbeat_seconds),
        retry_policy=QUICK_RETRY,
    )


async def _grade_per_suite(start: StartEvaluationInput, plan: EvaluationPlan) -> EvaluationSummary:
    """One activity per suite and model, so several workers share the evaluation."""
    error_message = None
    candidate: list[SuiteScore] = []
    baseline: list[SuiteScore] = []
    deadline = workflow.now() + timedelta(seconds=plan.timeout_seconds)
    try:
        if plan.parallel:
            runs = [_run_suites(start, plan, plan.model, "candidate", deadline)]
            if plan.baseline_model:
                runs.append(_run_suites(start, plan, plan.baseline_model, "baseline", deadline))
            results = await asyncio.gather(*runs)
            candidate = results[0]
            baseline = results[1] if len(results) > 1 else []
        else:
            # parallel: false runs one suite at a time, the baseline's after the candidate's.
            candidate = await _run_suites(start, plan, plan.model, "candidate", deadline)
            if plan.baseline_model:
                baseline = await _run_suites(start, plan, plan.baseline_model, "baseline", deadline)
    except ActivityError as err:
        if is_cancelled_exception(err):
            raise  # a cancelled evaluation is closed as stopped, by `evaluate`
        # A suite that cannot run at all makes the evaluation `error`, not the job.
        error_message = describe_failure(err)[1]
    return await workflow.execute_activity_method(
        EvaluationActivities.finish_evaluation,
        FinishEvaluationInput(
            evaluation_id=start.evaluation_id,
            suites=candidate,
            baseline_suites=baseline,
            thresholds=start.thresholds,
            gates=start.gates,
            weights=start.weights,
            error_message=error_message,
        ),
        start_to_close_timeout=BOOKKEEPING_TIMEOUT,
        retry_policy=QUICK_RETRY,
    )


@workflow.defn(name=EVALUATION_WORKFLOW)
class EvaluationWorkflow:
    """On-demand evaluation of a finished job (`POST /trainer/jobs/{id}/evaluate`)."""

    def __init__(self) -> None:
        self._summary: EvaluationSummary | None = None

    @workflow.run
    async def run(self, start: StartEvaluationInput) -> EvaluationSummary:
        self._summary = await evaluate(start)
        return self._summary

    @workflow.query(name="state")
    def state(self) -> EvaluationSummary | None:
        return self._summary
