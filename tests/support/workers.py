"""Workers in their own processes, for tests that kill one (SIGKILL) mid-step."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def worker_env(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATABASE_POOL_MAX": str(settings.database_pool_max),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "OPENAI_BASE_URL": settings.openai_base_url or "",
        "OPENAI_API_KEY": settings.provider_api_key(),
        "MODEL_REGISTRY_URL": settings.model_registry_url,
        "DATASET_ROOT": str(settings.dataset_root),
        "PROVIDER_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "WARNING",
        # Several workers share this machine: no fixed metrics ports.
        "WORKER_METRICS_PORT": "0",
        "TEMPORAL_SDK_METRICS_PORT": "0",
    }
    registry_key = settings.registry_api_key()
    if registry_key:
        env["MODEL_REGISTRY_API_KEY"] = registry_key
    return env


class WorkerProcesses:
    """Start workers as `python worker.py`; every one still running is killed at the end."""

    def __init__(self, log: Path | None = None) -> None:
        self.started: list[asyncio.subprocess.Process] = []
        self.log = log  # where their output goes (None: this process's stdout and stderr)

    async def start(
        self, settings: Settings, extra_env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        env = {**worker_env(settings), **(extra_env or {})}
        if self.log is None:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "worker.py", cwd=REPO, env=env
            )
        else:
            with self.log.open("ab") as out:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "worker.py", cwd=REPO, env=env, stdout=out, stderr=out
                )
        self.started.append(proc)
        return proc

    async def stop_all(self) -> None:
        for proc in self.started:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
