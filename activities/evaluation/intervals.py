"""Intervals that fit the score: Wilson for pass/fail samples, a seeded percentile bootstrap
for graded ones (over clusters when samples share a prompt or group), and the same over
paired samples for deltas against a baseline.

No interval is zero-width for n > 1: where the data have no spread to resample, a bounded
fallback is reported instead, under its own method name. Scores are assumed in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from scipy.stats import binomtest, norm

from core.evaluation import INTERVAL_LEVEL, IntervalMethod, PairedDelta, ScoreInterval
from core.evaluation_suites import Suite

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
# A bootstrap interval narrower than this has found no spread to resample.
_DEGENERATE_WIDTH = 1e-12

_Key = TypeVar("_Key", bound=Hashable)
# A scored sample: (suite, sample id).
SampleKey = tuple[str, str]
_Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Resampling:
    """How bootstrap intervals are drawn: resample count and seed (settings)."""

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    level: float = INTERVAL_LEVEL

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


@dataclass(frozen=True)
class SampleScores:
    """Per-sample scores of one evaluation by (suite, sample id): the candidate's and, when
    one ran, the baseline's. `clusters` maps a key to its cluster (samples sharing a prompt
    or group); a key missing from it is a cluster of its own."""

    candidate: Mapping[SampleKey, float]
    baseline: Mapping[SampleKey, float] = field(default_factory=dict)
    clusters: Mapping[SampleKey, Hashable] = field(default_factory=dict)


def sample_clusters(suite: Suite) -> dict[str, str]:
    """Sample id -> cluster key: the sample's `pair_id` group, else its prompt text, so
    samples asking the same thing are resampled together."""
    return {
        s.id: f"group:{s.pair_id}" if s.pair_id is not None else f"prompt:{s.prompt}"
        for s in suite.samples
    }


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def wilson(successes: int, n: int, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (scipy's)."""
    ci = binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def wilson_bounded(mean: float, n: int, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """Wilson's formula at a mean of [0, 1] values: a variable bounded in [0, 1] has variance
    at most mean * (1 - mean), so this is conservative where the sample shows no spread."""
    z = _z(level)
    p = min(1.0, max(0.0, mean))
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _cluster_totals(
    values: Sequence[float], clusters: Sequence[Hashable] | None
) -> tuple[_Floats, _Floats]:
    """Per-cluster sums and counts (one cluster per value when `clusters` is None)."""
    data = np.asarray(values, dtype=np.float64)
    if clusters is None:
        return data, np.ones_like(data)
    codes: dict[Hashable, int] = {}
    index = np.fromiter((codes.setdefault(c, len(codes)) for c in clusters), dtype=np.intp)
    sums = np.bincount(index, weights=data, minlength=len(codes)).astype(np.float64)
    counts = np.bincount(index, minlength=len(codes)).astype(np.float64)
    return sums, counts


def _resampled_means(
    sums: _Floats, counts: _Floats, resamples: int, rng: np.random.Generator
) -> _Floats:
    """Means of `resamples` draws of whole clusters with replacement (sample-weighted)."""
    k = len(sums)
    # int32 draws halve the RNG's cost; suites hold at most a few thousand clusters.
    draws = rng.integers(0, k, size=(resamples, k), dtype=np.int32)
    if np.all(counts == 1):
        return sums[draws].mean(axis=1)
    return sums[draws].sum(axis=1) / counts[draws].sum(axis=1)


def _percentiles(means: _Floats, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def _no_spread(sums: _Floats, counts: _Floats) -> bool:
    cluster_means = sums / counts
    return bool(np.ptp(cluster_means) <= _DEGENERATE_WIDTH)


def _bootstrap(sums: _Floats, counts: _Floats, how: Resampling) -> tuple[float, float] | None:
    """The percentile bootstrap of the (cluster-weighted) mean; None when there is nothing
    to resample (one cluster, no spread) or the resampled means barely differ."""
    if len(sums) < 2 or _no_spread(sums, counts):
        return None
    low, high = _percentiles(_resampled_means(sums, counts, how.resamples, how.rng()), how.level)
    return (low, high) if high - low > _DEGENERATE_WIDTH else None


def _summed(
    values: Sequence[float], clusters: Sequence[Hashable] | None
) -> tuple[_Floats, _Floats, ScoreInterval]:
    """Per-cluster sums and counts, and the interval's n, clusters and mean."""
    sums, counts = _cluster_totals(values, clusters)
    mean = float(sums.sum() / counts.sum())
    return sums, counts, ScoreInterval(n=len(values), clusters=len(sums), mean=mean)


def score_interval(
    values: Sequence[float],
    clusters: Sequence[Hashable] | None = None,
    resampling: Resampling | None = None,
) -> ScoreInterval:
    """Mean of scores in [0, 1] with the interval that fits them.

    Pass/fail scores of independent samples: Wilson. Graded (or clustered) scores: the
    percentile bootstrap, over clusters when `clusters` (one key per value) groups any.
    No spread to resample: Wilson's formula at the mean over the independent units.
    """
    how = resampling or Resampling()
    n = len(values)
    if n == 0:
        return ScoreInterval()
    sums, counts, base = _summed(values, clusters)
    k, mean = len(sums), float(base.mean or 0.0)
    if k == n and all(v in (0.0, 1.0) for v in values):
        low, high = wilson(round(sums.sum()), n, how.level)
        return base.model_copy(update={"low": low, "high": high, "method": IntervalMethod.wilson})
    if (bounds := _bootstrap(sums, counts, how)) is not None:
        method = IntervalMethod.bootstrap if k == n else IntervalMethod.cluster_bootstrap
        return base.model_copy(update={"low": bounds[0], "high": bounds[1], "method": method})
    low, high = wilson_bounded(mean, k, how.level)
    return base.model_copy(
        update={"low": low, "high": high, "method": IntervalMethod.wilson_bounded}
    )


def keyed_interval(
    scores: Mapping[_Key, float],
    clusters: Mapping[_Key, Hashable] | None = None,
    resampling: Resampling | None = None,
) -> ScoreInterval:
    """`score_interval` over keyed scores (a category's samples across its suites)."""
    keys = list(scores)
    groups = None if clusters is None else [clusters.get(key, ("own", key)) for key in keys]
    return score_interval([scores[key] for key in keys], groups, resampling)


def overall_interval(
    parts: Sequence[tuple[Mapping[_Key, float], float]],
    clusters: Mapping[_Key, Hashable] | None = None,
    resampling: Resampling | None = None,
) -> ScoreInterval:
    """Weighted combination of category means, with each category resampled on its own
    and the combination computed inside each resample.

    `parts` pairs each category's scores with its weight; empty or zero-weight categories
    are left out (as the point score leaves them out). Where some category has no spread
    to resample, the weighted category bounds are reported instead (conservative)."""
    how = resampling or Resampling()
    used = [(scores, w) for scores, w in parts if scores and w > 0]
    if not used:
        return ScoreInterval()
    if len(used) == 1:
        return keyed_interval(used[0][0], clusters, how)
    total_weight = sum(w for _, w in used)
    rng = how.rng()
    combined = np.zeros(how.resamples)
    singles: list[tuple[ScoreInterval, float]] = []
    flat = False
    for scores, w in used:
        keys = list(scores)
        groups = None if clusters is None else [clusters.get(key, ("own", key)) for key in keys]
        sums, counts = _cluster_totals([scores[key] for key in keys], groups)
        flat = flat or len(sums) < 2 or _no_spread(sums, counts)
        singles.append((keyed_interval(scores, clusters, how), w))
        if not flat:
            combined += w * _resampled_means(sums, counts, how.resamples, rng)
    mean = sum((s.mean or 0.0) * w for s, w in singles) / total_weight
    n = sum(s.n for s, _ in singles)
    k = sum(s.clusters for s, _ in singles)
    base = ScoreInterval(n=n, clusters=k, mean=mean)
    if not flat:
        low, high = _percentiles(combined / total_weight, how.level)
        if high - low > _DEGENERATE_WIDTH:
            method = IntervalMethod.stratified_bootstrap
            return base.model_copy(update={"low": low, "high": high, "method": method})
    low = sum((s.low or 0.0) * w for s, w in singles) / total_weight
    high = sum((s.high or 0.0) * w for s, w in singles) / total_weight
    return base.model_copy(
        update={"low": low, "high": high, "method": IntervalMethod.combined_bounds}
    )


def delta_interval(
    differences: Sequence[float],
    clusters: Sequence[Hashable] | None = None,
    resampling: Resampling | None = None,
) -> ScoreInterval:
    """Mean paired difference (candidate - baseline, each in [-1, 1]) with its interval.

    Bootstrap over the pairs (over clusters of pairs when grouped). All differences zero:
    at most the discordant share of pairs can differ, so +/- its Wilson upper bound. Some
    other difference with no spread: Wilson's formula on the difference rescaled to [0, 1].
    """
    how = resampling or Resampling()
    n = len(differences)
    if n == 0:
        return ScoreInterval()
    sums, counts, base = _summed(differences, clusters)
    k, mean = len(sums), float(base.mean or 0.0)
    if all(d == 0.0 for d in differences):
        _, upper = wilson(0, k, how.level)
        method = IntervalMethod.paired_discordant_bound
        return base.model_copy(update={"low": -upper, "high": upper, "method": method})
    if (bounds := _bootstrap(sums, counts, how)) is not None:
        method = (
            IntervalMethod.paired_bootstrap if k == n else IntervalMethod.paired_cluster_bootstrap
        )
        return base.model_copy(update={"low": bounds[0], "high": bounds[1], "method": method})
    low, high = wilson_bounded((mean + 1) / 2, k, how.level)
    method = IntervalMethod.paired_bounded
    return base.model_copy(update={"low": 2 * low - 1, "high": 2 * high - 1, "method": method})


def keyed_delta(
    candidate: Mapping[_Key, float | None],
    baseline: Mapping[_Key, float | None],
    clusters: Mapping[_Key, Hashable] | None = None,
    resampling: Resampling | None = None,
) -> ScoreInterval:
    """`delta_interval` over the keys both models scored (paired by key)."""
    keys = [key for key, c in candidate.items() if c is not None and baseline.get(key) is not None]
    differences = [float(candidate[key] or 0.0) - float(baseline[key] or 0.0) for key in keys]
    groups = None if clusters is None else [clusters.get(key, ("own", key)) for key in keys]
    return delta_interval(differences, groups, resampling)


def paired_delta(
    candidate: Mapping[_Key, float | None],
    baseline: Mapping[_Key, float | None],
    *,
    suite: str = "",
    clusters: Mapping[_Key, Hashable] | None = None,
    resampling: Resampling | None = None,
) -> PairedDelta:
    """Mean per-sample difference (candidate - baseline) over ids both models scored, with
    a paired bootstrap interval: pairing removes the between-sample variance."""
    delta = keyed_delta(candidate, baseline, clusters, resampling)
    return PairedDelta(
        suite=suite,
        n=delta.n,
        mean=delta.mean,
        ci_low=delta.low,
        ci_high=delta.high,
        method=delta.method,
        clusters=delta.clusters,
    )
