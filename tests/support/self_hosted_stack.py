"""A self-hosted stack for tests, beside the session's: its own task queues, a catalogue with
the tiny model, a local S3 server for artifacts, the inference server as a process, the
CPU worker in this process, GPU workers as `python worker.py gpu` processes (which tests
may SIGKILL), and an API app on those settings."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from scripts.stack import Child, spawn
from scripts.stack.self_hosted import gpu_worker_argv, inference_server_argv
from scripts.stack.services import in_process_worker, serve_app, wait_for_http
from tests.conftest import ADMIN_HEADERS
from tests.support.s3_server import local_s3_server
from tests.support.servers import free_port
from tests.support.tiny_model import write_catalogue
from tests.support.workers import worker_env

ARTIFACT_BUCKET = "trainer-artifacts"


@dataclass
class SelfHostedStack:
    settings: Settings
    api: httpx.AsyncClient
    s3_client: object
    logs: Path
    gpu_workers: list[Child] = field(default_factory=list)

    async def start_gpu_worker(self) -> Child:
        name = f"gpu-worker-{len(self.gpu_workers) + 1}"
        child = await spawn(
            name,
            gpu_worker_argv(),
            env={**worker_env(self.settings), "LOG_LEVEL": "INFO"},  # its own log file
            log_path=self.logs / f"{name}.log",
        )
        self.gpu_workers.append(child)
        return child

    async def stop_gpu_workers(self) -> None:
        for child in self.gpu_workers:
            if child.running:
                child.process.kill()
                await child.process.wait()
            await child.stop()
        self.gpu_workers.clear()


@contextlib.asynccontextmanager
async def self_hosted_stack(
    base: Settings, temporal_client: Client, tmp: Path
) -> AsyncIterator[SelfHostedStack]:
    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    catalogue = write_catalogue(tmp / "base-models.yaml")
    served = tmp / "served-adapters"
    served.mkdir()
    suffix = uuid.uuid4().hex[:8]
    with local_s3_server(buckets=[ARTIFACT_BUCKET]) as s3:
        port = free_port()
        settings = base.model_copy(
            update={
                "temporal_task_queue": f"self-hosted-{suffix}",
                "gpu_task_queue": f"self-hosted-gpu-{suffix}",
                "self_hosted_catalogue_file": catalogue,
                "artifact_store_url": f"s3://{ARTIFACT_BUCKET}/trainer",
                "s3_endpoint_url": s3.endpoint_url,
                "self_hosted_inference_url": f"http://127.0.0.1:{port}/v1",
                "self_hosted_adapter_dir": served,
                "self_hosted_work_dir": tmp / "gpu-work",
                "self_hosted_checkpoint_steps": 5,
                "self_hosted_heartbeat_timeout_seconds": 8.0,
                "eval_max_samples_per_suite": 3,
            }
        )
        inference: Child = await spawn(
            "inference-server",
            inference_server_argv(port, catalogue, served),
            log_path=logs / "inference-server.log",
        )
        stack: SelfHostedStack | None = None
        try:
            await wait_for_http(f"http://127.0.0.1:{port}/health", children=[inference])
            async with (
                in_process_worker(temporal_client, settings),
                serve_app(create_app(settings)) as url,
                httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN_HEADERS) as api,
            ):
                stack = SelfHostedStack(
                    settings=settings, api=api, s3_client=s3.client(), logs=logs
                )
                yield stack
        finally:
            if stack is not None:
                await stack.stop_gpu_workers()
            if inference.running:
                inference.process.kill()
                await inference.process.wait()
            await inference.stop()
