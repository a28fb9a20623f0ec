"""Evaluation harness speed against the OpenAI emulator: concurrency, 429 storms, the cache.

Grades N samples (default 1,000) with the harness's own `run_suite`, through the real SDK
and HTTP, with every chat call taking `--latency` seconds (default 0.1) at the emulator and
`--concurrency` calls in flight (default 50). The ideal wall time is
calls x latency / concurrency (1,000 x 0.1 / 50 = 2 s with one call per sample).

Runs, each on fresh prompts so nothing is served from an earlier run:
0. bare: as many chat calls straight through the SDK at the same concurrency, no harness:
   the floor this machine and emulator allow, to tell harness overhead from CPU limits;
1. clean: wall time vs the ideal (target <= 1.3x);
2. storm: the same with 10% of chat calls answered 429 + `Retry-After: 1`; every sample
   must still be graded (exit 1 otherwise);
3. re-run of run 1's prompts through the response cache: provider calls made (must be 0);
4. statistics: the intervals of a 1,000-sample evaluation (suite, category and overall
   bootstraps, paired deltas against a baseline) timed beside point means only, on the
   clean run's samples given graded scores; they must add <= 5% to the clean run.

Graders are deterministic (refusal, PII, reading level) so one chat call per sample is the
whole cost; `--judge` adds the rubric judge (a second chat call per sample; the ideal
doubles accordingly). The cache is in memory unless `--postgres` names a server: then a
throwaway database gets the service's migrations and the activity's PostgreSQL cache is
used, as in production (the database is dropped at the end).

    python bench/eval_speed.py                   # spawns the emulator on a free port
    python bench/eval_speed.py --judge --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from activities.evaluation.cache import CompletionCache, MemoryCache  # noqa: E402
from activities.evaluation.harness import SuiteRun, run_suite, score_suite  # noqa: E402
from activities.evaluation.intervals import SampleKey, SampleScores, paired_delta  # noqa: E402
from activities.evaluation.ratelimit import RateLimitGate  # noqa: E402
from activities.evaluation.scoring import category_score, overall_score, summarize  # noqa: E402
from activities.evaluation.stats import mean, stderr  # noqa: E402
from core.db import open_database  # noqa: E402
from core.evaluation import ScoreWeights, SuiteCategory, Thresholds  # noqa: E402
from core.evaluation_suites import Suite, suite_from_dict  # noqa: E402
from scripts.stack import EmulatorProcess, fresh_database  # noqa: E402
from store.completion_cache import PgCompletionCache  # noqa: E402

MODEL = "gpt-4o-mini-2024-07-18"
CHAT = "POST /v1/chat/completions"
TARGET_RATIO = 1.3
# The intervals may add at most this share to the clean run's wall time.
STATISTICS_SHARE = 0.05


@dataclass
class Result:
    label: str
    wall: float
    ideal: float
    calls: int
    graded: int
    errored: int
    injected: int = 0

    def line(self) -> str:
        ratio = self.wall / self.ideal if self.ideal else float("nan")
        extra = f", 429s injected {self.injected}" if self.injected else ""
        return (
            f"{self.label:<8} wall {self.wall:6.2f} s  ideal {self.ideal:5.2f} s  "
            f"ratio {ratio:4.2f}x  chat calls {self.calls:5d}  graded {self.graded:5d}  "
            f"errored {self.errored}{extra}"
        )


def build_suite(samples: int, judge: bool, tag: str) -> Suite:
    graders: list[dict[str, object]] = [
        {"type": "refusal"},
        {"type": "pii"},
        {"type": "reading_level", "max_grade": 20},
    ]
    if judge:
        graders.append({"type": "judge"})
    return suite_from_dict(
        {
            "name": "speed",
            "graders": graders,
            "samples": [
                {
                    "id": f"s{i:05d}",
                    "messages": [
                        {"role": "user", "content": f"Run {tag}, item {i}: why is the sky blue?"}
                    ],
                    "expect": "answer",
                    "key_points": ["light scatters"],
                }
                for i in range(samples)
            ],
        }
    )


async def wait_ready(admin: httpx.AsyncClient, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (await admin.get("/_emulator/settings")).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


@asynccontextmanager
async def response_cache(postgres: str | None) -> AsyncIterator[CompletionCache]:
    """An in-memory cache, or the PostgreSQL one in a throwaway database."""
    if postgres is None:
        yield MemoryCache()
        return
    async with fresh_database(f"eval_speed_{os.getpid()}", postgres) as url:
        pool = await open_database(url, max_size=10)
        try:
            yield PgCompletionCache(pool)
        finally:
            await pool.close()


async def chat_calls(admin: httpx.AsyncClient) -> int:
    return int((await admin.get("/_emulator/state")).json()["calls"].get(CHAT, 0))


def calls_per_sample(args: argparse.Namespace) -> int:
    return 2 if args.judge else 1


async def bare_run(
    client: AsyncOpenAI, admin: httpx.AsyncClient, suite: Suite, args: argparse.Namespace
) -> Result:
    """As many chat calls as the harness makes, with nothing around them but a semaphore."""
    slots = asyncio.Semaphore(args.concurrency)

    async def one(content: str) -> None:
        async with slots:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": content}], temperature=0, seed=7
            )

    prompts = [f"{s.prompt} ({k})" for s in suite.samples for k in range(calls_per_sample(args))]
    before = await chat_calls(admin)
    started = time.perf_counter()
    await asyncio.gather(*(one(p) for p in prompts))
    wall = time.perf_counter() - started
    return Result(
        label="bare",
        wall=wall,
        ideal=len(prompts) * args.latency / args.concurrency,
        calls=await chat_calls(admin) - before,
        graded=0,
        errored=0,
    )


async def timed_run(
    label: str,
    client: AsyncOpenAI,
    admin: httpx.AsyncClient,
    suite: Suite,
    args: argparse.Namespace,
    cache: CompletionCache | None,
) -> tuple[Result, SuiteRun]:
    before = await chat_calls(admin)
    started = time.perf_counter()
    run = await run_suite(
        client,
        suite,
        MODEL,
        judge_model=MODEL,
        concurrency=args.concurrency,
        cache=cache,
        gate=RateLimitGate(),
    )
    wall = time.perf_counter() - started
    ideal = len(suite.samples) * calls_per_sample(args) * args.latency / args.concurrency
    score = run.score
    result = Result(
        label=label,
        wall=wall,
        ideal=ideal,
        calls=await chat_calls(admin) - before,
        graded=score.passed + score.failed,
        errored=score.errored,
    )
    return result, run


@dataclass
class StatisticsTiming:
    intervals: float  # seconds: every interval a 1,000-sample evaluation reports
    points: float  # seconds: the same scores as point means only (the old statistics)
    methods: str


def _fastest(fn: Callable[[], object], repeats: int = 7) -> float:
    fn()  # warm (imports, first allocation)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def statistics_timing(suite: Suite, run: SuiteRun) -> StatisticsTiming:
    """The run's samples with graded scores (the bootstrap path; pass/fail ones take
    Wilson, which costs nothing), as a pedagogy suite with a baseline a little worse."""
    rng = np.random.default_rng(1)
    graded = [
        s.model_copy(update={"score": float(g)})
        for s, g in zip(run.samples, rng.uniform(0, 1, len(run.samples)), strict=True)
    ]
    pedagogy = suite.model_copy(update={"category": SuiteCategory.pedagogy})
    candidate: dict[SampleKey, float] = {
        (suite.name, s.sample_id): s.score for s in graded if s.score is not None
    }
    baseline = {
        k: float(np.clip(v - 0.05 + rng.normal(0, 0.1), 0, 1)) for k, v in candidate.items()
    }
    weights, thresholds = ScoreWeights(), Thresholds()

    def with_intervals() -> str:
        score = score_suite(pedagogy, MODEL, graded)
        delta = paired_delta(candidate, baseline, suite=suite.name)
        summary = summarize(
            [score],
            thresholds,
            weights,
            deltas=[delta],
            samples=SampleScores(candidate=candidate, baseline=baseline),
        )
        parts = [score.interval_method, delta.method]
        parts += [
            i.method for i in (summary.pedagogy, summary.overall, summary.pedagogy_delta) if i
        ]
        return ", ".join(parts)

    def points_only() -> None:
        values = list(candidate.values())
        m, _ = mean(values), stderr(values)
        diffs = [candidate[k] - baseline[k] for k in candidate]
        mean(diffs)
        score = run.score.model_copy(update={"mean": m, "category": SuiteCategory.pedagogy})
        overall_score(category_score([score], SuiteCategory.pedagogy), None, weights)

    return StatisticsTiming(
        intervals=_fastest(with_intervals), points=_fastest(points_only), methods=with_intervals()
    )


async def main(args: argparse.Namespace) -> int:
    emulator = None if args.base_url else EmulatorProcess("emulators.openai_emulator", args.port)
    if emulator is not None:
        await emulator.start()
    base = args.base_url or (emulator.url if emulator else "")
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as admin:
            await wait_ready(admin)
            await admin.delete("/_emulator/faults")
            await admin.patch("/_emulator/settings", json={"chat_latency_seconds": args.latency})
            # The evaluation activity's client: a retry budget sized for 429 storms.
            client = AsyncOpenAI(
                api_key="sk-bench", base_url=f"{base}/v1", max_retries=12, timeout=60
            )
            try:
                clean_suite = build_suite(args.samples, args.judge, uuid.uuid4().hex[:8])
                # Warm the connection pool and the emulator's code paths (not timed).
                await run_suite(client, build_suite(args.concurrency, False, "warmup"), MODEL,
                                judge_model=MODEL, concurrency=args.concurrency)  # fmt: skip

                bare_suite = build_suite(args.samples, False, uuid.uuid4().hex[:8])
                bare = await bare_run(client, admin, bare_suite, args)
                async with response_cache(args.postgres) as cache:
                    clean, first = await timed_run("clean", client, admin, clean_suite, args, cache)
                    cached, again = await timed_run(
                        "re-run", client, admin, clean_suite, args, cache
                    )

                storm_suite = build_suite(args.samples, args.judge, uuid.uuid4().hex[:8])
                fault = (
                    await admin.post(
                        "/_emulator/faults",
                        json={"path_prefix": "/v1/chat/completions", "status": 429,
                              "retry_after": 1, "rate": args.storm_rate},
                    )
                ).json()  # fmt: skip
                storm, _ = await timed_run("storm", client, admin, storm_suite, args, None)
                faults = (await admin.get("/_emulator/faults")).json()
                rules = faults["faults"] if isinstance(faults, dict) else faults
                storm.injected = next(r["injected"] for r in rules if r["id"] == fault["id"])
                await admin.delete("/_emulator/faults")
            finally:
                await client.close()
    finally:
        if emulator is not None:
            await emulator.stop()

    print(
        f"{args.samples} samples, concurrency {args.concurrency}, {args.latency:g} s per chat "
        f"call, graders: {'deterministic + judge' if args.judge else 'deterministic only'}, "
        f"cache: {'PostgreSQL' if args.postgres else 'in memory'}"
    )
    cpus, python = os.cpu_count(), platform.python_version()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {platform.machine()}, {cpus} CPUs, Python {python}, load avg {load}")
    for result in (bare, clean, storm, cached):
        print(result.line())
    print(f"harness overhead over bare SDK calls: {clean.wall / bare.wall:.2f}x")
    stats = statistics_timing(clean_suite, first)
    share = (stats.intervals - stats.points) / clean.wall
    print(
        f"statistics of {args.samples} graded samples: intervals {stats.intervals * 1000:.1f} ms, "
        f"point means only {stats.points * 1000:.2f} ms; the intervals add {share:.1%} to the "
        f"clean run ({stats.methods})"
    )
    ok = True
    if share > STATISTICS_SHARE:
        print(f"FAIL: the intervals add {share:.1%} to the clean run (> {STATISTICS_SHARE:.0%})")
        ok = False
    if clean.wall / clean.ideal > TARGET_RATIO:
        print(f"FAIL: clean run {clean.wall / clean.ideal:.2f}x the ideal (> {TARGET_RATIO}x)")
        ok = False
    if storm.errored or storm.graded != args.samples or not storm.injected:
        print("FAIL: the 429 storm run did not grade every sample")
        ok = False
    if cached.calls != 0 or again.samples != first.samples:
        print("FAIL: the re-run was not served entirely from the cache")
        ok = False
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per chat call")
    parser.add_argument("--storm-rate", type=float, default=0.1, help="share of calls given 429")
    parser.add_argument("--judge", action="store_true", help="add the rubric judge grader")
    parser.add_argument("--base-url", help="a running emulator (default: spawn one)")
    parser.add_argument("--port", type=int, help="port for the spawned emulator")
    parser.add_argument("--postgres", help="PostgreSQL server URL: use the PostgreSQL cache")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
