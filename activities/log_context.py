"""Worker interceptor: every log line an activity writes names its workflow, step and job.

The ids are bound with `structlog.contextvars` around each activity execution; each
activity runs in its own task, so concurrent activities never see each other's ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

# Fields of our activity inputs (core.steps) worth having on every line.
_ID_FIELDS = ("job_id", "tenant_id", "evaluation_id", "promotion_id")


def ids_from(args: Sequence[Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for arg in args:
        for name in _ID_FIELDS:
            value = getattr(arg, name, None)
            if isinstance(value, str) and value:
                found.setdefault(name, value)
    return found


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        context = {
            "workflow_id": info.workflow_id,
            "activity": info.activity_type,
            "attempt": info.attempt,
            **ids_from(input.args),
        }
        with structlog.contextvars.bound_contextvars(**context):
            return await super().execute_activity(input)


class ActivityLogContext(Interceptor):
    """Pass to `Worker(interceptors=[ActivityLogContext()])`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)
