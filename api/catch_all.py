"""The last line of defence: an exception no handler took is answered with the 500 envelope
here, and not re-raised.

Starlette's own handler for `Exception` answers and then re-raises, and uvicorn closes the
connection of a request whose app raised: a keep-alive client then finds its connection
dropped. This middleware sits inside the request-id middleware, so the 500 is logged with
its request id like any other response.
"""

from __future__ import annotations

import logging

from starlette.types import Receive, Scope, Send

from api.asgi import HttpMiddleware, ResponseTracker
from api.errors import error_response

log = logging.getLogger("api.errors")


class CatchAllMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = ResponseTracker(send)
        try:
            await self.app(scope, receive, response)
        except Exception as exc:
            if response.started:
                raise  # half a response is out; only closing the connection can end it
            # The type only: a message may carry request values.
            log.error("unhandled error: %s", type(exc).__name__)
            await error_response(500, "internal_error", "internal error")(scope, receive, send)
