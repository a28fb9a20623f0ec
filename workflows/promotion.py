"""PromotionWorkflow: on-demand promotion of a finished job (`POST .../promote`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.bookkeeping import BookkeepingActivities
    from activities.promotion import PromotionActivities
    from core.steps import PromoteInput, PromotionOutcome, RecordFailureInput
    from workflows.failures import describe_failure
    from workflows.names import PROMOTION_WORKFLOW
    from workflows.options import BOOKKEEPING_TIMEOUT, OUTAGE_BUDGET, PATIENT_RETRY


@workflow.defn(name=PROMOTION_WORKFLOW)
class PromotionWorkflow:
    @workflow.run
    async def run(self, req: PromoteInput) -> PromotionOutcome:
        try:
            return await workflow.execute_activity_method(
                PromotionActivities.promote_model,
                req,
                start_to_close_timeout=timedelta(seconds=60),
                schedule_to_close_timeout=OUTAGE_BUDGET,
                retry_policy=PATIENT_RETRY,
            )
        except (Exception, asyncio.CancelledError) as err:
            # The API inserted the row `in progress`: close it rather than leave it so.
            stopped = is_cancelled_exception(err)
            message = "promotion stopped: cancelled" if stopped else describe_failure(err)[1]
            await workflow.execute_activity_method(
                BookkeepingActivities.fail_promotion_record,
                RecordFailureInput(record_id=req.promotion_id, message=message),
                start_to_close_timeout=BOOKKEEPING_TIMEOUT,
                schedule_to_close_timeout=OUTAGE_BUDGET,
                retry_policy=PATIENT_RETRY,
            )
            raise
