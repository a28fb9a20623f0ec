"""What every router depends on: the caller and state aliases, the tenant-scoped job lookup,
and the error responses the OpenAPI document lists for each route."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends

from api.auth import READ, WRITE, Caller, require
from api.errors import ApiError, not_found
from api.schemas import ErrorResponse
from api.state import AppState, app_state
from core.models import Provider
from core.providers import configured_providers
from core.settings import Settings
from store.job_records import get_job
from store.rows import JobRow

CallerDep = Annotated[Caller, Depends(require(READ))]
WriterDep = Annotated[Caller, Depends(require(WRITE))]
StateDep = Annotated[AppState, Depends(app_state)]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 403, 404, 409, 422, 503)
}


async def require_job(st: AppState, caller: Caller, job_id: uuid.UUID) -> JobRow:
    """The caller's job, or 404: another tenant's job is not found, not forbidden."""
    row = await get_job(st.pool, str(job_id), caller.tenant_filter())
    if row is None:
        raise not_found("training job")
    return row


def require_served(settings: Settings, provider: Provider) -> None:
    """A 422 naming the providers this deployment serves, unless it serves `provider`."""
    served = configured_providers(settings)
    if provider not in served:
        raise ApiError(
            422,
            "provider_unsupported",
            f"provider: '{provider.value}' is not available in this deployment "
            f"(available: {', '.join(p.value for p in served)})",
        )
