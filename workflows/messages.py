"""Reading what arrives by signal or update, whoever sent it.

The API checks every string, but `temporal workflow signal` does not: a signal may carry
NUL, lone surrogates or megabytes of text. A signal cannot be refused, so its text is made
safe here before the workflow keeps it; updates are refused by their validators instead.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.models import ApprovalDecision, CancelRequest, JobStage
    from core.text_sanitize import (
        DESCRIPTION_MAX_CHARS,
        NAME_MAX_CHARS,
        NOTE_MAX_CHARS,
        REASON_MAX_CHARS,
        safe_optional_text,
        safe_text,
    )

# What a signal sent without input reads as (`temporal workflow signal --name cancel`).
NO_INPUT = RawValue(Payload(metadata={"encoding": b"json/plain"}, data=b"{}"))


def _fields(raw: RawValue) -> dict[str, Any] | None:
    """The payload's JSON object; the stdlib parser also reads lone surrogate escapes."""
    try:
        value = json.loads(raw.payload.data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    return value if isinstance(value, str) else None


def read_cancel(raw: RawValue) -> CancelRequest:
    """A cancel signal stops the job even when its body cannot be read."""
    fields = _fields(raw) or {}
    default = CancelRequest()
    reason = _text(fields, "reason")
    return CancelRequest.model_construct(
        reason=safe_text(reason, REASON_MAX_CHARS) if reason else default.reason,
        requested_by=safe_optional_text(_text(fields, "requested_by"), NAME_MAX_CHARS),
    )


def read_decision(raw: RawValue) -> ApprovalDecision | None:
    """An approval by signal; None (ignored) when it names no reviewer."""
    fields = _fields(raw)
    reviewer = safe_text(_text(fields, "reviewer") or "", NAME_MAX_CHARS) if fields else ""
    if not fields or not reviewer.strip():
        return None
    return ApprovalDecision.model_construct(
        reviewer=reviewer, note=safe_optional_text(_text(fields, "note"), NOTE_MAX_CHARS)
    )


def read_rename(raw: RawValue) -> dict[str, str]:
    """A new name and/or description for the job; fields that are absent or empty stay."""
    fields = _fields(raw) or {}
    renamed: dict[str, str] = {}
    name = safe_text(_text(fields, "name") or "", NAME_MAX_CHARS)
    if name.strip():
        renamed["name"] = name
    description = _text(fields, "description")
    if description is not None:
        renamed["description"] = safe_text(description, DESCRIPTION_MAX_CHARS)
    return renamed


def unsafe_decision_field(decision: ApprovalDecision) -> str | None:
    """The first field of an update's decision that holds text we would not store."""
    if safe_text(decision.reviewer, NAME_MAX_CHARS) != decision.reviewer:
        return "reviewer"
    note = decision.note
    if note is not None and safe_text(note, NOTE_MAX_CHARS) != note:
        return "note"
    return None


def approval_problem(
    stage: JobStage, already_decided: bool, decision: ApprovalDecision
) -> ApplicationError | None:
    """Why an approve/reject update is refused (its validator raises it), or None."""
    if stage != JobStage.awaiting_approval or already_decided:
        return ApplicationError(
            f"job is not awaiting approval (stage {stage.value})", type="not_awaiting_approval"
        )
    field = unsafe_decision_field(decision)
    if field is not None:
        return ApplicationError(
            f"{field}: NUL, lone surrogates and overlong text are not accepted",
            type="invalid_decision",
        )
    return None
