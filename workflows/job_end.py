"""Recording a training job's end: the steps every way out of a run goes through."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from core.models import JobStatus
    from core.steps import CancelProviderResult, FinishJobInput, ForceFinishInput, JobRef
    from core.text_sanitize import ERROR_MESSAGE_MAX_CHARS, safe_code, safe_optional_text
    from workflows.failures import describe_failure
    from workflows.options import BOOKKEEPING_TIMEOUT, OUTAGE_BUDGET, PATIENT_RETRY, QUICK_RETRY


async def record_job_end(
    job_id: str, status: JobStatus, error_code: str | None, error_message: str | None
) -> tuple[str | None, str | None]:
    """Write the job's terminal row; returns the (code, message) that the state keeps."""
    code = safe_code(error_code) if error_code is not None else None
    message = safe_optional_text(error_message, ERROR_MESSAGE_MAX_CHARS)
    try:
        await workflow.execute_activity(
            "finish_job",
            FinishJobInput(job_id=job_id, status=status, error_code=code, error_message=message),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
    except ActivityError as err:
        # The full record was refused for good: write the end and its code alone, for as
        # long as the database takes to come back, so the row never stays running.
        code = code or "finish_record_refused"
        workflow.logger.warning("job end recorded without its message: %s", err.cause)
        await workflow.execute_activity(
            "force_finish_job",
            ForceFinishInput(job_id=job_id, status=status, error_code=code),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            schedule_to_close_timeout=OUTAGE_BUDGET,
            retry_policy=PATIENT_RETRY,
        )
    return code, message


async def cancel_provider_job(job_id: str, attempt_timeout_seconds: float) -> str | None:
    """Cancel the provider's job (found by our id); returns why it could not be, if so."""
    try:
        # A provider outage delays the cleanup, never skips it: the job would train on.
        await workflow.execute_activity(
            "cancel_fine_tune",
            JobRef(job_id=job_id),
            result_type=CancelProviderResult,
            start_to_close_timeout=timedelta(seconds=attempt_timeout_seconds),
            schedule_to_close_timeout=OUTAGE_BUDGET,
            retry_policy=PATIENT_RETRY,
        )
    except ActivityError as err:
        return describe_failure(err)[1]
    return None
