"""The service's Prometheus metrics: one definition each, shared by the API and the worker.

Names and labels are the ones `deploy/prometheus/alerts.yml` and
`deploy/grafana/model-trainer.json` query; change them together. Counters and histograms
live in the default registry of the process that observes the event (the worker, mostly);
the per-stage gauges are read from PostgreSQL when the API is scraped (`stage_families`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import timedelta
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# `*_created` timestamps double the series count and no rule or panel reads them.
disable_created_metrics()

P = ParamSpec("P")
R = TypeVar("R")

# Steps last from milliseconds (bookkeeping) to hours (waiting for the provider).
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)

JOBS = Counter("trainer_jobs", "Jobs reaching a terminal status.", ["status", "tenant"])
PROVIDER_REQUESTS = Counter(
    "trainer_provider_requests",
    "Calls to a fine-tuning provider's API; code is the HTTP status or a failure word.",
    ["provider", "operation", "code"],
)
REGISTRY_REQUESTS = Counter(
    "trainer_registry_requests",
    "Calls to the Model Registry; code is the HTTP status or a failure word.",
    ["operation", "code"],
)
EVALUATION_SAMPLES = Counter(
    "trainer_evaluation_samples",
    "Graded evaluation samples by outcome (passed, failed, errored).",
    ["suite", "outcome"],
)
EVALUATIONS = Counter(
    "trainer_evaluations", "Finished evaluations by status (passed, failed, error).", ["status"]
)
EVALUATION_SCORES = Histogram(
    "trainer_evaluation_score",
    "Scores of finished evaluations (pedagogy, safety, overall).",
    ["score"],
    buckets=SCORE_BUCKETS,
)
STEP_DURATION = Histogram(
    "trainer_step_duration_seconds",
    "Duration of one attempt of a workflow step (activity).",
    ["step"],
    buckets=STEP_BUCKETS,
)
STEP_FAILURES = Counter(
    "trainer_step_failures",
    "Failed step attempts (Temporal retries the retryable ones), by error type.",
    ["step", "error"],
)
TRAINING_COST = Counter(
    "trainer_training_cost_usd",
    "Training cost of finished provider jobs, in US dollars.",
    ["tenant", "base_model"],
)
TRAINING_TOKENS = Counter(
    "trainer_training_tokens",
    "Tokens trained by finished provider jobs.",
    ["tenant", "base_model"],
)


def timed_step(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Observe an async step's duration (and failures) under the function's name.

    Apply it below `@activity.defn`: `functools.wraps` keeps the signature and type hints
    Temporal reads, and the step label equals the activity name.
    """
    step = fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        except BaseException as exc:
            # ApplicationError carries the failure's type; others are named by class.
            STEP_FAILURES.labels(step, getattr(exc, "type", None) or type(exc).__name__).inc()
            raise
        finally:
            STEP_DURATION.labels(step).observe(time.perf_counter() - started)

    return wrapper


def record_job_finished(status: str, tenant: str) -> None:
    JOBS.labels(status, tenant).inc()


def record_training(
    tenant: str, base_model: str, tokens: int | None, cost_usd: float | None
) -> None:
    if tokens:
        TRAINING_TOKENS.labels(tenant, base_model).inc(tokens)
    if cost_usd:
        TRAINING_COST.labels(tenant, base_model).inc(cost_usd)


def record_samples(suite: str, passed: int, failed: int, errored: int) -> None:
    for outcome, count in (("passed", passed), ("failed", failed), ("errored", errored)):
        # inc(0) still creates the series, so a rate over it reads 0 rather than nothing.
        EVALUATION_SAMPLES.labels(suite, outcome).inc(count)


def record_evaluation(status: str, scores: dict[str, float | None]) -> None:
    EVALUATIONS.labels(status).inc()
    for name, value in scores.items():
        if value is not None:
            EVALUATION_SCORES.labels(name).observe(value)


# ------------------------------------------------------------ jobs in stage (scrape time)


def stage_families(
    rows: Iterable[tuple[str, int, timedelta | None]], stages: Iterable[str]
) -> list[GaugeMetricFamily]:
    """`trainer_jobs_in_stage` and `trainer_job_stage_age_seconds_max` from (stage, count,
    oldest age) rows; every stage in `stages` is present, at 0 when no job is in it."""
    counts = {stage: 0 for stage in stages}
    ages = dict.fromkeys(counts, 0.0)
    for stage, count, age in rows:
        counts[stage] = count
        ages[stage] = max(age.total_seconds(), 0.0) if age is not None else 0.0
    in_stage = GaugeMetricFamily(
        "trainer_jobs_in_stage", "Unfinished jobs by stage.", labels=["stage"]
    )
    oldest = GaugeMetricFamily(
        "trainer_job_stage_age_seconds_max",
        "Seconds since the oldest unfinished job in the stage last changed.",
        labels=["stage"],
    )
    for stage in counts:
        in_stage.add_metric([stage], counts[stage])
        oldest.add_metric([stage], ages[stage])
    return [in_stage, oldest]


class SnapshotCollector(Collector):
    """Serves metric families computed beforehand (asynchronously) for one scrape."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families)
