"""The workflow's projection writes: the job's status as it moves, and every record's end.

The workflow owns the job's lifecycle; these only write what it decided. The fallbacks
take ids, a status and fixed or sanitized text only, so a write the database refused
(NUL, lone surrogates, oversized text) cannot be refused again there.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from core.metrics import timed_step
from core.steps import FinishJobInput, ForceFinishInput, JobStatusInput, RecordFailureInput
from core.text_sanitize import ERROR_MESSAGE_MAX_CHARS, minimal_text, safe_code, safe_optional_text
from store import evaluations, jobs, promotions

FAILURE_MESSAGE_MAX_CHARS = 500


class BookkeepingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name="record_job_status")
    @timed_step
    async def record_job_status(self, inp: JobStatusInput) -> None:
        """The status and stage the job moved to; a job never moves backwards."""
        await jobs.set_status(self._deps.pool, inp.job_id, inp.status, inp.stage)

    @activity.defn(name="finish_job")
    @timed_step
    async def finish_job(self, finish: FinishJobInput) -> None:
        """Record the job's end; text the database refuses is reduced, then given up."""
        message = safe_optional_text(finish.error_message, ERROR_MESSAGE_MAX_CHARS)
        code = safe_code(finish.error_code) if finish.error_code is not None else None
        for attempt_message in (message, minimal_text(message)):
            try:
                await jobs.finish(
                    self._deps.pool,
                    finish.job_id,
                    finish.status,
                    error_message=attempt_message,
                    error_code=code,
                )
                return
            except asyncpg.DataError:
                continue  # the same values would be refused again: try the reduced form
        # Retrying cannot help; the workflow falls back to `force_finish_job`.
        raise ApplicationError(
            "the database refused the job's end record",
            type="finish_record_refused",
            non_retryable=True,
        )

    @activity.defn(name="force_finish_job")
    @timed_step
    async def force_finish_job(self, finish: ForceFinishInput) -> None:
        await jobs.force_finish(
            self._deps.pool, finish.job_id, finish.status, safe_code(finish.error_code)
        )

    @activity.defn(name="fail_evaluation_record")
    @timed_step
    async def fail_evaluation_record(self, failure: RecordFailureInput) -> None:
        """Close an evaluation left `pending`/`running` by a run that failed or stopped."""
        message = minimal_text(failure.message, FAILURE_MESSAGE_MAX_CHARS) or "failed"
        await evaluations.close_evaluation(self._deps.pool, failure.record_id, message)

    @activity.defn(name="fail_promotion_record")
    @timed_step
    async def fail_promotion_record(self, failure: RecordFailureInput) -> None:
        """Close a promotion row still `in progress` when its workflow failed."""
        message = minimal_text(failure.message, FAILURE_MESSAGE_MAX_CHARS) or "failed"
        await promotions.fail_promotion(self._deps.pool, failure.record_id, message)
