"""Each workflow's type name and workflow id, shared by the workflows and their starters.

The API starts and queries workflows by these names (with the typed inputs from core.steps
and core.models), so it never imports a workflow module and, through it, the activities.
Nothing here imports activities/.
"""

from __future__ import annotations

TRAINING_WORKFLOW = "TrainingJobWorkflow"
EVALUATION_WORKFLOW = "EvaluationWorkflow"
PROMOTION_WORKFLOW = "PromotionWorkflow"
DATASET_CHECK_WORKFLOW = "DatasetCheckWorkflow"


def workflow_id_for(job_id: str) -> str:
    """The training job's workflow id."""
    return f"training-job-{job_id}"


def evaluation_workflow_id(evaluation_id: str) -> str:
    return f"evaluation-{evaluation_id}"


def promotion_workflow_id(promotion_id: str) -> str:
    """One workflow id per promotion row: concurrent requests join the running workflow
    and a later request re-runs it (the registry steps are find-or-create)."""
    return f"promotion-{promotion_id}"


def dataset_check_workflow_id(check_id: str) -> str:
    return f"dataset-check-{check_id}"
