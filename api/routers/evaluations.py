"""Evaluations: start one for a finished job, read results and per-sample verdicts."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from api.auth import Caller
from api.deps import ERRORS, CallerDep, StateDep, WriterDep, require_job
from api.errors import ApiError, conflict, not_found
from api.json_body import StrictJSONRoute
from api.mapping import evaluation_response, sample_response
from api.schemas import (
    EvaluationCreate,
    EvaluationList,
    EvaluationResponse,
    EvaluationSampleList,
    HarnessConfig,
)
from api.state import AppState
from core.bounds import MAX_LIST_OFFSET
from core.custom_suite_checks import check_custom_tests
from core.evaluation import EvaluationSummary
from core.gates import ScoreGates
from core.models import EvaluationStatus, JobStatus, PolicyConfig
from core.steps import StartEvaluationInput
from core.suite_selection import SuiteSelectionError, builtin_selection
from store.evaluations import (
    close_evaluation,
    get_evaluation,
    in_flight_evaluation,
    insert_evaluation,
    latest_evaluation,
    list_evaluations,
)
from store.rows import EvaluationRow
from store.samples import list_samples
from workflows.names import EVALUATION_WORKFLOW, evaluation_workflow_id

router = APIRouter(tags=["Evaluation"], route_class=StrictJSONRoute)


def check_harness_config(config: HarnessConfig) -> None:
    """Reject unknown or miscategorised suites and malformed custom suites up front (422)."""
    try:
        builtin_selection(config.pedagogy_tests or [], config.safety_tests or [])
    except SuiteSelectionError as err:
        raise ApiError(422, err.code, str(err)) from None
    # Inline suites are validated in full; `{"uri": ...}` entries by syntax and file type
    # (the file itself is fetched by the evaluation, under the dataset access rules).
    try:
        check_custom_tests(config.custom_tests or {})
    except ValueError as err:
        raise ApiError(422, "invalid_custom_suite", f"harness_config.custom_tests.{err}") from None


async def _workflow_closed(st: AppState, workflow_id: str | None) -> bool:
    """True only when Temporal says the workflow has ended; unknown (not started yet, or
    Temporal unreachable) counts as still running."""
    if not workflow_id:
        return False
    try:
        described = await st.temporal.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return described.status != WorkflowExecutionStatus.RUNNING


async def insert_evaluation_once(st: AppState, evaluation: dict[str, Any]) -> EvaluationRow:
    """Insert the job's one in-flight evaluation; 409 while another is pending or running.
    The database decides (a partial unique index), so concurrent requests agree. An in-flight
    row whose workflow has ended without finishing it (terminated, say) is closed first."""
    for _ in range(3):
        row = await insert_evaluation(st.pool, evaluation)
        if row is not None:
            return row
        running = await in_flight_evaluation(st.pool, evaluation["job_id"])
        if running is None:
            continue  # it finished meanwhile: try again
        if not await _workflow_closed(st, running.workflow_id):
            raise conflict("evaluation_running", f"evaluation {running.id} is still running")
        await close_evaluation(st.pool, str(running.id), "the evaluation workflow ended")
    raise conflict("evaluation_running", "another evaluation of this job is starting")


def _job_gates(policy: dict[str, Any]) -> ScoreGates:
    """The gates the job's policy declared, so an on-demand evaluation decides its
    thresholds as the training job's own did (the defaults for a policy stored before
    gates, or one this version no longer reads)."""
    try:
        return PolicyConfig.model_validate(policy).evaluation_gates()
    except ValueError:
        return ScoreGates()


@router.post(
    "/trainer/jobs/{job_id}/evaluate",
    status_code=status.HTTP_201_CREATED,
    response_model=EvaluationResponse,
    responses=ERRORS,
    summary="Run evaluation harness",
)
async def start_evaluation(
    job_id: uuid.UUID, body: EvaluationCreate, caller: WriterDep, st: StateDep
) -> EvaluationResponse:
    job = await require_job(st, caller, job_id)
    if job.status != JobStatus.completed or not job.provider_model_id:
        raise ApiError(
            400,
            "job_not_evaluable",
            f"job is {job.status}; only a completed job with a fine-tuned model can be evaluated",
        )
    check_harness_config(body.harness_config)
    evaluation_id = str(uuid.uuid4())
    workflow_id = evaluation_workflow_id(evaluation_id)
    harness_config = json.loads(body.harness_config.model_dump_json(exclude_none=True))
    row = await insert_evaluation_once(
        st,
        {
            "id": evaluation_id,
            "job_id": str(job_id),
            "tenant_id": job.tenant_id,
            "name": body.name,
            "description": body.description,
            "harness_config": harness_config,
            "thresholds": body.thresholds.model_dump(),
            "workflow_id": workflow_id,
        },
    )
    try:
        await st.temporal.start_workflow(
            EVALUATION_WORKFLOW,
            StartEvaluationInput(
                evaluation_id=evaluation_id,
                job_id=str(job_id),
                tenant_id=job.tenant_id,
                workflow_id=workflow_id,
                name=body.name,
                description=body.description,
                harness_config=harness_config,
                thresholds=body.thresholds,
                gates=_job_gates(job.policy),
                model=job.provider_model_id,
                base_model=job.base_model,
                job_name=job.name,
            ),
            id=workflow_id,
            task_queue=st.settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"evaluation of {job.name} · {job.tenant_id}",
            result_type=EvaluationSummary,
        )
    except RPCError:
        # Free the job's one in-flight slot: a row nothing will run must not block retries.
        await close_evaluation(st.pool, evaluation_id, "the evaluation could not be started")
        raise ApiError(
            503, "temporal_unavailable", "could not start the evaluation; retry"
        ) from None
    return evaluation_response(row)


@router.get(
    "/trainer/jobs/{job_id}/evaluation",
    response_model=EvaluationResponse,
    responses=ERRORS,
    summary="Get evaluation results",
)
async def job_evaluation(job_id: uuid.UUID, caller: CallerDep, st: StateDep) -> EvaluationResponse:
    await require_job(st, caller, job_id)
    row = await latest_evaluation(st.pool, str(job_id))
    if row is None:
        raise not_found("evaluation")
    return evaluation_response(row)


@router.get("/trainer/evaluations", response_model=EvaluationList, summary="List evaluations")
async def evaluations(
    caller: CallerDep,
    st: StateDep,
    job_id: uuid.UUID | None = None,
    status_filter: EvaluationStatus | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> EvaluationList:
    rows, total = await list_evaluations(
        st.pool,
        caller.tenant_filter(),
        str(job_id) if job_id else None,
        status_filter.value if status_filter else None,
        offset,
        limit,
    )
    return EvaluationList(
        evaluations=[evaluation_response(r) for r in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


async def _require_evaluation(
    st: AppState, caller: Caller, evaluation_id: uuid.UUID
) -> EvaluationRow:
    row = await get_evaluation(st.pool, str(evaluation_id), caller.tenant_filter())
    if row is None:
        raise not_found("evaluation")
    return row


@router.get(
    "/trainer/evaluations/{evaluation_id}",
    response_model=EvaluationResponse,
    responses=ERRORS,
    summary="Get one evaluation",
)
async def evaluation(
    evaluation_id: uuid.UUID, caller: CallerDep, st: StateDep
) -> EvaluationResponse:
    return evaluation_response(await _require_evaluation(st, caller, evaluation_id))


@router.get(
    "/trainer/evaluations/{evaluation_id}/samples",
    response_model=EvaluationSampleList,
    responses=ERRORS,
    summary="Per-sample inputs, outputs and grader verdicts",
)
async def evaluation_samples(
    evaluation_id: uuid.UUID,
    caller: CallerDep,
    st: StateDep,
    role: Annotated[str | None, Query(pattern="^(candidate|baseline)$")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EvaluationSampleList:
    await _require_evaluation(st, caller, evaluation_id)
    rows, total = await list_samples(st.pool, str(evaluation_id), role, offset, limit)
    samples = [sample_response(r) for r in rows]
    return EvaluationSampleList(samples=samples, total=total, offset=offset, limit=limit)
