"""Request ids: take the caller's `X-Request-ID` (or make one), echo it on the response, bind
it to every log line written while the request runs, and write one access line per request.

A pure ASGI middleware rather than `BaseHTTPMiddleware`: the endpoint then runs in this
middleware's context, so the ids bound here reach every log line the request writes.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from api.asgi import HttpMiddleware, ResponseTracker
from core.text import IDENTIFIER_CHARS

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and plain, so it cannot forge log content.
_VALID_REQUEST_ID = re.compile(f"[{IDENTIFIER_CHARS}]{{1,128}}")
# Path parameters worth having on the access line.
_ID_PARAMS = ("job_id", "evaluation_id", "promotion_id")
# Scrapes and probes would drown the interesting lines.
_QUIET_PATHS = frozenset({"/metrics", "/health"})

access_log = logging.getLogger("api.access")


def request_id_from(headers: Headers) -> str:
    given = headers.get(REQUEST_ID_HEADER)
    if given and _VALID_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestContextMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_from(Headers(scope=scope))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        response = ResponseTracker(send_with_id)
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, response)
            finally:
                # No response at all is logged as the 500 the server then sends.
                self._log(scope, response.status or 500, time.perf_counter() - started)

    @staticmethod
    def _log(scope: Scope, status: int, seconds: float) -> None:
        path = scope.get("path", "")
        # The router fills in `path_params` on this same scope once a route matched.
        params = scope.get("path_params") or {}
        ids = {name: str(params[name]) for name in _ID_PARAMS if name in params}
        level = logging.DEBUG if path in _QUIET_PATHS and status < 400 else logging.INFO
        access_log.log(
            level,
            "%s %s %d",
            scope.get("method", ""),
            path,
            status,
            extra={"status": status, "duration_ms": round(seconds * 1000, 1), **ids},
        )
