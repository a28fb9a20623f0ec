"""The approval gate: approve or reject a job waiting in stage `awaiting_approval`.

Both go through the workflow's `approve`/`reject` updates, so the answer says whether the
workflow accepted the decision (a job not waiting for one answers 409).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.auth import Caller
from api.deps import ERRORS, StateDep, WriterDep, require_job
from api.errors import ApiError, conflict
from api.json_body import StrictJSONRoute
from api.state import AppState
from core.models import ApprovalDecision, JobState
from core.text import Note, ShortText

router = APIRouter(prefix="/trainer/jobs", tags=["Promotion"], route_class=StrictJSONRoute)


class ApprovalRequest(BaseModel):
    reviewer: ShortText | None = Field(default=None, description="Defaults to the caller's subject")
    note: Note | None = None


async def _decide(
    name: str, job_id: uuid.UUID, body: ApprovalRequest, caller: Caller, st: AppState
) -> JobState:
    job = await require_job(st, caller, job_id)
    if job.status.is_terminal:
        raise conflict("not_awaiting_approval", f"job is already {job.status}")
    decision = ApprovalDecision(reviewer=body.reviewer or caller.subject, note=body.note)
    handle = st.temporal.get_workflow_handle(job.workflow_id)
    try:
        return await handle.execute_update(name, decision, result_type=JobState)
    except WorkflowUpdateFailedError as err:
        message = getattr(err.cause, "message", None) or "the workflow refused the decision"
        raise conflict("not_awaiting_approval", str(message)) from None
    except RPCError:
        raise ApiError(409, "not_awaiting_approval", "the job's workflow is not running") from None


@router.post(
    "/{job_id}/approve",
    response_model=JobState,
    responses=ERRORS,
    summary="Approve promotion of a job awaiting approval",
)
async def approve(
    job_id: uuid.UUID, body: ApprovalRequest, caller: WriterDep, st: StateDep
) -> JobState:
    return await _decide("approve", job_id, body, caller, st)


@router.post(
    "/{job_id}/reject",
    response_model=JobState,
    responses=ERRORS,
    summary="Reject promotion of a job awaiting approval",
)
async def reject(
    job_id: uuid.UUID, body: ApprovalRequest, caller: WriterDep, st: StateDep
) -> JobState:
    return await _decide("reject", job_id, body, caller, st)
