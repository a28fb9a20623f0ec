"""vLLM's error shape, ``{"error": {"message", "type", "param", "code"}}`` where `code` is
the HTTP status, and the handlers and auth check that answer in it."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

CallNext = Callable[[Request], Awaitable[Response]]


class ServingError(Exception):
    """Raised by handlers; rendered as vLLM's `ErrorResponse` with the given status."""

    def __init__(
        self,
        message: str,
        *,
        status: HTTPStatus = HTTPStatus.BAD_REQUEST,
        type: str = "BadRequestError",
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param

    def response(self) -> JSONResponse:
        return error_response(self.message, self.status, self.type, self.param)


def error_response(
    message: str, status: HTTPStatus, type: str, param: str | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": status.value}}
    return JSONResponse(body, status_code=status.value)


def bad_request(message: str, param: str | None = None) -> ServingError:
    return ServingError(message, param=param)


def invalid_user_input(message: str) -> ServingError:
    """What vLLM's LoRA routes answer for a request they refuse."""
    return ServingError(message, type="InvalidUserInput")


def not_found(message: str, param: str | None = None) -> ServingError:
    return ServingError(message, status=HTTPStatus.NOT_FOUND, type="NotFoundError", param=param)


def model_not_found(model: str) -> ServingError:
    return not_found(f"The model `{model}` does not exist.", param="model")


def not_ready() -> ServingError:
    return ServingError(
        "The server is still loading its models.",
        status=HTTPStatus.SERVICE_UNAVAILABLE,
        type="ServiceUnavailableError",
    )


def internal_error(message: str) -> ServingError:
    return ServingError(
        message, status=HTTPStatus.INTERNAL_SERVER_ERROR, type="InternalServerError"
    )


def install_error_handlers(app: FastAPI, api_key: str | None) -> None:
    app.exception_handler(ServingError)(_serving_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    # Middleware rather than an `Exception` handler: Starlette re-raises after such a
    # handler, and the server would log the traceback.
    app.middleware("http")(_contain_failures)
    if api_key:
        app.middleware("http")(_bearer_auth(api_key))


async def _serving_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServingError)
    return exc.response()


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = HTTPStatus(exc.status_code)
    return error_response(str(exc.detail), status, status.phrase)


async def _validation_error(_: Request, exc: Exception) -> Response:
    """Like vLLM: a 400 whose param is the first bad field's dotted location. The message
    lists each error's location and text only, never the input it was given."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    param: str | None = None
    lines = []
    for error in errors:
        loc = ".".join(str(part) for part in error.get("loc", ()))
        param = param or loc or None
        lines.append(f"  {loc}: {error.get('msg', 'invalid')}")
    label = "error" if len(errors) == 1 else "errors"
    message = f"{len(errors)} validation {label}:\n" + "\n".join(lines) if errors else "Invalid"
    return error_response(message, HTTPStatus.BAD_REQUEST, HTTPStatus.BAD_REQUEST.phrase, param)


async def _contain_failures(request: Request, call_next: CallNext) -> Response:
    try:
        return await call_next(request)
    except Exception as exc:
        log.error(
            "unhandled %s serving %s %s", type(exc).__name__, request.method, request.url.path
        )
        return internal_error("The server could not complete the request.").response()


def _bearer_auth(api_key: str) -> Callable[[Request, CallNext], Awaitable[Response]]:
    """vLLM's `--api-key`: every `/v1` path needs the bearer token; others (`/health`)
    do not. The refusal is vLLM's own body, `{"error": "Unauthorized"}`."""
    expected = hashlib.sha256(api_key.encode()).digest()

    async def authenticate(request: Request, call_next: CallNext) -> Response:
        if request.method != "OPTIONS" and request.url.path.startswith("/v1"):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            given = hashlib.sha256(token.encode()).digest()
            if scheme.lower() != "bearer" or not secrets.compare_digest(given, expected):
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return await call_next(request)

    return authenticate
