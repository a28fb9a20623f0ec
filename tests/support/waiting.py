"""Polling until something holds, for tests and the fault matrix."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(
    predicate: Callable[[], Awaitable[T | None]],
    timeout: float = 60.0,
    interval: float = 0.1,
    *,
    what: str = "condition",
) -> T:
    """Poll an async predicate until it returns a truthy value; return that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(interval)
