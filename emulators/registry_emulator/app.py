"""In-memory emulator of the Model Registry HTTP API.

Behaves as `shared/contracts/model-registry.md` describes, errors included:
`{"error", "status_code", "timestamp"}` for HTTP errors, FastAPI's 422 `{"detail": [...]}`
for invalid requests, 400 "... already exists" on duplicates and 404 "Model not found" /
"Model version not found" / "Provider binding not found".

Besides the contract it serves test controls under `/_emulator`: faults (`emulators.faults`),
holds, consistency modes, reset and state (`control.py`).

Layout: `schemas` (wire shapes), `store` (records and rules), `routes` (the contract),
`faults` (what happens before a route: counts, holds, faults, API key), `control`.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException

from emulators.faults import fault_routes
from emulators.registry_emulator import control, routes
from emulators.registry_emulator.errors import install_error_handlers
from emulators.registry_emulator.faults import ControlMiddleware, EmulatorControl
from emulators.registry_emulator.settings import RegistryEmulatorSettings
from emulators.registry_emulator.store import RegistryStore
from emulators.routing import RouteTable


def _reject(status: int, message: str) -> HTTPException:
    return HTTPException(status, message)


def create_app(settings: RegistryEmulatorSettings | None = None) -> FastAPI:
    settings = settings or RegistryEmulatorSettings()
    emulator_control = EmulatorControl()
    app = FastAPI(
        title="Model Registry (emulator)",
        version=settings.service_version,
        description="In-memory stand-in for the Model Registry used in development and tests.",
    )
    app.state.store = RegistryStore(settings)
    app.state.control = emulator_control
    app.state.settings = settings
    install_error_handlers(app)
    routers = [
        routes.router,
        fault_routes(emulator_control.faults, _reject, created_status=201),
        control.router,
    ]
    for router in routers:
        app.include_router(router)
    app.add_middleware(
        ControlMiddleware,
        control=emulator_control,
        settings=settings,
        routes=RouteTable(routers),
    )
    return app
