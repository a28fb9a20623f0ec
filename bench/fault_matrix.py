"""The fault matrix: a worker killed in every step, Temporal and PostgreSQL restarted under a
running job, the registry down; each on a stack of its own, with timings.

    python -m bench.fault_matrix                      # every case
    python -m bench.fault_matrix --cases crash-wait,postgres-restart
    python -m bench.fault_matrix --registry-down-seconds 600   # the full ten minutes

Nothing shared is touched: PostgreSQL is a fresh cluster (initdb), the Temporal dev server
keeps its SQLite store in a temporary folder, and every server (those two, the emulators,
the API) takes a free port (scripts.stack). Results: bench/README-faults.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import httpx

from bench.fault_env import CaseResult, Stack, running_stack
from bench.fault_outages import postgres_restart, registry_down, temporal_restart
from tests.support.crash_run import check_crash_outcome, run_crash_case
from tests.support.crash_steps import CRASH_STEPS

# ---- cases ---------------------------------------------------------------------------------


def crash_case(index: int) -> Callable[[Stack, httpx.AsyncClient], Awaitable[CaseResult]]:
    step = CRASH_STEPS[index]

    async def run(stack: Stack, api: httpx.AsyncClient) -> CaseResult:
        assert stack.client is not None
        started = time.monotonic()
        async with stack.admin(stack.openai.url) as oa, stack.admin(stack.registry.url) as reg:
            # One worker, a fresh one after the kill, no sticky-queue shortcut: the timings
            # are what a real crash costs.
            outcome = await run_crash_case(
                step,
                api=api,
                temporal_client=stack.client,
                openai_admin=oa,
                registry_admin=reg,
                database_url=stack.settings.database_url,
                start_worker=stack.start_worker,
                skip_sticky_wait=False,
                standby=False,
                timeout=300,
            )
            # Files uploaded for the job (the one it trains on, and any a killed attempt left).
            listed = (await oa.get("/v1/files")).json()["data"]
        uploads = sum(f["filename"] == f"{outcome.records.job['id']}.jsonl" for f in listed)
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
                "provider_files": uploads,
            },
        )

    return run


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
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)", flush=True)
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
                stack.failed = True
            print(
                f"  {'ok' if result.ok else 'FAILED'} in {result.seconds:.1f}s {result.notes}"
                f"{' ' + result.error if result.error else ''}",
                flush=True,
            )
            results.append(result)
    print_table(results)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
