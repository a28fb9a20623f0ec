"""Serialize registry writes per model name across every worker.

Two promotions creating the same new model (or picking the next version number of the same
model) at once can stall a registry that answers before it commits. A PostgreSQL advisory
lock keyed on the registry model name, held across the whole find-or-create sequence, makes
them take turns. It lives in a transaction on a dedicated connection (not the pool's), so a
killed worker releases it with its connection and waiting promoters never starve the pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from activities.registry.errors import RegistryUnavailable

LOCK_NAMESPACE = "registry-model:"


class RegistryModelBusy(RegistryUnavailable):
    """Another promotion of the same model name held the lock for too long; retry later."""


@asynccontextmanager
async def registry_model_lock(
    database_url: str, model_name: str, wait_seconds: float = 20.0
) -> AsyncIterator[None]:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            # lock_timeout bounds the wait, so the activity fails (and is retried) before
            # its own timeout instead of hanging behind a stuck promoter.
            await conn.execute(f"SET LOCAL lock_timeout = '{max(1, int(wait_seconds * 1000))}ms'")
            try:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    LOCK_NAMESPACE + model_name,
                )
            except asyncpg.LockNotAvailableError:
                raise RegistryModelBusy(
                    None, f"another promotion of registry model {model_name!r} is in progress"
                ) from None
            yield
    finally:
        await conn.close()
