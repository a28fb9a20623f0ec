"""Point statistics of suite scores; the intervals live in `intervals`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from activities.evaluation.intervals import paired_delta

__all__ = ["mean", "paired_delta", "stderr"]


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def stderr(values: Sequence[float]) -> float | None:
    """Standard error of the mean: sample standard deviation (n - 1) over sqrt(n)."""
    n = len(values)
    if n < 2:
        return None
    m = math.fsum(values) / n
    variance = math.fsum((v - m) ** 2 for v in values) / (n - 1)
    return math.sqrt(variance / n)
