"""PromotionWorkflow: on-demand promotion of a finished job (`POST .../promote`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.steps import PromoteInput, PromotionOutcome
    from workflows.options import OUTAGE_BUDGET, PATIENT_RETRY


@workflow.defn(name="PromotionWorkflow")
class PromotionWorkflow:
    @workflow.run
    async def run(self, req: PromoteInput) -> PromotionOutcome:
        return await workflow.execute_activity(
            "promote_model",
            req,
            result_type=PromotionOutcome,
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=OUTAGE_BUDGET,
            retry_policy=PATIENT_RETRY,
        )
