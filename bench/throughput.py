"""Throughput of training jobs against bare workflows, on one Temporal dev server.

    python -m bench.throughput [--jobs 200] [--bare 200]

One run starts a Temporal dev server (the `temporal` binary, a WAL-mode SQLite file in a
temporary directory: the store `make dev` uses), a fresh PostgreSQL database, the OpenAI
and registry emulators set to finish fine-tuning instantly, and the real API app on a
loopback port. It then measures, one phase after the other:

* bare workflows: N `BareWorkflow` runs of five no-op activities, started concurrently,
  on their own task queue and worker, timed until the last one completes;
* training jobs: N jobs posted concurrently to `POST /trainer/jobs`, timed from the first
  submit until the projection shows the last one in a terminal status. Every job must end
  `completed` and promoted.

Both workers are in this process with the same `Worker` options. The evaluation is
smoke-sized (one sample per suite, no baseline run) so the number measures orchestration,
not grading. Afterwards it reads the workflow histories and prints where the time went.
Everything it starts is stopped before it exits; it exits 1 if any job or workflow failed.
"""

from __future__ import annotations

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import argparse
    import asyncio
    import contextlib
    import cProfile
    import json
    import logging
    import os
    import pstats
    import re
    import secrets
    import shutil
    import signal
    import statistics
    import sys
    import tempfile
    import time
    import uuid
    from collections import Counter, defaultdict
    from collections.abc import AsyncIterator, Sequence
    from dataclasses import dataclass, field
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from typing import Any

    import asyncpg
    import httpx
    from temporalio.api.enums.v1 import EventType
    from temporalio.api.history.v1 import HistoryEvent
    from temporalio.client import Client, WorkflowHistory
    from temporalio.common import (
        RetryPolicy,
        SearchAttributePair,
        TypedSearchAttributes,
    )
    from temporalio.worker import Worker

    from activities.deps import ActivityDeps
    from api.app import create_app
    from core.settings import Settings
    from emulators.openai_emulator.app import create_app as create_openai_emulator
    from emulators.openai_emulator.settings import EmulatorSettings
    from emulators.registry_emulator.app import create_app as create_registry_emulator
    from scripts.stack import (
        emulator_process,
        fresh_database,
        in_process_worker,
        mint_token,
        serve_app,
        temporal_dev_server,
    )
    from tests.support.jobs import TERMINAL, job_request
    from workflows import search_attributes as sa
    from workflows.connection import connect

BARE_ACTIVITIES = 5
AIM = 0.7

log = logging.getLogger("bench")


# ---- the bare workflow ---------------------------------------------------------------------


@activity.defn(name="bench_noop")
async def noop(step: int) -> int:
    return step


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    """Five no-op activities in sequence: the floor for a workflow on this server."""

    @workflow.run
    async def run(self, steps: int) -> int:
        done = 0
        for step in range(steps):
            await workflow.execute_activity(
                noop,
                step,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=8),
            )
            done += 1
        return done


# The training workflow's steps, for a small evaluation (planned, then graded by one
# activity). A number is that many activities run in parallel; `s` is a status write (the
# JobStatus upsert and a local activity); `l` is a local activity alone (the evaluation's
# planning). validate, launch, wait, plan, grade and promote, with the status writes around
# them. A large evaluation fans out instead, e.g. s,1,s,1,1,s,l,8,1,s,1,s for four suites of
# candidate and baseline (then their summary).
TRAINING_SHAPE = ("s", "1", "s", "1", "1", "s", "l", "1", "s", "1", "s")
STATUS_WRITES = ("validating", "training", "evaluating", "evaluating", "completed")


@activity.defn(name="bench_noop_local")
async def noop_local(step: int) -> int:
    return step


@workflow.defn(name="JobShapedWorkflow")
class JobShapedWorkflow:
    """A training job's orchestration with no-op steps (see TRAINING_SHAPE), started with the
    job's search attributes and upserting `JobStatus` (and `FineTunedModel`) where the job
    does. Its rate is the ceiling the server allows that shape, whatever the activities do;
    pass another shape to price a proposed workflow."""

    @workflow.run
    async def run(self, shape: list[str]) -> int:
        done = 0
        writes = iter(STATUS_WRITES)

        async def step() -> None:
            nonlocal done
            await workflow.execute_activity(
                noop,
                done,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=8),
            )
            done += 1

        async def local_step() -> None:
            await workflow.execute_local_activity(
                noop_local, done, start_to_close_timeout=timedelta(seconds=30)
            )

        for token in shape:
            if token == "s":
                status = next(writes, "completed")
                if status == "evaluating" and done == 3:  # training ended with a model
                    workflow.upsert_search_attributes([sa.FINE_TUNED_MODEL.value_set("ft:bench")])
                workflow.upsert_search_attributes([sa.JOB_STATUS.value_set(status)])
                await local_step()
            elif token == "l":
                await local_step()
            else:
                await asyncio.gather(*(step() for _ in range(int(token))))
        return done


# ---- machine and CPU accounting (Linux /proc) ----------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(name, parent pid, user+system ticks) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return name, int(fields[1]), int(fields[11]) + int(fields[12])


def _system_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


@dataclass
class CpuSnapshot:
    at: float
    busy: int
    total: int
    by_process: dict[str, int]


# Child processes the bench started itself (emulators run out of process), by pid.
CHILD_GROUPS: dict[int, str] = {}
BENCH_PROCESS = "bench process (API, workers, in-process emulators)"


def cpu_snapshot() -> CpuSnapshot:
    """CPU ticks of this process, the Temporal server and PostgreSQL, and the machine."""
    me = os.getpid()
    groups: Counter[str] = Counter()
    own = _proc_stat(me)
    if own:
        groups[BENCH_PROCESS] += own[2]
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            stat = _proc_stat(int(entry.name))
            if stat is None:
                continue
            name, parent, ticks = stat
            if int(entry.name) in CHILD_GROUPS:
                groups[CHILD_GROUPS[int(entry.name)]] += ticks
            elif parent == me and name.startswith("temporal"):
                groups["temporal server"] += ticks
            elif name.startswith(("postgres", "postmaster")):
                groups["postgresql"] += ticks
    busy, total = _system_ticks()
    return CpuSnapshot(time.monotonic(), busy, total, dict(groups))


def cpu_usage(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Average CPUs used over the interval (1.0 = one core busy), by group and in all."""
    seconds = max(after.at - before.at, 1e-9)
    # A group's processes that exited during the interval take their ticks along: clamp.
    usage = {
        name: max(after.by_process.get(name, 0) - before.by_process.get(name, 0), 0)
        / os.sysconf("SC_CLK_TCK")
        / seconds
        for name in after.by_process
    }
    if after.total > before.total:
        cpus = os.cpu_count() or 1
        machine = (after.busy - before.busy) / (after.total - before.total) * cpus
        usage["other processes"] = max(machine - sum(usage.values()), 0.0)
        usage["machine"] = machine
    return usage


# ---- history analysis ----------------------------------------------------------------------


def _ts(event: HistoryEvent) -> float:
    return event.event_time.ToNanoseconds() / 1e9


@dataclass
class HistoryStats:
    """What one workflow run cost the server, read from its history."""

    events: int = 0
    size_bytes: int = 0
    bytes_by_event: Counter[str] = field(default_factory=Counter)
    duration: float = 0.0
    activities: Counter[str] = field(default_factory=Counter)
    activity_queue: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    activity_run: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    workflow_tasks: int = 0
    workflow_task_queue: list[float] = field(default_factory=list)
    workflow_task_run: list[float] = field(default_factory=list)


def analyse(history: WorkflowHistory) -> HistoryStats:
    stats = HistoryStats(
        events=len(history.events), size_bytes=sum(e.ByteSize() for e in history.events)
    )
    if history.events:
        stats.duration = _ts(history.events[-1]) - _ts(history.events[0])
    by_id = {e.event_id: e for e in history.events}
    for event in history.events:
        kind = event.event_type
        label = EventType.Name(kind).removeprefix("EVENT_TYPE_").lower()
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            label += f" ({event.activity_task_scheduled_event_attributes.activity_type.name})"
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = by_id[event.activity_task_completed_event_attributes.scheduled_event_id]
            label += f" ({scheduled.activity_task_scheduled_event_attributes.activity_type.name})"
        stats.bytes_by_event[label] += event.ByteSize()
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            stats.activities[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            scheduled, started = by_id[attrs.scheduled_event_id], by_id[attrs.started_event_id]
            name = scheduled.activity_task_scheduled_event_attributes.activity_type.name
            stats.activity_queue[name].append(_ts(started) - _ts(scheduled))
            stats.activity_run[name].append(_ts(event) - _ts(started))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            task_attrs = event.workflow_task_completed_event_attributes
            scheduled = by_id[task_attrs.scheduled_event_id]
            started = by_id[task_attrs.started_event_id]
            stats.workflow_tasks += 1
            stats.workflow_task_queue.append(_ts(started) - _ts(scheduled))
            stats.workflow_task_run.append(_ts(event) - _ts(started))
    return stats


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise_histories(all_stats: list[HistoryStats]) -> dict[str, Any]:
    """Per workflow averages: events, workflow tasks, and each activity type's queue/run time."""
    n = max(len(all_stats), 1)
    counts: Counter[str] = Counter()
    queue: dict[str, list[float]] = defaultdict(list)
    run: dict[str, list[float]] = defaultdict(list)
    for s in all_stats:
        counts.update(s.activities)
        for name, values in s.activity_queue.items():
            queue[name] += values
        for name, values in s.activity_run.items():
            run[name] += values
    durations = [s.duration for s in all_stats]
    return {
        "workflows": len(all_stats),
        "events_per_workflow": _mean([s.events for s in all_stats]),
        "history_bytes_per_workflow": _mean([s.size_bytes for s in all_stats]),
        "activities_per_workflow": sum(counts.values()) / n,
        "workflow_tasks_per_workflow": _mean([s.workflow_tasks for s in all_stats]),
        "workflow_task_queue_ms": 1000
        * _mean([v for s in all_stats for v in s.workflow_task_queue]),
        "workflow_task_run_ms": 1000 * _mean([v for s in all_stats for v in s.workflow_task_run]),
        "duration_p50_s": _pct(durations, 0.5),
        "duration_p95_s": _pct(durations, 0.95),
        "duration_max_s": max(durations, default=0.0),
        "activities": {
            name: {
                "per_workflow": counts[name] / n,
                "queue_ms": 1000 * _mean(queue[name]),
                "run_ms": 1000 * _mean(run[name]),
                "run_p95_ms": 1000 * _pct(run[name], 0.95),
            }
            for name in sorted(counts, key=lambda k: -sum(run[k]))
        },
    }


async def fetch_histories(client: Client, workflow_ids: list[str]) -> list[WorkflowHistory]:
    gate = asyncio.Semaphore(16)

    async def one(workflow_id: str) -> WorkflowHistory:
        async with gate:
            return await client.get_workflow_handle(workflow_id).fetch_history()

    return list(await asyncio.gather(*(one(w) for w in workflow_ids)))


# ---- where the bench process spends its CPU --------------------------------------------------

PROFILE_GROUPS = (
    ("emulators/", "emulators (OpenAI, registry)"),
    ("/api/", "API app (routers, auth, mapping)"),
    ("/activities/", "activities (project code)"),
    ("/workflows/", "workflow code"),
    ("/core/", "core (models, db, settings)"),
    ("temporalio/worker/workflow_sandbox", "temporalio workflow sandbox"),
    ("temporalio/", "temporalio SDK (other)"),
    ("pydantic", "pydantic"),
    ("/openai/", "openai SDK"),
    ("httpx", "httpx/httpcore (clients)"),
    ("httpcore", "httpx/httpcore (clients)"),
    ("uvicorn", "uvicorn/starlette/fastapi (servers)"),
    ("starlette", "uvicorn/starlette/fastapi (servers)"),
    ("fastapi", "uvicorn/starlette/fastapi (servers)"),
    ("h11", "uvicorn/starlette/fastapi (servers)"),
    ("asyncpg", "asyncpg"),
    ("jwt", "jwt"),
    ("anyio", "anyio/sniffio"),
    ("sniffio", "anyio/sniffio"),
    ("asyncio", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("json", "json"),
    ("/lib/python3", "standard library (other)"),
)


def profile_by_package(profile: cProfile.Profile, top: int = 25) -> list[tuple[str, float]]:
    """Self time of the profiled code, grouped by where the code lives."""
    stats = pstats.Stats(profile)
    groups: Counter[str] = Counter()
    for (filename, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
        self_time = row[2]
        label = "other"
        if filename == "~":
            label = f"builtins ({func.split(' of ')[0].strip('<>')})"[:60]
        else:
            for needle, name in PROFILE_GROUPS:
                if needle in filename:
                    label = name
                    break
        groups[label] += self_time
    # Counter's stubs say int counts; these are seconds.
    return [(label, float(seconds)) for label, seconds in groups.most_common(top)]


# ---- HTTP requests per job --------------------------------------------------------------------

_ID_SEGMENT = re.compile(r"^(\d+|(ftjob|file|ft|ftevent|ckpt)[-:].*|(?=.*\d)[^/]{8,}|[^/]{20,})$")


class CountRequests:
    """ASGI wrapper counting requests by service, method and path (ids collapsed)."""

    def __init__(self, app: Any, service: str, counts: Counter[str]) -> None:
        self.app, self.service, self.counts = app, service, counts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = "/".join(
                "{id}" if _ID_SEGMENT.match(part) else part for part in scope["path"].split("/")
            )
            self.counts[f"{self.service} {scope['method']} {path}"] += 1
        await self.app(scope, receive, send)


# ---- the stack -----------------------------------------------------------------------------


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


BENCH_DATASET = "bench-small.jsonl"


def example_datasets() -> Path:
    return repo_root() / "examples" / "datasets"


@contextlib.asynccontextmanager
async def emulator_child(module: str, env: dict[str, str]) -> AsyncIterator[str]:
    """An emulator as a process, its CPU counted apart; yields its URL."""
    async with emulator_process(module, env=env) as emulator:
        assert emulator.child is not None
        pid = emulator.child.process.pid
        CHILD_GROUPS[pid] = "emulators (separate processes)"
        try:
            yield emulator.url
        finally:
            CHILD_GROUPS.pop(pid, None)


def bench_token(settings: Settings) -> str:
    """A bearer token for the sample job's tenant, signed with the run's HS256 secret."""
    secret = settings.jwt_hs256_secret()
    assert secret
    return mint_token(
        secret,
        job_request()["policy"]["scope"],
        subject="bench",
        tenant_claim=settings.jwt_tenant_claim,
        roles_claim=settings.jwt_roles_claim,
        hours=24,
    )


def worker_options(args: argparse.Namespace) -> dict[str, Any]:
    """The same `Worker` options for both workers; None keeps the SDK default."""
    options = {
        "max_concurrent_activities": args.max_concurrent_activities,
        "max_concurrent_workflow_tasks": args.max_concurrent_workflow_tasks,
    }
    return {k: v for k, v in options.items() if v is not None}


# ---- the two phases ------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    count: int
    seconds: float
    failures: list[str]
    workflow_ids: list[str]
    cpu: dict[str, float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


async def run_bare(
    client: Client,
    args: argparse.Namespace,
    run_id: str,
    count: int,
    label: str = "bare",
    shaped: bool = False,
) -> PhaseResult:
    """Start `count` no-op workflows at once on their own task queue; time until all end."""
    queue = f"bench-{label}-{run_id}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[BareWorkflow, JobShapedWorkflow],
        activities=[noop, noop_local],
        **worker_options(args),
    )
    shape = list(args.probe_shape)
    expected = sum(int(t) for t in shape if t.isdigit()) if shaped else BARE_ACTIVITIES

    async def start(workflow_id: str) -> Any:
        if not shaped:
            return await client.start_workflow(
                BareWorkflow.run, BARE_ACTIVITIES, id=workflow_id, task_queue=queue
            )
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(sa.TENANT_ID, "tenant_bench"),
                SearchAttributePair(sa.JOB_STATUS, "pending"),
                SearchAttributePair(sa.BASE_MODEL, "gpt-4o-mini-2024-07-18"),
                SearchAttributePair(sa.PROVIDER, "openai"),
            ]
        )
        return await client.start_workflow(
            JobShapedWorkflow.run,
            shape,
            id=workflow_id,
            task_queue=queue,
            search_attributes=attributes,
        )

    async with worker:
        ids = [f"bench-{label}-{run_id}-{i}" for i in range(count)]
        before = cpu_snapshot()
        started = time.perf_counter()
        handles = await asyncio.gather(*(start(wid) for wid in ids))
        outcomes = await asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
        seconds = time.perf_counter() - started
        cpu = cpu_usage(before, cpu_snapshot())
    failures = [
        f"{wid}: {out!r}" for wid, out in zip(ids, outcomes, strict=True) if out != expected
    ]
    name = f"job-shaped no-op workflows [{','.join(shape)}]" if shaped else "bare workflows"
    return PhaseResult(name, count, seconds, failures, ids, cpu)


async def run_jobs(
    client: Client,
    api: httpx.AsyncClient,
    db: asyncpg.Connection,
    run_id: str,
    count: int,
    timeout: float,
    label: str = "job",
) -> PhaseResult:
    bodies = [
        job_request(
            name=f"bench-{run_id}-{label}-{i}",
            datasetUri=BENCH_DATASET,
            # Every job goes the whole way to promotion: grading still runs, but a model
            # trained on 20 examples is not held to the production thresholds.
            policy={"thresholds": {"overall_score": 0.0}},
        )
        for i in range(count)
    ]
    before = cpu_snapshot()
    started = time.perf_counter()
    responses = await asyncio.gather(
        *(api.post("/trainer/jobs", json=b) for b in bodies), return_exceptions=True
    )
    failures: list[str] = []
    job_ids: list[str] = []
    for body, response in zip(bodies, responses, strict=True):
        if isinstance(response, BaseException):
            failures.append(f"{body['name']}: submit raised {response!r}")
        elif response.status_code != 201:
            failures.append(f"{body['name']}: submit {response.status_code} {response.text}")
        else:
            job_ids.append(response.json()["id"])
    submitted = time.perf_counter() - started
    log.info("%s: %d submitted in %.2fs", label, len(job_ids), submitted)

    terminal = sorted(TERMINAL)
    deadline = started + timeout
    while job_ids:
        done = await db.fetchval(
            "SELECT count(*) FROM jobs WHERE id = ANY($1::uuid[]) AND status = ANY($2::text[])",
            job_ids,
            terminal,
        )
        if done >= len(job_ids) or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    cpu = cpu_usage(before, cpu_snapshot())
    log.info("%s: %d jobs ended in %.2fs", label, len(job_ids), seconds)

    rows = await db.fetch(
        """
        SELECT j.id::text AS id, j.name, j.status, j.stage, j.error_code, j.error_message,
               j.workflow_id, e.status AS evaluation_status,
               coalesce(bool_or(p.promoted), false) AS promoted
        FROM jobs j
        LEFT JOIN evaluations e ON e.job_id = j.id
        LEFT JOIN promotions p ON p.job_id = j.id
        WHERE j.id = ANY($1::uuid[])
        GROUP BY j.id, e.status
        """,
        job_ids,
    )
    for row in rows:
        if row["status"] != "completed" or not row["promoted"]:
            failures.append(
                f"{row['name']} ({row['id']}): status={row['status']} stage={row['stage']} "
                f"evaluation={row['evaluation_status']} promoted={row['promoted']} "
                f"error={row['error_code']}: {row['error_message']}"
            )
    workflow_ids = [r["workflow_id"] for r in rows]
    # The workflows close one workflow task after the projection says terminal: let them,
    # untimed, so the next phase starts on a quiet server and the histories are whole.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(
                *(client.get_workflow_handle(w).result() for w in workflow_ids),
                return_exceptions=True,
            ),
            timeout=60,
        )
    return PhaseResult("training jobs", count, seconds, failures, workflow_ids, cpu)


# ---- reporting -----------------------------------------------------------------------------


def _print_profile(title: str, summary: dict[str, Any]) -> None:
    print(f"\n{title} ({summary['workflows']} histories)")
    print(
        f"  events/workflow {summary['events_per_workflow']:.1f} "
        f"({summary['history_bytes_per_workflow'] / 1024:.1f} KiB), "
        f"activities/workflow {summary['activities_per_workflow']:.1f}, "
        f"workflow tasks/workflow {summary['workflow_tasks_per_workflow']:.1f} "
        f"(queued {summary['workflow_task_queue_ms']:.0f} ms, "
        f"run {summary['workflow_task_run_ms']:.0f} ms on average)"
    )
    print(
        f"  run time start->close: p50 {summary['duration_p50_s']:.2f}s, "
        f"p95 {summary['duration_p95_s']:.2f}s, max {summary['duration_max_s']:.2f}s"
    )
    print(f"  {'activity':<24}{'per wf':>7}{'queued ms':>11}{'run ms':>9}{'run p95':>9}")
    for name, a in summary["activities"].items():
        print(
            f"  {name:<24}{a['per_workflow']:>7.1f}{a['queue_ms']:>11.0f}"
            f"{a['run_ms']:>9.0f}{a['run_p95_ms']:>9.0f}"
        )


def _print_cpu(phase: PhaseResult) -> None:
    """Average CPUs busy during the phase, and CPU milliseconds per workflow, by process."""
    print(f"  {phase.name}: CPUs busy (CPU ms per workflow)")
    for name, cpus in sorted(phase.cpu.items(), key=lambda kv: -kv[1]):
        per_workflow = 1000 * cpus * phase.seconds / max(phase.count, 1)
        print(f"    {name:<52}{cpus:>5.2f}  ({per_workflow:.0f} ms)")


def report(
    args: argparse.Namespace,
    settings: Settings,
    bare: PhaseResult,
    shaped: PhaseResult | None,
    jobs: PhaseResult,
    histories: dict[str, list[HistoryStats]],
    job_requests: Counter[str],
) -> dict[str, Any]:
    ratio = jobs.per_second / bare.per_second if bare.per_second else 0.0
    one = {name: runs[0] if runs else HistoryStats() for name, runs in histories.items()}
    one_job, one_bare = one[jobs.name], one[bare.name]
    profiles = {name: summarise_histories(runs) for name, runs in histories.items()}
    print("\n== Throughput on one Temporal dev server (SQLite WAL file store) ==")
    print(f"machine: {os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"worker: in-process, options {worker_options(args) or 'SDK defaults'}; "
        f"emulators: {args.emulators}; "
        f"database_pool_max={settings.database_pool_max}, "
        f"eval_concurrency={settings.eval_concurrency}, "
        f"provider_poll_seconds={settings.provider_poll_seconds}"
    )
    print(
        f"bare workflows: {bare.count} in {bare.seconds:.2f}s = {bare.per_second:.2f} workflows/s "
        f"({len(bare.failures)} failed)"
    )
    print(
        f"training jobs:  {jobs.count} in {jobs.seconds:.2f}s = {jobs.per_second:.2f} jobs/s "
        f"({len(jobs.failures)} failed)"
    )
    verdict = "meets" if ratio >= AIM else "below"
    print(f"ratio jobs/s ÷ bare/s: {ratio:.2f} ({verdict} the {AIM} aim)")
    if shaped is not None:
        print(
            f"probe, {shaped.name}: {shaped.count} in {shaped.seconds:.2f}s = "
            f"{shaped.per_second:.2f}/s, ratio to bare "
            f"{shaped.per_second / bare.per_second if bare.per_second else 0:.2f} "
            "(the ceiling of the job's orchestration shape on this server)"
        )
    for label, stats in (("one training job", one_job), ("one bare workflow", one_bare)):
        print(
            f"history of {label}: {stats.events} events ({stats.size_bytes / 1024:.1f} KiB), "
            f"{sum(stats.activities.values())} "
            f"activities, {stats.workflow_tasks} workflow tasks"
        )
    print(f"activities per training job: {dict(one_job.activities)}")
    print("largest events of that training job's history, bytes:")
    for label, size in one_job.bytes_by_event.most_common(8):
        print(f"  {label:<60}{size:>7}")
    print("HTTP requests per training job (timed phase):")
    for key, count in sorted(job_requests.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {key:<60}{count / max(jobs.count, 1):>6.2f}")
    if not job_requests:
        print("  (not counted: the emulators ran out of process)")
    print("CPU while each phase ran:")
    for phase in (bare, shaped, jobs):
        if phase is not None:
            _print_cpu(phase)
    for name, summary in profiles.items():
        _print_profile(name, summary)
    failures = bare.failures + jobs.failures + (shaped.failures if shaped else [])
    for failure in failures[:20]:
        print(f"FAILED {failure}")
    if len(failures) > 20:
        print(f"... and {len(failures) - 20} more failures")

    def phase_json(phase: PhaseResult) -> dict[str, Any]:
        return {
            "count": phase.count,
            "seconds": phase.seconds,
            "per_second": phase.per_second,
            "failed": len(phase.failures),
            "cpu": phase.cpu,
        }

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "command": " ".join(["python", "-m", "bench.throughput", *sys.argv[1:]]),
        "worker_options": worker_options(args),
        "database_pool_max": settings.database_pool_max,
        "eval_concurrency": settings.eval_concurrency,
        "bare": phase_json(bare),
        "job_shaped": phase_json(shaped) if shaped else None,
        "jobs": phase_json(jobs),
        "ratio": ratio,
        "history_events": {"training_job": one_job.events, "bare": one_bare.events},
        "activities_per_job": dict(one_job.activities),
        "http_requests_per_job": {k: v / max(jobs.count, 1) for k, v in job_requests.items()},
        "profile": profiles,
    }


# ---- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=200, help="training jobs (default 200)")
    parser.add_argument("--bare", type=int, default=200, help="bare workflows (default 200)")
    parser.add_argument(
        "--dataset-examples",
        type=int,
        default=20,
        help="examples in each job's training file (default 20, from the sample data)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="untimed jobs and bare workflows run first (default 2)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for each phase (default 900)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL server to create the benchmark database on",
    )
    parser.add_argument(
        "--db-pool",
        type=int,
        default=None,
        help="database_pool_max of the API and the worker (default: Settings)",
    )
    parser.add_argument(
        "--eval-concurrency", type=int, default=None, help="eval_concurrency (default: Settings)"
    )
    parser.add_argument("--max-concurrent-activities", type=int, default=None)
    parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=None)
    parser.add_argument(
        "--emulators",
        choices=["inprocess", "subprocess"],
        default="inprocess",
        help="serve the emulators in this process (default) or as `python -m` processes, "
        "so their CPU is accounted apart from the service's",
    )
    parser.add_argument(
        "--shape",
        type=int,
        default=None,
        help="job-shaped no-op workflows to run as a probe (default: as many as --bare; 0: skip)",
    )
    parser.add_argument(
        "--probe-shape",
        type=lambda text: tuple(text.split(",")),
        default=TRAINING_SHAPE,
        help="the probe's steps, comma-separated: a number of parallel activities, s (status "
        "write), l (local activity) "
        f"(default {','.join(TRAINING_SHAPE)}: the training workflow)",
    )
    parser.add_argument(
        "--cprofile",
        type=Path,
        default=None,
        help="profile this process during the timed training phase; write pstats here",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if not 10 <= args.dataset_examples <= 260:
        raise SystemExit("--dataset-examples must be between 10 and 260")
    if args.shape is None:
        args.shape = args.bare
    return args


async def benchmark(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        state_dir = Path(tmp)
        datasets = state_dir / "datasets"
        datasets.mkdir()
        for source in example_datasets().glob("*.jsonl"):
            shutil.copy(source, datasets / source.name)
        # Each job validates (tokens, PII, policy) and uploads a real, small dataset, so
        # the number measures orchestration rather than parsing a big file 200 times.
        good = (example_datasets() / "tutor-k12-good.jsonl").read_text().splitlines()
        (datasets / BENCH_DATASET).write_text("\n".join(good[: args.dataset_examples]) + "\n")
        async with contextlib.AsyncExitStack() as stack:
            temporal = await stack.enter_async_context(
                temporal_dev_server(db_file=state_dir / "temporal.db", log_level="error")
            )
            address = temporal.address
            database_url = await stack.enter_async_context(
                fresh_database(f"model_trainer_bench_{os.getpid()}", args.database_url)
            )
            requests: Counter[str] = Counter()
            instant = EmulatorSettings(
                seconds_per_step=0, validation_seconds=0, queue_seconds=0, max_steps=5
            )
            if args.emulators == "subprocess":
                emulator_env = {
                    f"OPENAI_EMULATOR_{k.upper()}": str(v)
                    for k, v in instant.model_dump(exclude_none=True).items()
                }
                openai_url = await stack.enter_async_context(
                    emulator_child("emulators.openai_emulator", emulator_env)
                )
                registry_url = await stack.enter_async_context(
                    emulator_child("emulators.registry_emulator", {})
                )
            else:
                openai_url = await stack.enter_async_context(
                    serve_app(CountRequests(create_openai_emulator(instant), "openai", requests))
                )
                registry_url = await stack.enter_async_context(
                    serve_app(CountRequests(create_registry_emulator(), "registry", requests))
                )
            overrides: dict[str, Any] = {}
            if args.db_pool is not None:
                overrides["database_pool_max"] = args.db_pool
            if args.eval_concurrency is not None:
                overrides["eval_concurrency"] = args.eval_concurrency
            settings = Settings(
                _env_file=None,
                database_url=database_url,
                temporal_address=address,
                temporal_task_queue=f"bench-trainer-{run_id}",
                openai_base_url=f"{openai_url}/v1",
                openai_api_key="sk-bench-not-a-real-key",
                model_registry_url=registry_url,
                dataset_root=datasets,
                provider_poll_seconds=0.05,
                eval_max_samples_per_suite=1,
                eval_run_baseline=False,
                auth_mode="jwt",
                jwt_secret=secrets.token_urlsafe(32),
                **overrides,
            )
            client = await connect(settings.temporal_address, settings.temporal_namespace)
            deps = await ActivityDeps.open(settings)
            stack.push_async_callback(deps.close)
            api_url = await stack.enter_async_context(
                serve_app(CountRequests(create_app(settings), "api", requests))
            )
            api = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=api_url,
                    headers={"Authorization": f"Bearer {bench_token(settings)}"},
                    timeout=120,
                    limits=httpx.Limits(max_connections=max(args.jobs, 10)),
                )
            )
            db = await asyncpg.connect(database_url)
            stack.push_async_callback(db.close)

            if args.warmup:
                warm = await run_bare(client, args, run_id, args.warmup, label="warmup")
                if warm.failures:
                    print("\n".join(warm.failures))
                    return 1
            log.info("bare: starting %d workflows", args.bare)
            bare = await run_bare(client, args, run_id, args.bare)
            log.info("bare: %.2f workflows/s", bare.per_second)
            shaped = None
            if args.shape:
                log.info("job-shaped: starting %d workflows", args.shape)
                shaped = await run_bare(client, args, run_id, args.shape, "shaped", shaped=True)
                log.info("job-shaped: %.2f workflows/s", shaped.per_second)

            async with in_process_worker(client, settings, deps=deps, **worker_options(args)):
                if args.warmup:
                    warm = await run_jobs(
                        client, api, db, run_id, args.warmup, args.timeout, "warmup"
                    )
                    if warm.failures:
                        print("\n".join(warm.failures))
                        return 1
                log.info("jobs: submitting %d jobs", args.jobs)
                profiler = cProfile.Profile() if args.cprofile else None
                if profiler:
                    profiler.enable()
                requests.clear()
                jobs = await run_jobs(client, api, db, run_id, args.jobs, args.timeout)
                job_requests = Counter(requests)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(str(args.cprofile))
                    print("\nbench process self time during the training phase, by package:")
                    for label, spent in profile_by_package(profiler):
                        print(f"  {label:<45}{spent:>8.2f}s")
                log.info("jobs: %.2f jobs/s", jobs.per_second)

            histories = {
                phase.name: [analyse(h) for h in await fetch_histories(client, phase.workflow_ids)]
                for phase in (bare, shaped, jobs)
                if phase is not None
            }
            results = report(args, settings, bare, shaped, jobs, histories, job_requests)
            if args.json:
                args.json.write_text(json.dumps(results, indent=2) + "\n")
            failed = bare.failures or jobs.failures or (shaped and shaped.failures)
            return 1 if failed or len(histories[jobs.name]) < args.jobs else 0


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "httpx2", "api", "worker", "temporalio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not example_datasets().is_dir():
        raise SystemExit(f"missing sample datasets in {example_datasets()}")

    async def runner() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
        return await benchmark(args)

    code = 1
    try:
        code = asyncio.run(runner())
    except asyncio.CancelledError:
        print("interrupted; everything started was stopped", file=sys.stderr)
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit without interpreter teardown: a process that made a Temporal client can crash
    # there (sdk-python #300). Everything started was stopped above.
    os._exit(code)


if __name__ == "__main__":
    from bench.throughput import main as _main  # the workflow must live in a named module

    _main()
