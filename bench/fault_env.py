"""The fault matrix's own stack (PostgreSQL, Temporal, emulators, API, workers) and the
helpers its cases share. Every server takes a free port, so the matrix runs beside a
`make dev` or the test suite."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from scripts.stack import free_port, serve_app
from tests.support.auth import TEST_JWT_SECRET, bearer
from tests.support.crash import job_records
from tests.support.crash_steps import SMALL_EVAL_POLICY
from tests.support.fault_stack import EmulatorProcess, Postgres, TemporalServer, stop_quietly
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.workers import WorkerProcesses

REPO = Path(__file__).resolve().parents[1]
FAST_TRAINING = {
    "OPENAI_EMULATOR_SECONDS_PER_STEP": "0.02",
    "OPENAI_EMULATOR_VALIDATION_SECONDS": "0.05",
    "OPENAI_EMULATOR_QUEUE_SECONDS": "0.05",
    "OPENAI_EMULATOR_MAX_STEPS": "20",
}


@dataclass
class CaseResult:
    name: str
    ok: bool
    seconds: float  # the whole case
    recovery_seconds: float | None  # from the fault's end (kill, restart) to the job's end
    notes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Stack:
    root: Path
    args: argparse.Namespace
    pg: Postgres = field(init=False)
    temporal: TemporalServer = field(init=False)
    openai: EmulatorProcess = field(init=False)
    registry: EmulatorProcess = field(init=False)
    settings: Settings = field(init=False)
    workers: WorkerProcesses = field(init=False)
    client: Client | None = None
    failed: bool = False

    def __post_init__(self) -> None:
        self.workers = WorkerProcesses(log=self.root / "workers.log")
        self.pg = Postgres(self.root / "pg", free_port())
        self.temporal = TemporalServer(self.root / "temporal", free_port())
        self.openai = EmulatorProcess(
            "emulators.openai_emulator", env=FAST_TRAINING, log=self.root / "openai.log"
        )
        self.registry = EmulatorProcess(
            "emulators.registry_emulator", log=self.root / "registry.log"
        )
        datasets = self.root / "datasets"
        shutil.copytree(REPO / "examples" / "datasets", datasets)
        self.settings = Settings(
            _env_file=None,
            database_url=self.pg.url("model_trainer"),
            temporal_address=self.temporal.address,
            temporal_task_queue="fault-matrix",
            openai_base_url=f"{self.openai.url}/v1",
            openai_api_key=SecretStr("sk-fault-matrix"),
            model_registry_url=self.registry.url,
            dataset_root=datasets,
            provider_poll_seconds=0.1,
            progress_report_seconds=2.0,
            wait_heartbeat_seconds=3.0,
            launch_timeout_seconds=3.0,
            promote_timeout_seconds=3.0,
            auth_mode="jwt",
            jwt_secret=SecretStr(TEST_JWT_SECRET),
            log_level="WARNING",
        )

    def admin(self, url: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=url, timeout=30)

    async def start_worker(self, env: dict[str, str]) -> asyncio.subprocess.Process:
        return await self.workers.start(self.settings, {"LOG_LEVEL": "ERROR", **env})

    async def records(self, job_id: str) -> Any:
        async with self.admin(self.openai.url) as oa, self.admin(self.registry.url) as reg:
            return await job_records(self.settings.database_url, job_id, oa, reg)


@contextlib.asynccontextmanager
async def running_stack(args: argparse.Namespace) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    root = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    stack = Stack(root, args)
    ok = False
    try:
        await stack.pg.start()
        stack.client = await stack.temporal.start()
        await stack.openai.start()
        await stack.registry.start()
        headers = bearer(None, ["trainer:admin"], subject="fault-matrix")
        async with (
            serve_app(create_app(stack.settings)) as url,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as api,
        ):
            yield stack, api
            ok = not stack.failed
    finally:
        await stack.workers.stop_all()
        await stop_quietly(stack.registry, stack.openai, stack.temporal, stack.pg)
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:  # keep the logs (workers.log, temporal/, pg/postgres.log)
            print(f"logs kept in {root}", flush=True)


@contextlib.asynccontextmanager
async def slow_training(stack: Stack, seconds_per_step: float, steps: int) -> AsyncIterator[None]:
    async with stack.admin(stack.openai.url) as oa:
        body = {"seconds_per_step": seconds_per_step, "max_steps": steps}
        await oa.patch("/_emulator/settings", json=body)
        try:
            yield
        finally:
            await oa.patch("/_emulator/settings", json={"seconds_per_step": 0.02, "max_steps": 20})


async def start_training_job(stack: Stack, api: httpx.AsyncClient, name: str) -> str:
    request = job_request(name=f"{name}-{time.time_ns() % 10**8}", policy=SMALL_EVAL_POLICY)
    job_id = (await submit(api, request))["id"]
    await wait_for_job(api, job_id, until={"training"}, stage="training", timeout=120)
    return str(job_id)


async def probe_api(api: httpx.AsyncClient, job_id: str, log: list[tuple[float, int]]) -> None:
    """GET the job every 200 ms, logging (time, status); 0 is a transport error."""
    while True:
        try:
            status = (await api.get(f"/trainer/jobs/{job_id}", timeout=10)).status_code
        except httpx.HTTPError:
            status = 0
        log.append((time.monotonic(), status))
        await asyncio.sleep(0.2)


async def count_rows(stack: Stack, sql: str, *args: Any) -> int:
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()
