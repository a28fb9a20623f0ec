"""The services of a stack besides Temporal: a database of its own, ASGI apps (the API, the
emulators' `create_app`) served in this process, the emulators as processes, and workers
in this process or as `python worker.py`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import uvicorn

from scripts.stack.processes import (
    HOST,
    Child,
    StackError,
    emulator_argv,
    free_port,
    spawn,
    wait_for_port,
)
from scripts.stack.self_hosted import self_hosted_env

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from activities.deps import ActivityDeps
    from core.settings import Settings

# The PostgreSQL server that tests and benchmarks make their databases on.
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HTTP_START_TIMEOUT = 30.0


def database_server_url() -> str:
    """`TEST_DATABASE_URL` when set (any database on the server will do), else the local one."""
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER_URL


def with_database(url: str, name: str) -> str:
    """`url` pointing at the database `name` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def recreate_database(dsn: str) -> None:
    """Drop the database named in `dsn` (closing its connections) and create it empty."""
    name = urlsplit(dsn).path.lstrip("/")
    admin = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def drop_database(dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    admin = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_database(
    name: str, server_url: str | None = None, *, migrate: bool = False
) -> AsyncIterator[str]:
    """An empty database `name` on the server (`database_server_url()` unless given), for the
    block; dropped after. Put the process id in `name` so concurrent runs never share one.
    `migrate` applies the schema now (the API and worker also do it when they start)."""
    url = with_database(server_url or database_server_url(), name)
    await recreate_database(url)
    try:
        if migrate:
            from core.db import open_database

            pool = await open_database(url, max_size=1)
            await pool.close()
        yield url
    finally:
        await drop_database(url)


@asynccontextmanager
async def serve_app(
    app: Callable[..., Any], port: int | None = None, host: str = HOST
) -> AsyncIterator[str]:
    """Serve the ASGI `app` with uvicorn in this event loop (a free port unless given);
    yield its base URL."""
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
            raise StackError(f"uvicorn did not start on {host}:{port}")
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


async def wait_for_http(
    url: str, *, children: Sequence[Child] = (), timeout: float = HTTP_START_TIMEOUT
) -> None:
    """Wait until GET `url` answers below 500; fail early when one of `children` exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            for child in children:
                if not child.running:
                    raise StackError(child.describe_exit())
            try:
                response = await client.get(url)
                if response.status_code < 500:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as err:
                last = type(err).__name__
            await asyncio.sleep(0.2)
    raise StackError(f"GET {url} did not answer within {timeout:.0f}s ({last})")


class EmulatorProcess:
    """`python -m emulators.<name>` on a port (a free one unless given, kept for restarts);
    its state lives in memory, so it is lost when it stops."""

    def __init__(
        self,
        module: str,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        name: str | None = None,
    ) -> None:
        self.module, self.port = module, port or free_port()
        self.env, self.log = env or {}, log
        self.name = name or module.rsplit(".", 1)[-1].replace("_", "-")
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> Child:
        argv = emulator_argv(self.module, self.port)
        self.child = await spawn(self.name, argv, env=self.env, log_path=self.log)
        await wait_for_http(f"{self.url}/", children=[self.child])
        return self.child

    async def stop(self) -> None:
        if self.child is not None:
            await self.child.stop()
            await wait_for_port(self.port, open_=False)


@asynccontextmanager
async def emulator_process(
    module: str, *, port: int | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[EmulatorProcess]:
    """An emulator process for the block (its `.url`); stopped after."""
    emulator = EmulatorProcess(module, port, env)
    try:
        await emulator.start()
        yield emulator
    finally:
        await emulator.stop()


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that give a `worker.py` (or API) process these settings' stack."""
    env = {
        "DATABASE_URL": settings.database_url,
        "DATABASE_POOL_MAX": str(settings.database_pool_max),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "OPENAI_BASE_URL": settings.openai_base_url or "",
        "OPENAI_API_KEY": settings.provider_api_key(),
        "OPENAI_FINE_TUNING_EXCEPTION": str(settings.openai_fine_tuning_exception).lower(),
        "MODEL_REGISTRY_URL": settings.model_registry_url,
        "DATASET_ROOT": str(settings.dataset_root),
        "PROVIDER_POLL_SECONDS": str(settings.provider_poll_seconds),
    }
    registry_key = settings.registry_api_key()
    if registry_key:
        env["MODEL_REGISTRY_API_KEY"] = registry_key
    return {**env, **self_hosted_env(settings)}


@asynccontextmanager
async def in_process_worker(
    client: Client,
    settings: Settings,
    *,
    deps: ActivityDeps | None = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    """The service's workflows and activities on `settings.temporal_task_queue`, in this
    process. `deps` (opened here unless given) is closed after only when opened here;
    `options` go to `temporalio.worker.Worker`."""
    from temporalio.worker import Worker

    from activities.deps import ActivityDeps
    from activities.log_context import ActivityLogContext
    from worker import WORKFLOWS, activities_for

    async with contextlib.AsyncExitStack() as stack:
        if deps is None:
            deps = await ActivityDeps.open(settings)
            stack.push_async_callback(deps.close)
        options.setdefault("interceptors", [ActivityLogContext()])
        running = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=WORKFLOWS,
            activities=activities_for(deps),
            **options,
        )
        async with running:
            yield running
