"""Small-sample statistics for suite scores (no scipy: suites hold tens of samples)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from core.evaluation import PairedDelta

# Two-sided 95% critical values of Student's t for df = 1..30; beyond that the
# normal approximation (1.96) is within 2% of the exact value.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z95 = 1.96

# Sample ids: whatever hashable key both mappings share.
_Key = TypeVar("_Key", bound=Hashable)


@dataclass(frozen=True)
class Estimate:
    n: int
    mean: float | None
    stderr: float | None
    ci_low: float | None
    ci_high: float | None


def t_critical(df: int) -> float:
    """Two-sided 95% critical value for `df` degrees of freedom."""
    if df < 1:
        raise ValueError("degrees of freedom must be >= 1")
    return _T95[df - 1] if df <= len(_T95) else _Z95


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


def estimate(values: Sequence[float]) -> Estimate:
    """Mean with a 95% Student's t interval; the interval needs at least two values."""
    m = mean(values)
    se = stderr(values)
    if m is None or se is None:
        return Estimate(n=len(values), mean=m, stderr=se, ci_low=None, ci_high=None)
    half = t_critical(len(values) - 1) * se
    return Estimate(n=len(values), mean=m, stderr=se, ci_low=m - half, ci_high=m + half)


def paired_delta(
    candidate: Mapping[_Key, float | None],
    baseline: Mapping[_Key, float | None],
    *,
    suite: str = "",
) -> PairedDelta:
    """Mean per-sample difference (candidate - baseline) over ids both models scored.

    Pairing removes the between-sample variance, so the interval is much tighter
    than comparing two independent suite means.
    """
    diffs = [
        float(c) - float(b)
        for key, c in candidate.items()
        if c is not None and (b := baseline.get(key)) is not None
    ]
    est = estimate(diffs)
    return PairedDelta(suite=suite, n=est.n, mean=est.mean, ci_low=est.ci_low, ci_high=est.ci_high)
