"""While PostgreSQL cannot be reached (restarting, failing over) a request answers 503 with
`Retry-After`, not 500: the condition is transient and the pool reconnects on its own, so
the client should simply retry.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.schemas import ErrorResponse

log = logging.getLogger("api.errors")

# A session cut by the server, a server refusing sessions while it starts or stops, and a
# refused or reset TCP connection.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    ConnectionError,
)
RETRY_AFTER_SECONDS = 1


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    body = ErrorResponse(
        detail="the database is unavailable; retry",
        error_code="database_unavailable",
        timestamp=datetime.now(UTC),
    )
    return JSONResponse(
        status_code=503,
        content=body.model_dump(mode="json", exclude_none=True),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_database_unavailable_handler(app: FastAPI) -> None:
    for exc_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_class, _database_unavailable)
