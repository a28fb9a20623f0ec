"""Check a dataset before submitting a job: the same report the validate step writes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from temporalio.client import WorkflowFailureError

from api.deps import ERRORS, CallerDep, StateDep, require_served
from api.errors import ApiError
from api.json_body import StrictJSONRoute
from core.dataset_uri import DatasetUriError, check_uri_syntax
from core.json_types import IntegerOnly
from core.models import Provider, TrainingMethod
from core.steps import DatasetInspection, InspectDatasetInput
from core.text import FreeJson, Name, ShortText, UriText
from workflows.failures import describe_failure
from workflows.names import DATASET_CHECK_WORKFLOW, dataset_check_workflow_id

router = APIRouter(prefix="/trainer/datasets", tags=["Training Jobs"], route_class=StrictJSONRoute)


# Refusals that mean "not allowed to read it" rather than "it is wrong".
FORBIDDEN_CODES = {"dataset_access_denied"}
NOT_FOUND_CODES = {"dataset_not_found"}
# Failures of ours, not of the request: the message says so and carries no trace.
SERVER_FAULT_CODES = {"dataset_analysis_bug", "dataset_policy_invalid"}
# Still failing after the step's retries: worth trying again later.
UNAVAILABLE_CODES = {"dataset_store_unavailable", "dataset_read_failed", "dataset_spool_failed"}


def status_for(code: str) -> int:
    if code in FORBIDDEN_CODES:
        return 403
    if code in NOT_FOUND_CODES:
        return 404
    if code in UNAVAILABLE_CODES:
        return 503
    return 500 if code in SERVER_FAULT_CODES else 422


class DatasetValidateRequest(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    dataset_uri: UriText
    provider: Provider = Field(
        default=Provider.openai,
        description="Whose dataset rules apply: token counting, limits and cost basis",
    )
    base_model: Name = "gpt-4o-mini-2024-07-18"
    datasheet: FreeJson | None = None
    method: TrainingMethod = TrainingMethod.supervised
    n_epochs: Annotated[int, Field(ge=1, le=10), IntegerOnly] | None = 3
    scope: ShortText | None = Field(
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
    require_served(st.settings, body.provider)
    try:
        inspection = await st.temporal.execute_workflow(
            DATASET_CHECK_WORKFLOW,
            InspectDatasetInput(
                dataset_uri=body.dataset_uri,
                tenant_id=tenant,
                base_model=body.base_model,
                provider=body.provider.value,
                datasheet=body.datasheet,
                method=body.method.value,
                n_epochs=body.n_epochs,
            ),
            id=dataset_check_workflow_id(str(uuid.uuid4())),
            task_queue=st.settings.temporal_task_queue,
            execution_timeout=timedelta(minutes=5),
            result_type=DatasetInspection,
        )
    except WorkflowFailureError as err:
        code, message = describe_failure(err.cause)
        raise ApiError(status_for(code), code, message) from None
    return DatasetValidateResponse(ok=inspection.ok, report=inspection.report)
