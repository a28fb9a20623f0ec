"""Refuse a request body over the configured size with 413, before it is read whole.

A declared `Content-Length` over the limit is answered at once, unread. A chunked body is
counted as it arrives and refused the moment it passes the limit, so no request can make the
API hold more than the limit in memory.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.asgi import HttpMiddleware, ResponseTracker
from api.errors import error_response


class RequestTooLarge(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        # No `Connection: close`: the server discards the unread rest of the body (it never
        # reaches the app), so the client can finish sending and read this answer.
        super().__init__(413, f"request body is larger than {max_bytes} bytes")


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


class BodySizeLimitMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read: the app's HTTPException handler
                    # answers it with the error envelope.
                    raise RequestTooLarge(self.max_bytes)
            return message

        response = ResponseTracker(send)
        try:
            await self.app(scope, limited_receive, response)
        except RequestTooLarge:
            if response.started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = RequestTooLarge(self.max_bytes).detail
        await error_response(413, "request_too_large", detail)(scope, receive, send)
