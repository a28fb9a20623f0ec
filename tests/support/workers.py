"""Workers in their own processes, for tests that kill one (SIGKILL) mid-step."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.settings import Settings
from scripts.stack import Child, settings_env, spawn


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        **settings_env(settings),
        "PROVIDER_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "WARNING",
        # Several workers share this machine: no fixed metrics ports.
        "WORKER_METRICS_PORT": "0",
        "TEMPORAL_SDK_METRICS_PORT": "0",
    }


class WorkerProcesses:
    """Start workers as `python worker.py`; every one still running is killed at the end."""

    def __init__(self, log: Path | None = None) -> None:
        self.started: list[Child] = []
        self.log = log  # where their output goes (None: this process's stdout and stderr)

    async def start(
        self, settings: Settings, extra_env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        env = {**worker_env(settings), **(extra_env or {})}
        child = await spawn("worker", [sys.executable, "worker.py"], env=env, log_path=self.log)
        self.started.append(child)
        return child.process

    async def stop_all(self) -> None:
        for child in self.started:
            if child.running:
                child.process.kill()
                await child.process.wait()
            await child.stop()  # closes its log
