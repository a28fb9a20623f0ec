"""Activity timeouts and retry policies, one place for all workflows."""

from datetime import timedelta

from temporalio.common import RetryPolicy

# Quick steps: retry transient failures a few times, non-retryable errors end at once.
QUICK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)

# Outside services that may be down for a while (provider, registry): keep trying with
# capped backoff; the step's schedule-to-close timeout bounds the total.
PATIENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
)

BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
OUTAGE_BUDGET = timedelta(days=1)
