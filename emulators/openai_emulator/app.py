"""FastAPI application speaking OpenAI's REST wire format (``/v1``) plus ``/_emulator`` admin."""

from __future__ import annotations

from fastapi import FastAPI

from emulators.faults import fault_routes
from emulators.routing import RouteTable

from .errors import APIError
from .routes import chat, control, files, fine_tuning, models, moderations, uploads
from .settings import EmulatorSettings
from .state import Emulator
from .surface import install_surface


def _reject(status: int, message: str) -> APIError:
    return APIError(status, message)


def create_app(settings: EmulatorSettings | None = None) -> FastAPI:
    """Build an emulator app; its state lives in ``app.state.emulator``."""
    emulator = Emulator(settings or EmulatorSettings())
    app = FastAPI(
        title="OpenAI API emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.emulator = emulator
    app.state.uploads = {}
    routers = [
        *(r.router for r in (files, fine_tuning, models, chat, moderations, control, uploads)),
        fault_routes(emulator.faults, _reject, created_status=200),
    ]
    for router in routers:
        app.include_router(router)
    app.state.route_table = RouteTable(routers)
    install_surface(app)
    return app
