"""The fault matrix: a worker killed in every step, Temporal and PostgreSQL restarted under a
running job, the registry down; each on a stack of its own, with timings.

    python -m bench.fault_matrix                      # every case
    python -m bench.fault_matrix --cases crash-wait,postgres-restart
    python -m bench.fault_matrix --registry-down-seconds 600   # the full ten minutes

Nothing shared is touched: PostgreSQL is a fresh cluster (initdb) on 127.0.0.1:55432, the
Temporal dev server runs on 7300-7302 with its SQLite store in a temporary folder, the
emulators on 7310/7311 and the API on 7320. Results: bench/README-faults.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from core.settings import Settings
from tests.support.auth import TEST_JWT_SECRET, bearer
from tests.support.crash import check_completed, job_records, started_activities, wait_until
from tests.support.crash_run import check_crash_outcome, run_crash_case
from tests.support.crash_steps import CRASH_STEPS, SMALL_EVAL
from tests.support.fault_stack import EmulatorProcess, Postgres, TemporalServer, stop_quietly
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import serve_app
from tests.support.workers import WorkerProcesses

REPO = Path(__file__).resolve().parents[1]
PG_PORT, TEMPORAL_PORT, OPENAI_PORT, REGISTRY_PORT, API_PORT = 55432, 7300, 7310, 7311, 7320
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
    workers: WorkerProcesses = field(default_factory=WorkerProcesses)
    client: Client | None = None

    def __post_init__(self) -> None:
        self.pg = Postgres(self.root / "pg", PG_PORT)
        self.temporal = TemporalServer(self.root / "temporal", TEMPORAL_PORT)
        self.openai = EmulatorProcess("emulators.openai_emulator", OPENAI_PORT, FAST_TRAINING)
        self.registry = EmulatorProcess("emulators.registry_emulator", REGISTRY_PORT)
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
        return await self.workers.start(self.settings, env)

    async def records(self, job_id: str) -> Any:
        async with self.admin(self.openai.url) as oa, self.admin(self.registry.url) as reg:
            return await job_records(self.settings.database_url, job_id, oa, reg)


@contextlib.asynccontextmanager
async def running_stack(args: argparse.Namespace) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    root = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    stack = Stack(root, args)
    try:
        await stack.pg.start()
        await stack.temporal.start()
        await stack.openai.start()
        await stack.registry.start()
        stack.client = await Client.connect(
            stack.temporal.address, data_converter=pydantic_data_converter
        )
        headers = bearer(None, ["trainer:admin"], subject="fault-matrix")
        async with (
            serve_app(create_app(stack.settings), port=API_PORT) as url,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as api,
        ):
            yield stack, api
    finally:
        await stack.workers.stop_all()
        await stop_quietly(stack.registry, stack.openai, stack.temporal, stack.pg)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.asynccontextmanager
async def slow_training(stack: Stack, seconds_per_step: float, steps: int) -> AsyncIterator[None]:
    async with stack.admin(stack.openai.url) as oa:
        body = {"seconds_per_step": seconds_per_step, "max_steps": steps}
        await oa.patch("/_emulator/settings", json=body)
        try:
            yield
        finally:
            await oa.patch("/_emulator/settings", json={"seconds_per_step": 0.02, "max_steps": 20})


# ---- cases ---------------------------------------------------------------------------------


def crash_case(index: int) -> Callable[[Stack, httpx.AsyncClient], Awaitable[CaseResult]]:
    step = CRASH_STEPS[index]

    async def run(stack: Stack, api: httpx.AsyncClient) -> CaseResult:
        assert stack.client is not None
        started = time.monotonic()
        async with stack.admin(stack.openai.url) as oa, stack.admin(stack.registry.url) as reg:
            # No sticky-queue shortcut here: the timings are what a real crash costs.
            outcome = await run_crash_case(
                step,
                api=api,
                temporal_client=stack.client,
                openai_admin=oa,
                registry_admin=reg,
                database_url=stack.settings.database_url,
                start_worker=stack.start_worker,
                skip_sticky_wait=False,
                timeout=300,
            )
        check_crash_outcome(step, outcome)
        await stack.workers.stop_all()
        return CaseResult(
            f"crash-{step.name}",
            True,
            time.monotonic() - started,
            outcome.recovery_seconds,
            {
                "activity": step.activity,
                "attempts": outcome.attempts,
                "in_flight_after_s": round(outcome.in_flight_seconds, 1),
            },
        )

    return run


async def _training_job(stack: Stack, api: httpx.AsyncClient, name: str) -> str:
    job_id = (await submit(api, job_request(name=f"{name}-{time.time_ns() % 10**8}")))["id"]
    await wait_for_job(api, job_id, until={"training"}, stage="training", timeout=120)
    return str(job_id)


async def _probe_api(api: httpx.AsyncClient, job_id: str, log: list[tuple[float, int]]) -> None:
    """GET the job every 200 ms, logging (time, status); 0 is a transport error."""
    while True:
        try:
            status = (await api.get(f"/trainer/jobs/{job_id}", timeout=10)).status_code
        except httpx.HTTPError:
            status = 0
        log.append((time.monotonic(), status))
        await asyncio.sleep(0.2)


async def temporal_restart(stack: Stack, api: httpx.AsyncClient) -> CaseResult:
    started = time.monotonic()
    worker = await stack.start_worker(SMALL_EVAL)
    async with slow_training(stack, 1.0, 40):
        job_id = await _training_job(stack, api, "temporal-restart")
        await asyncio.sleep(2)
        await stack.temporal.stop()
        stopped = time.monotonic()
        await asyncio.sleep(stack.args.temporal_down_seconds)
        await stack.temporal.start()
        back = time.monotonic()
        job = await wait_for_job(api, job_id, timeout=300)
    ended = time.monotonic()
    records = await stack.records(job_id)
    check_completed(records)
    assert job["status"] == "completed"
    assert worker.returncode is None, f"the worker exited ({worker.returncode}) while Temporal was down"
    await stack.workers.stop_all()
    return CaseResult(
        "temporal-restart",
        True,
        ended - started,
        ended - back,
        {"down_s": round(back - stopped, 1), "worker_survived": True},
    )


async def postgres_restart(stack: Stack, api: httpx.AsyncClient) -> CaseResult:
    started = time.monotonic()
    worker = await stack.start_worker(SMALL_EVAL)
    probes: list[tuple[float, int]] = []
    async with slow_training(stack, 0.5, 40):
        job_id = await _training_job(stack, api, "postgres-restart")
        prober = asyncio.create_task(_probe_api(api, job_id, probes))
        await asyncio.sleep(2)
        await stack.pg.stop("fast")
        stopped = time.monotonic()
        await asyncio.sleep(stack.args.pg_down_seconds)
        await stack.pg.start()
        back = time.monotonic()
        job = await wait_for_job(api, job_id, timeout=300)
        ended = time.monotonic()
        await asyncio.sleep(1)
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober
    records = await stack.records(job_id)
    check_completed(records)
    assert worker.returncode is None, "the worker exited while PostgreSQL was down"
    during = Counter(s for t, s in probes if stopped <= t < back)
    after = Counter(s for t, s in probes if t >= back)
    first_ok = next((t for t, s in probes if t >= back and s == 200), None)
    # Nothing lost: every event the provider reported is in our table.
    async with stack.admin(stack.openai.url) as oa:
        listed = await oa.get(
            f"/v1/fine_tuning/jobs/{job['providerJobId']}/events", params={"limit": 1000}
        )
    provider_events = len(listed.json()["data"])
    stored = await _count(stack, "SELECT count(*) FROM job_events WHERE job_id = $1", job_id)
    assert stored == provider_events, f"{stored} events stored, the provider has {provider_events}"
    assert set(after) == {200}, f"the API still failed after PostgreSQL was back: {dict(after)}"
    await stack.workers.stop_all()
    return CaseResult(
        "postgres-restart",
        True,
        ended - started,
        ended - back,
        {
            "down_s": round(back - stopped, 1),
            "api_during_outage": dict(during),
            "api_after": dict(after),
            "first_200_after_s": round(first_ok - back, 2) if first_ok else None,
            "events_stored": stored,
            "events_at_provider": provider_events,
        },
    )


async def _count(stack: Stack, sql: str, *args: Any) -> int:
    import asyncpg

    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def registry_down(stack: Stack, api: httpx.AsyncClient) -> CaseResult:
    assert stack.client is not None
    client = stack.client
    started = time.monotonic()
    await stack.start_worker(SMALL_EVAL)
    await stack.registry.stop()
    stopped = time.monotonic()
    name = f"registry-down-{time.time_ns() % 10**8}"
    job_id = str((await submit(api, job_request(name=name)))["id"])

    async def promotion_failing() -> bool:
        return (await started_activities(client, job_id)).get("promote_model", 0) >= 2 or bool(
            await _count(
                stack, "SELECT count(*) FROM jobs WHERE id = $1 AND stage = 'promoting'", job_id
            )
        )

    await wait_until(promotion_failing, "promotion against the down registry", timeout=120)
    left = stack.args.registry_down_seconds - (time.monotonic() - stopped)
    await asyncio.sleep(max(0.0, left))
    await stack.registry.start()
    back = time.monotonic()
    job = await wait_for_job(api, job_id, timeout=300)
    ended = time.monotonic()
    records = await stack.records(job_id)
    check_completed(records)
    assert job["promotion"]["promoted"] is True
    await stack.workers.stop_all()
    return CaseResult(
        "registry-down",
        True,
        ended - started,
        ended - back,
        {"down_s": round(back - stopped, 1)},
    )


CASES: dict[str, Callable[[Stack, httpx.AsyncClient], Awaitable[CaseResult]]] = {
    **{f"crash-{s.name}": crash_case(i) for i, s in enumerate(CRASH_STEPS)},
    "temporal-restart": temporal_restart,
    "postgres-restart": postgres_restart,
    "registry-down": registry_down,
}


# ---- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fault_matrix", description=__doc__)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--temporal-down-seconds", type=float, default=10.0)
    parser.add_argument("--pg-down-seconds", type=float, default=5.0)
    parser.add_argument("--registry-down-seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def print_table(results: list[CaseResult]) -> None:
    print("\n| case | result | case s | recovery s | notes |")
    print("|---|---|---:|---:|---|")
    for r in results:
        recovery = f"{r.recovery_seconds:.1f}" if r.recovery_seconds is not None else "-"
        outcome = "ok" if r.ok else f"FAILED: {r.error}"
        notes = ", ".join(f"{k}={v}" for k, v in r.notes.items())
        print(f"| {r.name} | {outcome} | {r.seconds:.1f} | {recovery} | {notes} |")


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown cases: {unknown}; known: {list(CASES)}")
    results: list[CaseResult] = []
    async with running_stack(args) as (stack, api):
        for name in names:
            started = time.monotonic()
            print(f"{name} ...", flush=True)
            try:
                result = await CASES[name](stack, api)
            except Exception as err:  # a failed case is a result; the matrix goes on
                result = CaseResult(
                    name,
                    False,
                    time.monotonic() - started,
                    None,
                    error=f"{type(err).__name__}: {err}",
                )
                await stack.workers.stop_all()
            print(
                f"  {'ok' if result.ok else 'FAILED'} in {result.seconds:.1f}s {result.notes}"
                f"{' ' + result.error if result.error else ''}",
                flush=True,
            )
            results.append(result)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
