"""Turn a step's exception into the (code, message) a job records."""

import re

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from core.provider_status import ProviderJobStatus
    from core.steps import WaitResult

# Our error codes are snake_case. Any other ApplicationError type is the class name of an
# exception our code did not expect (the SDK converts it): its text may name server paths or
# values, so the job records only what kind of error it was.
_OWN_CODE = re.compile(r"^[a-z][a-z0-9_.-]*$")
UNEXPECTED_ERROR = "unexpected_error"


def describe_failure(err: BaseException) -> tuple[str, str]:
    cause: BaseException | None = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        code = cause.type or "step_failed"
        if not _OWN_CODE.match(code):
            return (
                UNEXPECTED_ERROR,
                f"a step failed with an unexpected {code[:64]} (see the worker log)",
            )
        return code, cause.message
    if cause is not None and getattr(cause, "message", None):
        return type(cause).__name__, str(cause.message)  # type: ignore[attr-defined]
    return "step_failed", str(cause or err)


def trained_model(result: WaitResult) -> str:
    """The fine-tuned model of a training that ended; a final error for any other end."""
    if result.provider_status is not ProviderJobStatus.succeeded or not result.fine_tuned_model:
        raise ApplicationError(
            result.error_message or f"provider job ended {result.provider_status}",
            type=result.error_code or f"provider_job_{result.provider_status}",
            non_retryable=True,
        )
    return result.fine_tuned_model
