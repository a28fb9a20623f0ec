"""DatasetCheckWorkflow: the validate step's report for a dataset, without a job.

The API answers `POST /trainer/datasets/validate` by running this and waiting for it, so
fetching and parsing stay in workers like every other side effect.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.datasets.activities import DatasetActivities
    from core.steps import DatasetInspection, InspectDatasetInput
    from workflows.names import DATASET_CHECK_WORKFLOW
    from workflows.options import QUICK_RETRY


@workflow.defn(name=DATASET_CHECK_WORKFLOW)
class DatasetCheckWorkflow:
    @workflow.run
    async def run(self, req: InspectDatasetInput) -> DatasetInspection:
        return await workflow.execute_activity_method(
            DatasetActivities.inspect_dataset,
            req,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=QUICK_RETRY,
        )
