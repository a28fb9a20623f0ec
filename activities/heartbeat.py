"""Heartbeats for long steps that have no natural progress to report.

A step scheduled with a heartbeat timeout is retried that soon after its worker dies
(SIGKILL, OOM, a lost node) instead of after its whole start-to-close timeout, which for
validation and evaluation is ten minutes or more.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from temporalio import activity

P = ParamSpec("P")
R = TypeVar("R")


# The details this attempt's beats carry; each beat would otherwise clear them.
_details: ContextVar[list[Any] | None] = ContextVar("heartbeat_details", default=None)


async def _beat(interval: float, details: list[Any]) -> None:
    while True:
        activity.heartbeat(*details)
        await asyncio.sleep(interval)


def keep_heartbeat_details(*details: Any) -> None:
    """Heartbeat `details` now and with every later beat: a retried attempt of the step
    reads them back from `activity.info().heartbeat_details`."""
    held = _details.get()
    if held is not None:
        held[:] = details
    activity.heartbeat(*details)


def heartbeating(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Heartbeat while the step runs, three times per heartbeat timeout (none: no beats).

    Apply it below `@activity.defn`; `functools.wraps` keeps what Temporal reads.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        timeout = activity.info().heartbeat_timeout
        if not timeout:
            return await fn(*args, **kwargs)
        details = list(activity.info().heartbeat_details)  # an earlier attempt's, kept
        token = _details.set(details)
        beats = asyncio.create_task(_beat(max(timeout.total_seconds() / 3, 0.1), details))
        try:
            return await fn(*args, **kwargs)
        finally:
            _details.reset(token)
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    return wrapper
