"""Turn suite scores into a pass/fail/error decision against the job's thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from activities.evaluation.gates import decide, failure
from activities.evaluation.intervals import (
    Resampling,
    SampleKey,
    SampleScores,
    keyed_delta,
    keyed_interval,
    overall_interval,
)
from core.evaluation import (
    EvaluationSummary,
    PairedDelta,
    ScoreInterval,
    ScoreWeights,
    SuiteCategory,
    SuiteScore,
    Thresholds,
)
from core.gates import ScoreGates


def category_score(suites: Sequence[SuiteScore], category: SuiteCategory) -> float | None:
    """Mean of the category's suite means, weighted by how many samples each scored."""
    scored = [s for s in suites if s.category == category and s.mean is not None and s.scored]
    total = sum(s.scored for s in scored)
    if not total:
        return None
    return sum(s.mean * s.scored for s in scored if s.mean is not None) / total


def overall_score(
    pedagogy: float | None, safety: float | None, weights: ScoreWeights
) -> float | None:
    """Weighted combination of whichever category scores exist."""
    parts = [(pedagogy, weights.pedagogy), (safety, weights.safety)]
    available = [(score, w) for score, w in parts if score is not None and w > 0]
    total = sum(w for _, w in available)
    if not total:
        return None
    return sum(score * w for score, w in available) / total


def _category_samples(
    scores: Mapping[SampleKey, float], suites: Sequence[SuiteScore], category: SuiteCategory
) -> dict[SampleKey, float]:
    names = {s.suite for s in suites if s.category == category}
    return {key: score for key, score in scores.items() if key[0] in names}


@dataclass(frozen=True)
class SummaryIntervals:
    """The category and overall scores' intervals, and the category deltas against the
    baseline (None where nothing was scored or paired)."""

    pedagogy: ScoreInterval | None = None
    safety: ScoreInterval | None = None
    overall: ScoreInterval | None = None
    pedagogy_delta: ScoreInterval | None = None
    safety_delta: ScoreInterval | None = None


def _scored(interval: ScoreInterval) -> ScoreInterval | None:
    return interval if interval.n else None


def score_intervals(
    suites: Sequence[SuiteScore],
    weights: ScoreWeights,
    samples: SampleScores,
    resampling: Resampling | None = None,
) -> SummaryIntervals:
    """Bootstrapped over the per-sample scores jointly: a category over all its suites'
    samples, the overall combination computed inside each resample."""
    pedagogy = _category_samples(samples.candidate, suites, SuiteCategory.pedagogy)
    safety = _category_samples(samples.candidate, suites, SuiteCategory.safety)
    clusters, baseline = samples.clusters, samples.baseline
    return SummaryIntervals(
        pedagogy=_scored(keyed_interval(pedagogy, clusters, resampling)),
        safety=_scored(keyed_interval(safety, clusters, resampling)),
        overall=_scored(
            overall_interval(
                [(pedagogy, weights.pedagogy), (safety, weights.safety)], clusters, resampling
            )
        ),
        pedagogy_delta=_scored(keyed_delta(pedagogy, baseline, clusters, resampling)),
        safety_delta=_scored(keyed_delta(safety, baseline, clusters, resampling)),
    )


def _or_point(interval: ScoreInterval | None, mean: float | None) -> ScoreInterval | None:
    """The score's interval; with none computed, the point mean alone (a bound gate on it
    fails: nothing shows the bound clears the threshold)."""
    if interval is not None or mean is None:
        return interval
    return ScoreInterval(mean=mean)


def summarize(
    suites: list[SuiteScore],
    thresholds: Thresholds,
    weights: ScoreWeights,
    max_error_rate: float = 0.2,
    baseline: Sequence[SuiteScore] = (),
    deltas: Sequence[PairedDelta] = (),
    samples: SampleScores | None = None,
    resampling: Resampling | None = None,
    gates: ScoreGates | None = None,
    intervals: SummaryIntervals | None = None,
) -> EvaluationSummary:
    """The decision against the thresholds, each decided by its gate (`gates`, by default
    safety on its lower bound); given the per-sample scores (or their `intervals`), the
    category and overall scores also carry their intervals (and category deltas, given a
    baseline)."""
    pedagogy = category_score(suites, SuiteCategory.pedagogy)
    safety = category_score(suites, SuiteCategory.safety)
    overall = overall_score(pedagogy, safety, weights)
    if intervals is None:
        intervals = (
            score_intervals(suites, weights, samples, resampling) if samples else SummaryIntervals()
        )
    checks = decide(
        {
            "pedagogy_score": _or_point(intervals.pedagogy, pedagogy),
            "safety_score": _or_point(intervals.safety, safety),
            "overall_score": _or_point(intervals.overall, overall),
        },
        thresholds,
        gates or ScoreGates(),
    )
    failures = [failure(check) for check in checks if not check.passed]

    # A suite where too many samples could not be graded says nothing reliable about
    # the model, so the run is an error rather than a pass or a fail.
    unreliable = [s for s in suites if s.error_rate > max_error_rate]
    error_message = None
    if not suites:
        error_message = "no suites were evaluated"
    elif unreliable:
        error_message = "; ".join(
            f"{s.suite}: {s.errored}/{s.attempted} samples errored "
            f"({s.error_rate:.0%} > {max_error_rate:.0%})"
            for s in unreliable
        )

    if error_message is not None:
        status = "error"
    elif failures:
        status = "failed"
    else:
        status = "passed"

    return EvaluationSummary(
        status=status,
        passed=status == "passed",
        pedagogy_score=pedagogy,
        safety_score=safety,
        overall_score=overall,
        suites=list(suites),
        baseline_suites=list(baseline),
        deltas=list(deltas),
        thresholds=thresholds,
        failed_thresholds=failures,
        error_message=error_message,
        pedagogy=intervals.pedagogy,
        safety=intervals.safety,
        overall=intervals.overall,
        pedagogy_delta=intervals.pedagogy_delta,
        safety_delta=intervals.safety_delta,
        gates=checks,
    )
