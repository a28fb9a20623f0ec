"""The last line of defence: an exception no handler took is answered with the 500 envelope
here, and not re-raised.

Starlette's own handler for `Exception` answers and then re-raises, and uvicorn closes the
connection of a request whose app raised: a keep-alive client then finds its connection
dropped. This middleware sits inside the request-id middleware, so the 500 is logged with
its request id like any other response.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

log = logging.getLogger("api.errors")


class CatchAllMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if response_started:
                raise  # half a response is out; only closing the connection can end it
            # The type only: a message may carry request values.
            log.error("unhandled error: %s", type(exc).__name__)
            response = error_response(500, "internal_error", "internal error")
            await response(scope, receive, send)
