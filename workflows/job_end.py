"""The training job's projection writes: its status as it moves, and its end.

The workflow decides; these steps only write. Status writes are local activities: a quick
database write each, kept out of the history's activity list.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as StepTimeout

with workflow.unsafe.imports_passed_through():
    from activities.bookkeeping import BookkeepingActivities
    from activities.providers.activities import ProviderActivities
    from core.models import JobStage, JobStatus, Provider
    from core.steps import CancelProviderInput, FinishJobInput, ForceFinishInput, JobStatusInput
    from core.text_sanitize import ERROR_MESSAGE_MAX_CHARS, safe_code, safe_optional_text
    from workflows.failures import describe_failure
    from workflows.options import BOOKKEEPING_TIMEOUT, OUTAGE_BUDGET, PATIENT_RETRY, QUICK_RETRY


async def record_job_status(job_id: str, status: JobStatus, stage: JobStage) -> None:
    """Write the status and stage the job moved to; waits out a database outage."""
    await workflow.execute_local_activity_method(
        BookkeepingActivities.record_job_status,
        JobStatusInput(job_id=job_id, status=status, stage=stage),
        start_to_close_timeout=BOOKKEEPING_TIMEOUT,
        schedule_to_close_timeout=OUTAGE_BUDGET,
        retry_policy=PATIENT_RETRY,
    )


async def record_job_end(
    job_id: str, status: JobStatus, error_code: str | None, error_message: str | None
) -> tuple[str | None, str | None]:
    """Write the job's terminal row; returns the (code, message) that the state keeps."""
    code = safe_code(error_code) if error_code is not None else None
    message = safe_optional_text(error_message, ERROR_MESSAGE_MAX_CHARS)
    try:
        await workflow.execute_local_activity_method(
            BookkeepingActivities.finish_job,
            FinishJobInput(job_id=job_id, status=status, error_code=code, error_message=message),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
    except (ActivityError, ApplicationError, StepTimeout) as err:
        # The full record was refused for good: write the end and its code alone, for as
        # long as the database takes to come back, so the row never stays running. (A
        # local activity's failure arrives as its ApplicationError, unwrapped.)
        code = code or "finish_record_refused"
        workflow.logger.warning(
            "job end recorded without its message: %s", describe_failure(err)[0]
        )
        await workflow.execute_activity_method(
            BookkeepingActivities.force_finish_job,
            ForceFinishInput(job_id=job_id, status=status, error_code=code),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            schedule_to_close_timeout=OUTAGE_BUDGET,
            retry_policy=PATIENT_RETRY,
        )
    return code, message


async def cancel_provider_job(
    job_id: str, provider: Provider, provider_job_id: str | None, attempt_timeout_seconds: float
) -> str | None:
    """Cancel the provider's job (found by our id if launch never reported it); returns why
    it could not be, if so."""
    try:
        # A provider outage delays the cleanup, never skips it: the job would train on.
        await workflow.execute_activity_method(
            ProviderActivities.cancel_fine_tune,
            CancelProviderInput(job_id=job_id, provider=provider, provider_job_id=provider_job_id),
            start_to_close_timeout=timedelta(seconds=attempt_timeout_seconds),
            schedule_to_close_timeout=OUTAGE_BUDGET,
            retry_policy=PATIENT_RETRY,
        )
    except ActivityError as err:
        return describe_failure(err)[1]
    return None
