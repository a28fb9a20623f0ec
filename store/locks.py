"""Advisory locks that hold across every process sharing the database.

Each lock lives in a transaction on a dedicated connection (not the pool's), so a killed
process releases it with its connection and waiters never starve the pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


class LockBusy(Exception):
    """Another holder kept the lock for longer than the caller was willing to wait."""


@asynccontextmanager
async def advisory_lock(database_url: str, key: str, wait_seconds: float) -> AsyncIterator[None]:
    """Hold the advisory lock named `key` for the body; LockBusy after `wait_seconds`."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            # lock_timeout bounds the wait, so the caller fails (and can retry) before its
            # own timeout instead of hanging behind a stuck holder.
            await conn.execute(f"SET LOCAL lock_timeout = '{max(1, int(wait_seconds * 1000))}ms'")
            try:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            except asyncpg.LockNotAvailableError:
                raise LockBusy(key) from None
            yield
    finally:
        await conn.close()
