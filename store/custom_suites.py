"""The custom suites an evaluation ran, fetched once per evaluation (table
`evaluation_custom_suites`): every suite activity, candidate and baseline, grades the same
samples even if the file behind the URI changes meanwhile, and the record shows what ran."""

from __future__ import annotations

from typing import Any

import asyncpg


async def save_first(
    pool: asyncpg.Pool,
    evaluation_id: str,
    name: str,
    *,
    source: str,
    sha256: str | None,
    suite: dict[str, Any],
) -> dict[str, Any]:
    """Store the suite unless one is stored already; return the stored one (first wins)."""
    await pool.execute(
        """
        INSERT INTO evaluation_custom_suites (evaluation_id, name, source, sha256, suite)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (evaluation_id, name) DO NOTHING
        """,
        evaluation_id,
        name,
        source,
        sha256,
        suite,
    )
    stored = await load(pool, evaluation_id, name)
    if stored is None:  # only if the evaluation was deleted meanwhile
        raise LookupError(f"evaluation {evaluation_id} has no custom suite {name!r}")
    return stored


async def load(pool: asyncpg.Pool, evaluation_id: str, name: str) -> dict[str, Any] | None:
    found = await pool.fetchval(
        "SELECT suite FROM evaluation_custom_suites WHERE evaluation_id = $1 AND name = $2",
        evaluation_id,
        name,
    )
    return found if isinstance(found, dict) else None
