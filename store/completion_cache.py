"""PostgreSQL implementation of the evaluation response cache (table `completion_cache`)."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg

# What a cached response answered (the table's `kind` column).
CacheKind = Literal["chat", "moderation"]


class PgCompletionCache:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, key: bytes) -> dict[str, Any] | None:
        found = await self._pool.fetchval(
            "SELECT response FROM completion_cache WHERE key = $1", key
        )
        return found if isinstance(found, dict) else None

    async def put(
        self, key: bytes, *, kind: CacheKind, model: str, response: dict[str, Any]
    ) -> None:
        # First writer wins: a replay must return the response the first run graded.
        await self._pool.execute(
            """
            INSERT INTO completion_cache (key, kind, model, response)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (key) DO NOTHING
            """,
            key,
            kind,
            model,
            response,
        )
