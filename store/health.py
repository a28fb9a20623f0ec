"""The database's part of the health check: one round trip."""

from __future__ import annotations

import asyncpg


async def ping(pool: asyncpg.Pool) -> None:
    await pool.fetchval("SELECT 1")
