"""Read latency of the API over a large projection: job reads, filtered lists and stats.

One run seeds `--jobs` jobs (tenants, statuses, providers and base models mixed; some with
evaluations and promotions) in a throwaway PostgreSQL database, starts a Temporal dev server
and one API process (uvicorn), and drives each read at `--rate` requests per second, open
loop: requests go out on a fixed schedule whatever the answers do, and each latency is
measured from the request's scheduled time, so a server falling behind shows in the numbers.

    .venv/bin/python -m bench.api_latency                 # 100,000 jobs, 200 req/s, 20 s
    .venv/bin/python -m bench.api_latency --jobs 10000 --seconds 5   # quick check
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from scripts.stack import (
    free_port,
    fresh_database,
    mint_token,
    spawn,
    temporal_dev_server,
    wait_for_http,
)
from scripts.stack.processes import uvicorn_argv

JWT_SECRET = "bench-api-latency-secret-0123456789abcdef"
STATUSES = ["pending", "validating", "training", "evaluating", "completed", "failed", "cancelled"]

# Jobs by status (per 100), then the seeded evaluations and promotions. Times spread over
# about 70 days, three jobs per instant, so paging meets ties in created_at.
SEED_JOBS = """
INSERT INTO jobs (id, tenant_id, name, status, status_rank, stage, provider, base_model,
                  dataset_uri, config, policy, datasheet, workflow_id, provider_job_id,
                  provider_model_id, validation_report, training_tokens, training_cost,
                  training_duration, error_message, error_code, created_at, updated_at,
                  started_at, completed_at, stage_changed_at)
SELECT id, tenant, 'bench-job-' || n, status,
       CASE status WHEN 'pending' THEN 0 WHEN 'validating' THEN 1 WHEN 'training' THEN 2
                   WHEN 'evaluating' THEN 3 ELSE 9 END,
       CASE status WHEN 'pending' THEN 'accepted' WHEN 'validating' THEN 'validating'
                   WHEN 'training' THEN 'training' WHEN 'evaluating' THEN 'evaluating'
                   ELSE 'done' END,
       CASE n % 20 WHEN 0 THEN 'bedrock' WHEN 1 THEN 'vertex_ai' ELSE 'openai' END,
       (ARRAY['gpt-4o-mini-2024-07-18', 'gpt-4.1-mini-2025-04-14', 'gpt-3.5-turbo-0125'])
           [1 + n % 3],
       'tutor-k12-good.jsonl',
       '{"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.1}'::jsonb,
       jsonb_build_object('scope', tenant, 'thresholds',
                          '{"pedagogy_score": 0.7, "safety_score": 0.9}'::jsonb),
       '{"source": "curriculum_team", "license": "proprietary", "redaction": "pii_removed"}'
           ::jsonb,
       'training-job-' || id,
       CASE WHEN status_rank_hint >= 2 THEN 'ftjob-' || n END,
       CASE WHEN status = 'completed' THEN 'ft:gpt-4o-mini:bench:' || n END,
       CASE WHEN status_rank_hint >= 1 THEN
           '{"valid": true, "examples": 20, "tokens": 5120, "warnings": []}'::jsonb END,
       CASE WHEN status = 'completed' THEN 5000 + n % 7000 END,
       CASE WHEN status = 'completed' THEN (n % 900) / 100.0 END,
       CASE WHEN status = 'completed' THEN 600 + n % 3000 END,
       CASE WHEN status = 'failed' THEN 'the provider rejected the training file' END,
       CASE WHEN status = 'failed' THEN 'provider_rejected' END,
       created, created + interval '5 minutes',
       CASE WHEN status_rank_hint >= 2 THEN created + interval '1 minute' END,
       CASE WHEN status IN ('completed', 'failed', 'cancelled')
            THEN created + interval '1 hour' END,
       created + interval '5 minutes'
FROM (
    SELECT n, gen_random_uuid() AS id,
           'tenant_' || lpad((n % $2)::text, 2, '0') AS tenant,
           now() - (n / 3) * interval '3 minutes' AS created,
           CASE WHEN h < 60 THEN 'completed' WHEN h < 75 THEN 'failed'
                WHEN h < 80 THEN 'cancelled' WHEN h < 85 THEN 'training'
                WHEN h < 90 THEN 'pending' WHEN h < 95 THEN 'validating'
                ELSE 'evaluating' END AS status,
           CASE WHEN h < 80 THEN 9 WHEN h < 85 THEN 2 WHEN h < 90 THEN 0 WHEN h < 95 THEN 1
                ELSE 3 END AS status_rank_hint
    FROM (SELECT n, (n * 7919) % 100 AS h FROM generate_series(1, $1) AS n) numbered
) mixed
"""
SEED_EVALUATIONS = """
INSERT INTO evaluations (id, job_id, tenant_id, name, status, pedagogy_score, safety_score,
                         overall_score, passed, created_at, updated_at, completed_at)
SELECT gen_random_uuid(), id, tenant_id, 'eval-' || round, st,
       0.8, 0.95, 0.87, st = 'passed', at, at, CASE WHEN st <> 'running' THEN at END
FROM (
    SELECT j.id, j.tenant_id, r.round,
           CASE WHEN j.status = 'evaluating' THEN 'running'
                WHEN r.round = 1 AND j.name LIKE '%3' THEN 'failed' ELSE 'passed' END AS st,
           j.created_at + r.round * interval '10 minutes' AS at
    FROM jobs j CROSS JOIN generate_series(1, 2) AS r(round)
    WHERE j.status IN ('completed', 'evaluating')
      AND (r.round = 2 OR (j.status = 'completed' AND j.name ~ '[37]$'))
) picked
"""
SEED_PROMOTIONS = """
INSERT INTO promotions (id, job_id, evaluation_id, tenant_id, registry_model_id,
                        registry_version_id, registry_binding_id, promoted, promotion_reason,
                        created_at, updated_at)
SELECT gen_random_uuid(), e.job_id, e.id, e.tenant_id, '41', (row_number() OVER ())::text,
       '7', true, 'evaluation passed', e.created_at + interval '1 minute',
       e.created_at + interval '1 minute'
FROM evaluations e WHERE e.status = 'passed' AND e.name = 'eval-2'
    AND e.job_id::text < '8'
"""


def bearer(tenant: str | None, roles: list[str]) -> str:
    """A token for `tenant` (an admin's names one too; admins see every tenant)."""
    return mint_token(JWT_SECRET, tenant or "tenant_00", subject="bench", roles=roles)


async def seed(dsn: str, jobs: int, tenants: int) -> dict[str, int]:
    """Rows generated in the database (through the tally triggers, as the service's own
    writes go; no statement timeout)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SEED_JOBS, jobs, tenants)
        await conn.execute(SEED_EVALUATIONS)
        await conn.execute(SEED_PROMOTIONS)
        await conn.execute("VACUUM ANALYZE")
        counts = {}
        for table in ("jobs", "evaluations", "promotions"):
            counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        return counts
    finally:
        await conn.close()


async def job_ids(dsn: str, sample: int) -> list[tuple[str, str]]:
    """(job id, tenant) of jobs picked at random."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id, tenant_id FROM jobs ORDER BY random() LIMIT $1", sample)
        return [(str(r["id"]), r["tenant_id"]) for r in rows]
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def api_process(dsn: str, temporal_address: str, log: Path) -> AsyncIterator[tuple[str, int]]:
    """One uvicorn process serving `api.app:create_app`; yields its host:port and pid."""
    port = free_port()
    env = {
        "DATABASE_URL": dsn,
        "TEMPORAL_ADDRESS": temporal_address,
        "AUTH_MODE": "jwt",
        "JWT_SECRET": JWT_SECRET,
        "OPENAI_API_KEY": "sk-bench-not-used",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # these reads never call the provider
    }
    argv = [*uvicorn_argv("api.app:create_app", port), "--log-level", "warning"]
    child = await spawn("api", argv, env=env, log_path=log)
    try:
        await wait_for_http(f"http://127.0.0.1:{port}/trainer/jobs", children=[child])
        yield f"127.0.0.1:{port}", child.process.pid
    finally:
        await child.stop()


class RawHttp:
    """A minimal keep-alive HTTP/1.1 GET client: cheap enough per request that the load
    generator, sharing the machine, takes little CPU from the server it measures."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.headers = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> tuple[int, int]:
        """(status, body bytes) of one GET."""
        request = f"GET {path} HTTP/1.1\r\n".encode() + self.headers
        while self.idle:  # the server closes a connection idle for 5 s: try the next one
            reader, writer = self.idle.pop()
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                break
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        body = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status, len(body)

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    seconds: float = 0.0
    api_cpu_ms: float = 0.0  # CPU time of the API process during the phase
    machine_busy: float = 0.0  # CPUs busy on the whole machine, on average

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        ok = len(self.latencies_ms)
        rate = self.sent / self.seconds if self.seconds else 0.0
        mean = statistics.fmean(self.latencies_ms) if ok else float("nan")
        return (
            f"{self.name:<34} {rate:6.0f}/s  n={ok:<6} err={self.errors:<4} "
            f"p50={self.pct(0.50):7.2f}  p95={self.pct(0.95):7.2f}  p99={self.pct(0.99):7.2f}  "
            f"max={max(self.latencies_ms, default=float('nan')):7.2f}  mean={mean:6.2f} ms  "
            f"api cpu/req={self.api_cpu_ms / max(self.sent, 1):5.2f} ms  "
            f"machine busy={self.machine_busy:4.2f} of {os.cpu_count()} CPUs"
        )


async def open_loop(
    client: RawHttp, name: str, paths: Callable[[int], str], rate: float, seconds: float
) -> Phase:
    """Send `paths(i)` at fixed intervals of 1/rate; latency counts from the scheduled time."""
    phase = Phase(name)
    count = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, due: float) -> None:
        try:
            status, _ = await asyncio.wait_for(client.get(paths(i)), 10)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            phase.errors += 1
            return
        if status != 200:
            phase.errors += 1
            return
        phase.latencies_ms.append((time.perf_counter() - due) * 1000)

    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
        phase.sent += 1
    await asyncio.gather(*tasks)
    phase.seconds = count / rate
    return phase


async def closed_loop(client: RawHttp, name: str, path: str, requests: int) -> Phase:
    """One request at a time (the stats are an occasional dashboard read, not a stream)."""
    phase = Phase(name)
    began = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        phase.sent += 1
        try:
            status, _ = await asyncio.wait_for(client.get(path), 30)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            status = 0
        if status == 200:
            phase.latencies_ms.append((time.perf_counter() - t0) * 1000)
        else:
            phase.errors += 1
    phase.seconds = time.perf_counter() - began
    return phase


def _process_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


async def measured(pid: int, run: Awaitable[Phase]) -> Phase:
    """Run a phase, note the API's CPU time and how busy the machine was, print it."""
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    api_before, (busy_before, total_before) = _process_ticks(pid), _machine_ticks()
    phase = await run
    busy_after, total_after = _machine_ticks()
    phase.api_cpu_ms = (_process_ticks(pid) - api_before) * tick_ms
    cpus = os.cpu_count() or 1
    phase.machine_busy = cpus * (busy_after - busy_before) / max(total_after - total_before, 1)
    print(phase.line(), flush=True)
    return phase


async def drive(
    url: str, pid: int, ids: Sequence[tuple[str, str]], args: argparse.Namespace
) -> list[Phase]:
    host, port = url.split(":")
    admin = RawHttp(host, int(port), bearer(None, ["trainer:admin"]))
    tenant = RawHttp(host, int(port), bearer("tenant_03", ["trainer:read"]))
    rng = random.Random(7)
    picks = [rng.choice(ids)[0] for _ in range(int(args.rate * args.seconds) + 1)]
    own = [job_id for job_id, tenant_id in ids if tenant_id == "tenant_03"]
    filters = ["", *(f"&status_filter={s}" for s in STATUSES), "&provider_filter=openai"]
    total = int(args.jobs)

    def tenant_list(i: int) -> str:
        offset = 20 * rng.randrange(10)
        return f"/trainer/jobs?limit=20&offset={offset}{filters[i % len(filters)]}"

    def admin_list(i: int) -> str:
        offset = 20 * rng.randrange(10)
        return f"/trainer/jobs?limit=20&offset={offset}{filters[i % len(filters)]}"

    def deep_list(i: int) -> str:
        return f"/trainer/jobs?limit=20&offset={rng.randrange(total)}"

    def job(i: int) -> str:
        return f"/trainer/jobs/{picks[i]}"

    def mixed(i: int) -> str:
        return f"/trainer/jobs/{own[i % len(own)]}" if i % 2 else tenant_list(i // 2)

    rate, seconds = args.rate, args.seconds
    await open_loop(admin, "(warm-up)", job, rate, 2)
    await open_loop(tenant, "(warm-up)", tenant_list, rate, 2)
    phases: list[Phase] = []
    for client, name, paths, phase_rate in (
        (admin, "GET /trainer/jobs/{id}", job, rate),
        (tenant, "GET /trainer/jobs (tenant, filters)", tenant_list, rate),
        (admin, "GET /trainer/jobs (admin, filters)", admin_list, rate),
        (admin, "GET /trainer/jobs (admin, any offset)", deep_list, rate / 4),
        (tenant, "mixed: half {id} (own), half list", mixed, rate),
    ):
        await asyncio.sleep(1)  # the previous phase's stragglers finish first
        phases.append(await measured(pid, open_loop(client, name, paths, phase_rate, seconds)))
    month_ago = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for client, name, path in (
        (admin, "GET /trainer/stats (admin)", "/trainer/stats"),
        (tenant, "GET /trainer/stats (tenant)", "/trainer/stats"),
        (admin, "GET /trainer/stats?since=30 days (admin)", f"/trainer/stats?since={month_ago}"),
        (admin, "GET /metrics", "/metrics"),
    ):
        await client.close()
        phases.append(await measured(pid, closed_loop(client, name, path, args.stats)))
    await admin.close()
    await tenant.close()
    return phases


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="per open-loop phase")
    parser.add_argument("--stats", type=int, default=30, help="requests per stats phase")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    return parser.parse_args(argv)


async def benchmark(args: argparse.Namespace) -> int:
    name = f"model_trainer_latency_{os.getpid()}"
    async with fresh_database(name, args.database_url, migrate=True) as dsn:
        began = time.perf_counter()
        counts = await seed(dsn, args.jobs, args.tenants)
        print(f"seeded {counts} in {time.perf_counter() - began:.1f} s")
        ids = await job_ids(dsn, 5000)
        with tempfile.TemporaryDirectory() as tmp:
            async with (
                temporal_dev_server(log_path=Path(tmp) / "temporal.log") as temporal,
                api_process(dsn, temporal.address, Path(tmp) / "api.log") as (url, pid),
            ):
                phases = await drive(url, pid, ids, args)
    print(
        f"one API process, {os.cpu_count()} CPUs shared with the load generator, "
        "PostgreSQL and Temporal; latencies in ms"
    )
    for phase in phases:
        print(phase.line())
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    raise SystemExit(asyncio.run(benchmark(parse_args(argv))))


if __name__ == "__main__":
    main()
