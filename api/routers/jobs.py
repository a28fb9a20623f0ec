"""/trainer/jobs: create, read, list, update, cancel, and the job's events."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response, status
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from api.auth import Caller
from api.base_models import refuse_unknown_base_model
from api.deps import ERRORS, CallerDep, StateDep, WriterDep, require_job, require_served
from api.errors import ApiError, conflict, not_found
from api.json_body import StrictJSONRoute
from api.mapping import event_response, job_response, temporal_run_url
from api.orphans import close_orphaned_row, workflow_status
from api.schemas import (
    JobEventList,
    TrainingJobCreate,
    TrainingJobList,
    TrainingJobResponse,
    TrainingJobUpdate,
)
from api.state import AppState
from api.workflow_starts import start_training, step_timeouts
from core.bounds import MAX_LIST_OFFSET
from core.dataset_uri import DatasetUriError, check_uri_syntax, redact_uri
from core.evaluation import ScoreWeights
from core.models import CancelRequest, JobStatus, Provider, TrainingJobInput
from core.openai_cutoff import CUTOFF_CODE, openai_cutoff_problem
from core.text import Name, ShortText
from store.evaluations import latest_evaluation
from store.events import list_events
from store.job_listing import ListedJob, get_listed_job, list_jobs
from store.job_records import delete_job, get_job, insert_job, update_job_text
from store.promotions import latest_promotion
from store.rows import JobRow
from workflows.names import workflow_id_for

router = APIRouter(prefix="/trainer/jobs", tags=["Training Jobs"], route_class=StrictJSONRoute)

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c0b8e-2a51-4d8e-9a43-5b0d3c1f7e21")


def submission_date() -> date:
    """The day a job is submitted on, in UTC; what the OpenAI cutoff is compared with (a
    dependency, so tests can submit on another day)."""
    return datetime.now(UTC).date()


SubmissionDate = Annotated[date, Depends(submission_date)]


async def load_job_response(st: AppState, row: JobRow) -> TrainingJobResponse:
    job_id = str(row.id)
    return job_response(
        row,
        evaluation=await latest_evaluation(st.pool, job_id),
        promotion=await latest_promotion(st.pool, job_id),
        temporal_url=temporal_run_url(
            st.settings.temporal_ui_url, st.settings.temporal_namespace, row.workflow_id
        ),
    )


def _listed_response(st: AppState, listed: ListedJob) -> TrainingJobResponse:
    return job_response(
        listed.job,
        evaluation=listed.evaluation,
        promotion=listed.promotion,
        temporal_url=temporal_run_url(
            st.settings.temporal_ui_url, st.settings.temporal_namespace, listed.job.workflow_id
        ),
    )


def _json(body: TrainingJobResponse | TrainingJobList) -> Response:
    """The body as FastAPI would write it for the route's response model, written once: a
    returned model would be dumped, validated again and dumped again, which on a page of
    jobs costs more than the query."""
    return Response(body.model_dump_json(by_alias=True), media_type="application/json")


async def _require_listed(st: AppState, caller: Caller, job_id: uuid.UUID) -> ListedJob:
    """The caller's job with its latest evaluation and promotion (one query), or 404."""
    listed = await get_listed_job(st.pool, str(job_id), caller.tenant_filter())
    if listed is None:
        raise not_found("training job")
    return listed


def _request_fingerprint(body: TrainingJobCreate) -> dict[str, Any]:
    return json.loads(body.model_dump_json(by_alias=True, exclude_none=True))


def request_sha256(body: TrainingJobCreate) -> str:
    """sha256 of the validated request in canonical JSON (every field, sorted keys): an
    Idempotency-Key replay must match it exactly, whichever field differs."""
    canonical = json.dumps(
        body.model_dump(mode="json", by_alias=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TrainingJobResponse,
    responses=ERRORS,
    summary="Create fine-tuning job",
)
async def create_job(
    body: TrainingJobCreate,
    response: Response,
    caller: WriterDep,
    st: StateDep,
    today: SubmissionDate,
    idempotency_key: Annotated[
        Name | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retrying with the same key returns the same job",
        ),
    ] = None,
) -> TrainingJobResponse:
    tenant = body.policy.scope
    if not caller.is_admin and caller.tenant != tenant:
        raise ApiError(403, "scope_forbidden", "policy.scope must be the caller's tenant")
    require_served(st.settings, body.provider)
    job_id = (
        str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{tenant}\x00{idempotency_key}"))
        if idempotency_key
        else str(uuid.uuid4())
    )
    if body.provider is Provider.openai:
        cutoff = openai_cutoff_problem(st.settings, today)
        # A replay of a job accepted before the cutoff is no new job: it is answered.
        if cutoff is not None and (
            idempotency_key is None or await get_job(st.pool, job_id, None) is None
        ):
            raise ApiError(422, CUTOFF_CODE, cutoff)
    try:
        check_uri_syntax(body.dataset_uri)
    except DatasetUriError as err:
        raise ApiError(422, err.code, f"datasetUri: {err}") from None
    await refuse_unknown_base_model(
        st.base_models, st.settings.self_hosted_catalogue_file, body.provider, body.base_model
    )
    request = _request_fingerprint(body)
    inserted = await insert_job(
        st.pool,
        {
            "id": job_id,
            "tenant_id": tenant,
            "name": body.name,
            "description": body.description,
            "provider": body.provider.value,
            "base_model": body.base_model,
            "dataset_uri": body.dataset_uri,
            "config": request["config"],
            "policy": request["policy"],
            "datasheet": request["datasheet"],
            "idempotency_key": idempotency_key,
            "workflow_id": workflow_id_for(job_id),
            "request_sha256": request_sha256(body),
        },
    )
    row = await get_job(st.pool, job_id, None)
    assert row is not None
    if not inserted:
        # Rows from before the request hash: compare the stored fields instead.
        same = (
            row.request_sha256 == request_sha256(body)
            if row.request_sha256 is not None
            else (
                row.name == body.name
                and row.base_model == body.base_model
                and row.dataset_uri == body.dataset_uri
                and row.config == request["config"]
                and row.policy == request["policy"]
                and row.datasheet == request["datasheet"]
            )
        )
        if not same:
            raise conflict(
                "idempotency_key_reused",
                "Idempotency-Key was already used with a different request body",
            )
        response.headers["Idempotent-Replayed"] = "true"
    if row.status == JobStatus.pending:
        inp = TrainingJobInput(
            job_id=job_id,
            tenant_id=tenant,
            name=body.name,
            description=row.description,
            provider=body.provider,
            base_model=body.base_model,
            dataset_uri=body.dataset_uri,
            promotion_policy=request["policy"].get("promotion"),
            config=body.config,
            datasheet=request["datasheet"],
            restrictions=request["policy"].get("restrictions") or {},
            thresholds=body.policy.evaluation_thresholds(),
            gates=body.policy.evaluation_gates(),
            weights=body.weights or ScoreWeights(),
            require_approval=body.policy.require_approval,
            approval_above_cost_usd=body.policy.approval_cost_limit(),
            timeouts=step_timeouts(st.settings),
        )
        try:
            await start_training(st.temporal, st.settings, inp, redact_uri(body.dataset_uri))
        except RPCError:
            if inserted:
                await delete_job(st.pool, job_id)
            raise ApiError(503, "temporal_unavailable", "could not start the job; retry") from None
    return await load_job_response(st, row)


@router.get("", response_model=TrainingJobList, summary="List training jobs")
async def list_training_jobs(
    caller: CallerDep,
    st: StateDep,
    status_filter: JobStatus | None = None,
    provider_filter: Annotated[ShortText | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    page = await list_jobs(
        st.pool,
        caller.tenant_filter(),
        status_filter.value if status_filter else None,
        provider_filter,
        offset,
        limit,
    )
    jobs = [_listed_response(st, listed) for listed in page.jobs]
    return _json(TrainingJobList(jobs=jobs, total=page.total, offset=offset, limit=limit))


@router.get(
    "/{job_id}", response_model=TrainingJobResponse, responses=ERRORS, summary="Get training job"
)
async def read_job(job_id: uuid.UUID, caller: CallerDep, st: StateDep) -> Response:
    listed = await _require_listed(st, caller, job_id)
    if not listed.job.status.is_terminal and await _closed_orphan(st, listed.job):
        listed = await _require_listed(st, caller, job_id)
    return _json(_listed_response(st, listed))


async def _closed_orphan(st: AppState, row: JobRow) -> bool:
    """Close the row of a job whose workflow ended without recording it (terminated)."""
    handle = st.temporal.get_workflow_handle(row.workflow_id)
    try:
        status = await workflow_status(handle)
    except RPCError:
        return False  # Temporal unreachable: the row stays as the workflow left it
    return await close_orphaned_row(st.pool, str(row.id), status)


async def _cancel(st: AppState, caller: Caller, row: JobRow, reason: str) -> None:
    if row.status.is_terminal:
        raise conflict(
            "job_not_cancellable", f"job is already {row.status} and cannot be cancelled"
        )
    handle = st.temporal.get_workflow_handle(row.workflow_id)
    try:
        # Temporal accepts a cancel request for a closed workflow and does nothing.
        running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        if running:
            await handle.cancel()
    except RPCError:
        running = False
    if not running:
        await _closed_orphan(st, row)
        raise ApiError(409, "job_not_cancellable", "the job's workflow is no longer running")


@router.put(
    "/{job_id}",
    response_model=TrainingJobResponse,
    responses=ERRORS,
    summary="Update training job",
)
async def update_job(
    job_id: uuid.UUID, body: TrainingJobUpdate, caller: WriterDep, st: StateDep
) -> TrainingJobResponse:
    row = await require_job(st, caller, job_id)
    if body.status is not None and body.status != row.status:
        if body.status is not JobStatus.cancelled:
            raise ApiError(
                400,
                "status_not_settable",
                "status is managed by the workflow; only 'cancelled' may be requested",
            )
        await _cancel(st, caller, row, "cancelled by update")
    await update_job_text(st.pool, str(job_id), body.name, body.description)
    if not row.status.is_terminal and (body.name is not None or body.description is not None):
        await _tell_workflow_renamed(st, row, body.name, body.description)
    return await load_job_response(st, await require_job(st, caller, job_id))


async def _tell_workflow_renamed(
    st: AppState, row: JobRow, name: str | None, description: str | None
) -> None:
    """A running job promotes under its current name: the workflow holds the job's facts."""
    fields = {"name": name, "description": description}
    renamed = {key: value for key, value in fields.items() if value is not None}
    handle = st.temporal.get_workflow_handle(row.workflow_id)
    try:
        await handle.signal("rename", renamed)
    except RPCError:
        pass  # the workflow has ended: nothing of it is left to promote


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    summary="Cancel training job",
)
async def cancel_job(job_id: uuid.UUID, caller: WriterDep, st: StateDep) -> Response:
    row = await require_job(st, caller, job_id)
    await _cancel(st, caller, row, "cancelled via DELETE")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ERRORS,
    summary="Cancel with a reason (sends the workflow's `cancel` signal)",
)
async def signal_cancel(
    job_id: uuid.UUID, body: CancelRequest, caller: WriterDep, st: StateDep
) -> dict[str, str]:
    row = await require_job(st, caller, job_id)
    if row.status.is_terminal:
        raise conflict("job_not_cancellable", f"job is already {row.status}")
    handle = st.temporal.get_workflow_handle(row.workflow_id)
    try:
        await handle.signal("cancel", body.model_copy(update={"requested_by": caller.subject}))
    except RPCError:
        # A closed workflow takes no signal: nothing is left to cancel.
        await _closed_orphan(st, row)
        raise ApiError(
            409, "job_not_cancellable", "the job's workflow is no longer running"
        ) from None
    return {"status": "cancelling"}


@router.get(
    "/{job_id}/events",
    response_model=JobEventList,
    responses=ERRORS,
    summary="Provider events and metrics of the job, oldest first",
)
async def job_events(
    job_id: uuid.UUID,
    caller: CallerDep,
    st: StateDep,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JobEventList:
    await require_job(st, caller, job_id)
    rows, total = await list_events(st.pool, str(job_id), offset, limit)
    return JobEventList(
        events=[event_response(r) for r in rows], total=total, offset=offset, limit=limit
    )
