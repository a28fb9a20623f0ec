"""What happens to a registry call before its route: call counts, holds, faults and the API key.

Faults are the shared rules of `emulators.faults`, with a default status of 503; `"status": 0`
means "down": every call answers 503 with `Connection: close`. A hold makes matching calls
hang before anything else happens; a held call whose client disconnects is dropped without
touching the state.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import Message, Receive, Send

from emulators.faults import CONTROL_PREFIX, DOWN, FaultRegistry, FaultSpec, retry_after_headers
from emulators.routing import RouteTable

from .errors import error_response
from .settings import RegistryEmulatorSettings


def registry_faults() -> FaultRegistry:
    return FaultRegistry(defaults={"status": 503})


def injected_response(spec: FaultSpec) -> JSONResponse:
    headers = retry_after_headers(spec)
    if spec.status == DOWN:
        headers["Connection"] = "close"
        return error_response(503, spec.message or "Model Registry is unavailable", headers)
    return error_response(spec.status or 503, spec.message or "Injected fault", headers)


@dataclass
class Hold:
    path_prefix: str
    method: str | None
    seconds: float
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and self.method in (None, method)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path_prefix": self.path_prefix,
            "method": self.method,
            "seconds": self.seconds,
            "remaining": self.remaining,
        }


@dataclass
class EmulatorControl:
    faults: FaultRegistry = field(default_factory=registry_faults)
    holds: list[Hold] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    held_now: int = 0
    dropped_calls: int = 0
    _release: asyncio.Event | None = None

    def reset(self) -> None:
        self.faults.clear()
        self.release_holds()
        self.calls.clear()
        self.dropped_calls = 0

    def take_hold(self, method: str, path: str) -> Hold | None:
        for hold in self.holds:
            if hold.matches(method, path):
                hold.remaining -= 1
                if hold.remaining <= 0:
                    self.holds.remove(hold)
                return hold
        return None

    def release_event(self) -> asyncio.Event:
        if self._release is None:
            self._release = asyncio.Event()
        return self._release

    def release_holds(self) -> None:
        self.holds.clear()
        if self._release is not None:
            self._release.set()
            self._release = None


class ControlMiddleware:
    """Counts calls and applies holds, faults and the API key before the registry routes."""

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        control: EmulatorControl,
        settings: RegistryEmulatorSettings,
        routes: RouteTable,
    ) -> None:
        self.app = app
        self.control = control
        self.settings = settings
        self.routes = routes

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        self.control.calls[f"{method} {self._route_of(scope)}"] += 1

        hold = self.control.take_hold(method, path)
        if hold is not None:
            buffered, disconnected = await _read_body(receive)
            if not disconnected:
                disconnected = await self._wait_hold(hold, receive)
            if disconnected:
                self.control.dropped_calls += 1
                return
            receive = _replay(buffered, receive)

        plan = self.control.faults.plan(method, path)
        if plan.delay_seconds:
            await asyncio.sleep(plan.delay_seconds)
        if plan.error is not None:
            await injected_response(plan.error)(scope, receive, send)
            return

        if self.settings.api_key and path != "/health":
            headers = dict(scope.get("headers") or [])
            supplied = headers.get(b"authorization", b"").decode("latin-1")
            if supplied != f"Bearer {self.settings.api_key}":
                response = error_response(
                    401, "Invalid or missing API key", headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return

        if plan.after_commit_delay_seconds:
            send = _answer_late(send, plan.after_commit_delay_seconds)
        await self.app(scope, receive, send)

    def _route_of(self, scope: dict[str, Any]) -> str:
        full, partial = self.routes.templates(scope)
        return full or partial or str(scope["path"])

    async def _wait_hold(self, hold: Hold, receive: Receive) -> bool:
        """Wait out a hold; True when the client went away meanwhile."""
        self.control.held_now += 1
        release = asyncio.ensure_future(self.control.release_event().wait())
        gone = asyncio.ensure_future(receive())
        try:
            await asyncio.wait(
                {release, gone}, timeout=hold.seconds, return_when=asyncio.FIRST_COMPLETED
            )
            return gone.done() and gone.result().get("type") == "http.disconnect"
        finally:
            self.control.held_now -= 1
            for task in (release, gone):
                task.cancel()


async def _read_body(receive: Receive) -> tuple[list[Message], bool]:
    messages: list[Message] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return messages, True
        messages.append(message)
        if not message.get("more_body", False):
            return messages, False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _answer_late(send: Send, seconds: float) -> Send:
    """Hold the response back `seconds` once the handler has produced it."""
    waited = False

    async def late(message: Message) -> None:
        nonlocal waited
        if not waited:
            waited = True
            await asyncio.sleep(seconds)
        await send(message)

    return late
