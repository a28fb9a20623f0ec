"""Turn a step's exception into the (code, message) a job records."""

from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError


def describe_failure(err: BaseException) -> tuple[str, str]:
    cause: BaseException | None = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "step_failed", cause.message
    if cause is not None and getattr(cause, "message", None):
        return type(cause).__name__, str(cause.message)  # type: ignore[attr-defined]
    return "step_failed", str(cause or err)
