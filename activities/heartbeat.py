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
from typing import ParamSpec, TypeVar

from temporalio import activity

P = ParamSpec("P")
R = TypeVar("R")


async def _beat(interval: float) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(interval)


def heartbeating(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Heartbeat while the step runs, three times per heartbeat timeout (none: no beats).

    Apply it below `@activity.defn`; `functools.wraps` keeps what Temporal reads.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        timeout = activity.info().heartbeat_timeout
        if not timeout:
            return await fn(*args, **kwargs)
        beats = asyncio.create_task(_beat(max(timeout.total_seconds() / 3, 0.1)))
        try:
            return await fn(*args, **kwargs)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    return wrapper
