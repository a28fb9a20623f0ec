"""The training workflow as a careless change might leave it: launch before validate.

Its own module, so the workflow sandbox imports nothing but this.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.providers.activities import ProviderActivities
    from core.models import TrainingJobInput
    from core.steps import LaunchInput


@workflow.defn(name="TrainingJobWorkflow")
class ReorderedTrainingWorkflow:
    @workflow.run
    async def run(self, inp: TrainingJobInput) -> None:
        await workflow.execute_activity_method(
            ProviderActivities.launch_fine_tune,
            LaunchInput(
                job_id=inp.job_id,
                tenant_id=inp.tenant_id,
                provider=inp.provider,
                base_model=inp.base_model,
                training_file="never-validated",
            ),
            start_to_close_timeout=timedelta(minutes=1),
        )
