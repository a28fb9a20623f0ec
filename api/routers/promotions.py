"""Promotion to the Model Registry, and the model card the registry links to."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from api.deps import ERRORS, CallerDep, StateDep, WriterDep, require_job
from api.errors import ApiError
from api.json_body import StrictJSONRoute
from api.mapping import evaluation_brief, promotion_response
from api.schemas import PromotionRequest, PromotionResponse
from core.models import JobStatus
from core.steps import PromoteInput, PromotionOutcome
from store.evaluations import latest_evaluation
from store.promotions import latest_promotion, load_promotion, requested_promotion
from workflows.failures import describe_failure
from workflows.names import PROMOTION_WORKFLOW, promotion_workflow_id

router = APIRouter(tags=["Promotion"], route_class=StrictJSONRoute)


# A job that failed only after training (its promotion, say) still has a model to promote.
PROMOTABLE_STATUSES = frozenset({JobStatus.completed.value, JobStatus.failed.value})

# How long the request waits for the registry before answering 202 (still promoting).
SYNC_WAIT_SECONDS = 30.0


@router.post(
    "/trainer/jobs/{job_id}/promote",
    status_code=status.HTTP_201_CREATED,
    response_model=PromotionResponse,
    responses={**ERRORS, 202: {"model": PromotionResponse, "description": "Still promoting"}},
    summary="Promote model to registry",
)
async def promote(
    job_id: uuid.UUID,
    response: Response,
    caller: WriterDep,
    st: StateDep,
    body: PromotionRequest | None = None,
) -> PromotionResponse:
    body = body or PromotionRequest()
    job = await require_job(st, caller, job_id)
    if job.status not in PROMOTABLE_STATUSES or not job.provider_model_id:
        raise ApiError(
            400,
            "job_not_promotable",
            f"job is {job.status}; only a completed job with a fine-tuned model can be promoted",
        )
    if body.force and not caller.is_admin:
        raise ApiError(403, "force_forbidden", "force promotion needs the trainer:admin role")
    evaluation = await latest_evaluation(st.pool, str(job_id))
    if not body.force:
        if evaluation is None:
            raise ApiError(400, "not_evaluated", "the job has no evaluation; evaluate it first")
        if not evaluation.passed:
            raise ApiError(
                400,
                "evaluation_not_passed",
                f"latest evaluation is {evaluation.status}; promote with force=true "
                "(admin) to override",
            )
    metadata: dict[str, Any] = {**body.metadata, "requested_by": caller.subject}
    # One promotion per (job, evaluation): a repeated or concurrent request gets the same
    # row back and re-runs (or joins) its workflow, so nothing is promoted twice and a
    # promotion that failed on a transient registry state can simply be asked for again.
    row = await requested_promotion(
        st.pool,
        {
            "id": str(uuid.uuid4()),
            "job_id": str(job_id),
            "evaluation_id": str(evaluation.id) if evaluation else None,
            "tenant_id": job.tenant_id,
            "forced": body.force,
            "metadata": metadata,
        },
    )
    promotion_id = str(row.id)
    handle = await st.temporal.start_workflow(
        PROMOTION_WORKFLOW,
        PromoteInput(
            promotion_id=promotion_id,
            job_id=str(job_id),
            evaluation_id=str(evaluation.id) if evaluation else None,
            tenant_id=job.tenant_id,
            job_name=job.name,
            job_description=job.description,
            provider=job.provider,
            fine_tuned_model=job.provider_model_id,
            promotion_policy=job.policy.get("promotion"),
            completes_failed_job=job.status == JobStatus.failed,
            force=body.force,
            metadata=metadata,
        ),
        id=promotion_workflow_id(promotion_id),
        task_queue=st.settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"promotion of {job.name} · {job.tenant_id}",
        result_type=PromotionOutcome,
    )
    try:
        await asyncio.wait_for(handle.result(), SYNC_WAIT_SECONDS)
    except TimeoutError:
        response.status_code = status.HTTP_202_ACCEPTED
    except WorkflowFailureError as err:
        raise ApiError(502, "promotion_failed", describe_failure(err.cause)[1]) from None
    promotion = await load_promotion(st.pool, promotion_id)
    assert promotion is not None
    return promotion_response(promotion)


@router.get(
    "/trainer/jobs/{job_id}/model-card",
    responses=ERRORS,
    summary="Datasheet, validation statistics and evaluation summary of the trained model",
)
async def model_card(job_id: uuid.UUID, caller: CallerDep, st: StateDep) -> dict[str, Any]:
    job = await require_job(st, caller, job_id)
    evaluation = await latest_evaluation(st.pool, str(job_id))
    promotion = await latest_promotion(st.pool, str(job_id))
    validation = job.validation_report or {}
    return {
        "job_id": str(job.id),
        "name": job.name,
        "tenant_id": job.tenant_id,
        "base_model": job.base_model,
        "fine_tuned_model": job.provider_model_id,
        "training_tokens": job.training_tokens,
        "datasheet": job.datasheet,
        "dataset_stats": (validation.get("dataset") or {}).get("stats"),
        "evaluation": (
            evaluation_brief(evaluation).model_dump() | {"results": evaluation.results}
            if evaluation
            else None
        ),
        "promotion": promotion_response(promotion).model_dump(mode="json") if promotion else None,
    }
