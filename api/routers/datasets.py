"""Check a dataset before submitting a job: the same report the validate step writes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from temporalio.client import WorkflowFailureError

from activities.datasets.source import DatasetUriError
from activities.datasets.uri import check_uri_syntax
from api.auth import READ, Caller, require
from api.errors import ApiError
from api.routers.jobs import ERRORS
from api.state import AppState, app_state
from core.models import TrainingMethod
from core.steps import DatasetInspection, InspectDatasetInput
from workflows.datasets import DatasetCheckWorkflow
from workflows.failures import describe_failure

router = APIRouter(prefix="/trainer/datasets", tags=["Training Jobs"])

CallerDep = Annotated[Caller, Depends(require(READ))]
StateDep = Annotated[AppState, Depends(app_state)]

# Refusals that mean "not allowed to read it" rather than "it is wrong".
FORBIDDEN_CODES = {"dataset_access_denied"}
NOT_FOUND_CODES = {"dataset_not_found"}


class DatasetValidateRequest(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    dataset_uri: str = Field(min_length=1, max_length=2048)
    base_model: str = Field(default="gpt-4o-mini-2024-07-18", min_length=1, max_length=255)
    datasheet: dict[str, Any] | None = None
    method: TrainingMethod = TrainingMethod.supervised
    n_epochs: int | None = Field(default=3, ge=1, le=10)
    scope: str | None = Field(
        default=None, description="Tenant whose access rules apply (admins only; else yours)"
    )


class DatasetValidateResponse(BaseModel):
    ok: bool
    report: dict[str, Any] = Field(
        description="dataset findings (line numbers, counts), token statistics, cost, "
        "PII counts, datasheet findings and the base-model check; never the data itself"
    )


@router.post(
    "/validate",
    response_model=DatasetValidateResponse,
    responses=ERRORS,
    summary="Validate a dataset (small files, synchronous)",
)
async def validate_dataset(
    body: DatasetValidateRequest, caller: CallerDep, st: StateDep
) -> DatasetValidateResponse:
    tenant = body.scope if (caller.is_admin and body.scope) else caller.tenant
    if tenant is None:
        raise ApiError(422, "scope_required", "scope: admins must name the tenant to check for")
    try:
        check_uri_syntax(body.dataset_uri)
    except DatasetUriError as err:
        raise ApiError(422, err.code, f"datasetUri: {err}") from None
    try:
        inspection = await st.temporal.execute_workflow(
            DatasetCheckWorkflow.run,
            InspectDatasetInput(
                dataset_uri=body.dataset_uri,
                tenant_id=tenant,
                base_model=body.base_model,
                datasheet=body.datasheet,
                method=body.method.value,
                n_epochs=body.n_epochs,
            ),
            id=f"dataset-check-{uuid.uuid4()}",
            task_queue=st.settings.temporal_task_queue,
            execution_timeout=timedelta(minutes=5),
        )
    except WorkflowFailureError as err:
        code, message = describe_failure(err.cause)
        status = 403 if code in FORBIDDEN_CODES else 404 if code in NOT_FOUND_CODES else 422
        raise ApiError(status, code, message) from None
    assert isinstance(inspection, DatasetInspection)
    return DatasetValidateResponse(ok=inspection.ok, report=inspection.report)
