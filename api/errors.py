"""One error envelope for every failure: `{detail, error_code, timestamp[, errors]}`.

Unexpected exceptions are logged by type only and answered without a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.schemas import ErrorResponse, FieldError
from core.text import replace_unsafe

log = logging.getLogger("api.errors")

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ApiError(Exception):
    def __init__(self, status_code: int, error_code: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.error_code = error_code
        self.detail = detail


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what.replace(' ', '_')}_not_found", f"{what} not found")


def conflict(error_code: str, detail: str) -> ApiError:
    return ApiError(409, error_code, detail)


def _envelope(
    status_code: int,
    error_code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        detail=replace_unsafe(detail),
        error_code=error_code,
        timestamp=datetime.now(UTC),
        errors=errors,
    )
    return JSONResponse(
        status_code=status_code,
        content=body.model_dump(mode="json", exclude_none=True),
        headers=headers,
    )


def error_response(
    status_code: int, error_code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The envelope, for middleware that answers outside any route."""
    response = _envelope(status_code, error_code, detail)
    response.headers.update(headers or {})
    return response


def _field_path(loc: tuple[object, ...] | list[object]) -> str:
    # A dict key is part of the path, and it may hold anything the caller sent.
    parts = [replace_unsafe(str(p)) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _allowed_methods(request: Request) -> str:
    """Every method the path answers. Starlette's own `Allow` names only the methods of the
    first route that matched the path, and one path is often several routes."""
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _envelope(exc.status_code, exc.error_code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Messages only: pydantic's `input` would echo the caller's (possibly PII) values.
        errors = [
            FieldError(
                field=_field_path(e.get("loc", ())),
                message=replace_unsafe(str(e.get("msg", ""))),
            )
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return _envelope(422, "validation_error", f"invalid request: {summary}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
        code = codes.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return _envelope(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error: %s", type(exc).__name__)
        return _envelope(500, "internal_error", "internal error")
