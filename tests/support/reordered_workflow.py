"""The training workflow as a careless change might leave it: launch before validate.

Its own module, so the workflow sandbox imports nothing but this.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.models import TrainingJobInput


@workflow.defn(name="TrainingJobWorkflow")
class ReorderedTrainingWorkflow:
    @workflow.run
    async def run(self, inp: TrainingJobInput) -> None:
        await workflow.execute_activity(
            "launch_fine_tune", {"job_id": inp.job_id}, start_to_close_timeout=timedelta(minutes=1)
        )
