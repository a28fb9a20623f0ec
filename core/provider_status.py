"""A provider job's status, normalized: each provider maps its own statuses onto these, so
workflows and activities never compare a provider's raw strings."""

from __future__ import annotations

from enum import StrEnum


class ProviderJobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {ProviderJobStatus.succeeded, ProviderJobStatus.failed, ProviderJobStatus.cancelled}
)

# Step results recorded before statuses were normalized carry OpenAI's raw strings; the
# only one that is not also a normalized value is read as what it means, so recorded
# histories still replay.
_RECORDED_ALIASES = {"validating_files": ProviderJobStatus.queued}


def recorded_status(value: object) -> object:
    """Pydantic before-validator for step results: a recorded raw alias, else unchanged."""
    return _RECORDED_ALIASES.get(value, value) if isinstance(value, str) else value
