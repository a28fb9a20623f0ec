"""What every `/v1` request goes through: request ids, auth, call counting, faults, errors."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from emulators.routing import RouteTable

from .catalogue import ORGANIZATION_SLUG
from .errors import APIError, invalid_request, server_error
from .faults import fault_error
from .state import Emulator

log = logging.getLogger(__name__)

CallNext = Callable[[Request], Awaitable[Response]]


def install_surface(app: FastAPI) -> None:
    app.middleware("http")(openai_surface)
    app.exception_handler(APIError)(_api_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_validation_error)


async def openai_surface(request: Request, call_next: CallNext) -> Response:
    request_id = "req_" + secrets.token_hex(16)
    started = time.perf_counter()
    try:
        if request.url.path.startswith("/v1/"):
            response = await _v1_request(request, call_next)
        else:
            response = await call_next(request)
    except APIError as exc:
        response = exc.response()
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.url.path)
        response = server_error().response()
    response.headers["x-request-id"] = request_id
    response.headers["openai-organization"] = ORGANIZATION_SLUG
    response.headers["openai-version"] = "2020-10-01"
    response.headers["openai-processing-ms"] = str(int((time.perf_counter() - started) * 1000))
    return response


async def _v1_request(request: Request, call_next: CallNext) -> Response:
    emulator: Emulator = request.app.state.emulator
    emulator.tick()
    emulator.calls[f"{request.method} {_route_template(request)}"] += 1
    _authenticate(emulator, request)
    plan = emulator.faults.plan(request.method, request.url.path)
    if plan.delay_seconds:
        await asyncio.sleep(plan.delay_seconds)
    if plan.error is not None:
        return fault_error(plan.error).response()
    response = await call_next(request)
    if plan.after_commit_delay_seconds:
        await asyncio.sleep(plan.after_commit_delay_seconds)
    return response


def _authenticate(emulator: Emulator, request: Request) -> None:
    key = emulator.settings.api_key
    if not key:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    if token.strip() != key:
        shown = token.strip()[:6] + "*" * 4 + token.strip()[-4:]
        raise APIError(
            401,
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )


def _route_template(request: Request) -> str:
    table: RouteTable = request.app.state.route_table
    full, _ = table.templates(request.scope)
    return full or request.url.path


async def _api_error(_: Request, exc: APIError) -> JSONResponse:
    return exc.response()


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code in (404, 405):
        message = f"Invalid URL ({request.method} {request.url.path})"
    else:
        message = str(exc.detail)
    return APIError(exc.status_code, message).response()


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    return invalid_request(f"Invalid request: {exc.errors()}").response()
