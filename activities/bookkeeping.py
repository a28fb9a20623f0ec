"""Fallback projection writes: a run that is ending still closes its rows.

Each takes ids, a status and fixed or sanitized text only, so the write the database
refused (NUL, lone surrogates, oversized text) cannot be refused again here.
"""

from __future__ import annotations

from temporalio import activity

from activities.deps import ActivityDeps
from core.metrics import timed_step
from core.steps import ForceFinishInput, RecordFailureInput
from core.text_sanitize import minimal_text, safe_code
from store import evaluations, jobs, promotions

FAILURE_MESSAGE_MAX_CHARS = 500


class BookkeepingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

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
