"""What can go wrong talking to the API, with the exit code each failure means."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_JOB_UNSUCCESSFUL = 4


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorEnvelope(BaseModel):
    """The API's error body: `{detail, error_code[, errors]}`."""

    detail: str
    error_code: str
    errors: list[FieldProblem] | None = None


class CliError(Exception):
    """A failure to report on stderr (one line, plus details) and exit with `exit_code`."""

    exit_code = EXIT_API_ERROR

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class UsageError(CliError):
    exit_code = EXIT_USAGE


class Unreachable(CliError):
    exit_code = EXIT_UNREACHABLE


class ApiFailure(CliError):
    """The API answered with an error status."""

    exit_code = EXIT_API_ERROR

    def __init__(
        self,
        status_code: int,
        detail: str,
        error_code: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        tag = f"{error_code}, HTTP {status_code}" if error_code else f"HTTP {status_code}"
        super().__init__(f"{detail} [{tag}]", details)
        self.status_code = status_code
        self.detail = detail
        self.error_code = error_code


def api_failure(status_code: int, body: bytes, reason: str) -> ApiFailure:
    """Build the failure from the error envelope, or from the status when there is none."""
    try:
        envelope = ErrorEnvelope.model_validate_json(body)
    except ValidationError:
        text = body.decode("utf-8", errors="replace").strip()
        detail = text[:300] if text and not text.lstrip().startswith("<") else reason
        return ApiFailure(status_code, detail or f"the API answered {status_code}")
    details = [f"{e.field}: {e.message}" for e in envelope.errors or []]
    return ApiFailure(status_code, envelope.detail, envelope.error_code, details)
