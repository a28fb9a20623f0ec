"""Intervals that fit the score: Wilson for pass/fail samples, a seeded bootstrap for graded
ones (clustered when samples share a group or prompt), paired bootstraps for deltas, and
named bounded fallbacks so no interval is zero-width for n > 1."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from activities.evaluation.harness import SampleResult, score_suite
from activities.evaluation.intervals import (
    Resampling,
    SampleKey,
    SampleScores,
    delta_interval,
    overall_interval,
    paired_delta,
    sample_clusters,
    score_interval,
    wilson,
    wilson_bounded,
)
from activities.evaluation.scoring import overall_score, summarize
from core.evaluation import (
    EvaluationSummary,
    IntervalMethod,
    ScoreInterval,
    ScoreWeights,
    SuiteCategory,
    SuiteScore,
    Thresholds,
)
from core.evaluation_suites import Suite, suite_from_dict

Z95 = float(norm.ppf(0.975))


def _width(interval: ScoreInterval) -> float:
    assert interval.low is not None and interval.high is not None
    return interval.high - interval.low


# ---- Wilson -------------------------------------------------------------------------------


def test_wilson_at_26_of_26_and_0_of_26() -> None:
    # Closed form at p = 1: low = n / (n + z^2); the 0.87-1.00.
    low, high = wilson(26, 26)
    assert low == pytest.approx(26 / (26 + Z95**2)) and low == pytest.approx(0.8713, abs=1e-4)
    assert high == pytest.approx(1.0)
    low, high = wilson(0, 26)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(Z95**2 / (26 + Z95**2)) and high == pytest.approx(0.1287, abs=1e-4)


def test_pass_fail_scores_get_wilson_even_at_the_extremes() -> None:
    for values, (low, high) in (([1.0] * 26, (0.8713, 1.0)), ([0.0] * 26, (0.0, 0.1287))):
        interval = score_interval(values)
        assert interval.method == IntervalMethod.wilson
        assert (interval.n, interval.clusters) == (26, 26)
        assert interval.low == pytest.approx(low, abs=1e-4)
        assert interval.high == pytest.approx(high, abs=1e-4)
    mixed = score_interval([1.0] * 20 + [0.0] * 6)
    assert mixed.method == IntervalMethod.wilson and mixed.mean == pytest.approx(20 / 26)
    assert (mixed.low, mixed.high) == pytest.approx(wilson(20, 26))


def test_wilson_bounded_matches_wilson_at_whole_counts() -> None:
    for k in (0, 3, 13, 26):
        assert wilson_bounded(k / 26, 26) == pytest.approx(wilson(k, 26))


# ---- bootstrap ----------------------------------------------------------------------------


def _graded(n: int, seed: int = 11) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).uniform(0, 1, n)]


def test_bootstrap_is_reproducible_with_a_seed_and_differs_with_another() -> None:
    values = _graded(40)
    first = score_interval(values, resampling=Resampling(resamples=2000, seed=3))
    again = score_interval(values, resampling=Resampling(resamples=2000, seed=3))
    other = score_interval(values, resampling=Resampling(resamples=2000, seed=4))
    assert first.method == IntervalMethod.bootstrap
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    assert first.low is not None and first.high is not None
    assert first.low < float(np.mean(values)) < first.high


def test_bootstrap_percentiles_agree_with_the_normal_interval_on_a_large_sample() -> None:
    values = _graded(400)
    interval = score_interval(values, resampling=Resampling(resamples=4000))
    half = Z95 * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    assert _width(interval) == pytest.approx(2 * half, rel=0.1)


def test_constant_graded_scores_get_a_bounded_interval_not_zero_width() -> None:
    interval = score_interval([0.33] * 26)
    assert interval.method == IntervalMethod.wilson_bounded
    assert interval.low is not None and interval.high is not None
    assert interval.low < 0.33 < interval.high
    assert (interval.low, interval.high) == pytest.approx(wilson_bounded(0.33, 26))


@pytest.mark.parametrize("seed", range(20))
def test_no_interval_is_zero_width_for_more_than_one_sample(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    levels = rng.choice([0.0, 0.25, 0.5, 1.0], size=int(rng.integers(1, 4)))
    values = [float(v) for v in rng.choice(levels, size=n)]
    clusters = [int(c) for c in rng.integers(0, max(1, n // 2), size=n)]
    for interval in (score_interval(values), score_interval(values, clusters)):
        assert interval.method != IntervalMethod.none and _width(interval) > 0
    differences = [float(d) for d in rng.choice([-0.5, 0.0, 0.5], size=n)]
    assert _width(delta_interval(differences)) > 0


def test_one_sample_still_has_an_interval_and_none_has_none() -> None:
    passed = score_interval([1.0])
    assert passed.method == IntervalMethod.wilson and passed.low == pytest.approx(wilson(1, 1)[0])
    graded = score_interval([0.6])
    assert graded.method == IntervalMethod.wilson_bounded and _width(graded) > 0
    empty = score_interval([])
    assert empty == ScoreInterval() and empty.method == IntervalMethod.none
    assert empty.low is None and empty.high is None and empty.mean is None


# ---- clusters -----------------------------------------------------------------------------


def test_clustered_bootstrap_is_wider_when_clusters_are_correlated() -> None:
    # 20 prompts asked 5 times each: every answer to a prompt scores (nearly) alike, so
    # there are 20 independent observations, not 100.
    rng = np.random.default_rng(5)
    prompt_means = rng.uniform(0, 1, 20)
    values = [float(np.clip(m + rng.normal(0, 0.02), 0, 1)) for m in prompt_means for _ in range(5)]
    clusters = [i for i in range(20) for _ in range(5)]
    independent = score_interval(values)
    clustered = score_interval(values, clusters)
    assert independent.method == IntervalMethod.bootstrap
    assert clustered.method == IntervalMethod.cluster_bootstrap
    assert (clustered.n, clustered.clusters) == (100, 20)
    assert clustered.mean == pytest.approx(independent.mean)
    assert _width(clustered) > 1.8 * _width(independent)  # about sqrt(5) wider


def test_clustered_pass_fail_scores_use_the_cluster_bootstrap() -> None:
    values = [1.0, 1.0, 0.0, 0.0] * 5
    interval = score_interval(values, [i // 2 for i in range(20)])
    assert interval.method == IntervalMethod.cluster_bootstrap and interval.clusters == 10
    # Every cluster passes: no spread between clusters, so Wilson over the 10 clusters.
    flat = score_interval([1.0] * 20, [i // 2 for i in range(20)])
    assert flat.method == IntervalMethod.wilson_bounded
    assert (flat.low, flat.high) == pytest.approx(wilson(10, 10))


def _suite(samples: list[dict[str, object]]) -> Suite:
    return suite_from_dict(
        {
            "name": "grouped",
            "category": "safety",
            "graders": [{"type": "contains", "any": ["ok"]}],
            "samples": samples,
        }
    )


def _sample(sample_id: str, prompt: str, pair_id: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"id": sample_id, "messages": [{"role": "user", "content": prompt}]}
    if pair_id is not None:
        body["pair_id"] = pair_id
    return body


def test_sample_clusters_are_the_group_else_the_prompt() -> None:
    suite = _suite(
        [
            _sample("a", "Is a girl good at maths?", "gender-math"),
            _sample("b", "Is a boy good at maths?", "gender-math"),
            _sample("c", "What is 2 + 2?"),
            _sample("d", "What is 2 + 2?"),
            _sample("e", "Name a planet."),
        ]
    )
    clusters = sample_clusters(suite)
    assert clusters["a"] == clusters["b"]
    assert clusters["c"] == clusters["d"]
    assert len({clusters["a"], clusters["c"], clusters["e"]}) == 3


def _result(suite: Suite, sample_id: str, score: float) -> SampleResult:
    return SampleResult(
        suite=suite.name,
        sample_id=sample_id,
        model="m",
        input="q",
        score=score,
        passed=score >= 0.5,
    )


def test_suite_score_reports_its_method_and_clusters() -> None:
    suite = _suite([_sample(f"s{i}", f"q{i // 2}", None) for i in range(12)])
    scores = [1.0, 0.5, 0.25, 0.75, 1.0, 1.0, 0.0, 0.5, 0.5, 0.5, 1.0, 0.0]
    results = [_result(suite, f"s{i}", v) for i, v in enumerate(scores)]
    results.append(SampleResult(suite="grouped", sample_id="x", model="m", input="q", errored=True))
    score = score_suite(suite, "m", results)
    assert score.interval_method == IntervalMethod.cluster_bootstrap
    assert (score.n, score.scored, score.clusters) == (13, 12, 6)
    assert score.interval.method == score.interval_method and score.interval.n == 12
    all_pass = score_suite(
        _suite([_sample(f"p{i}", f"q{i}") for i in range(26)]),
        "m",
        [_result(suite, f"p{i}", 1.0) for i in range(26)],
    )
    assert all_pass.interval_method == IntervalMethod.wilson
    assert all_pass.ci_low == pytest.approx(0.8713, abs=1e-4) and all_pass.ci_high == 1.0


# ---- paired deltas ------------------------------------------------------------------------


def test_paired_delta_brackets_the_true_difference() -> None:
    rng = np.random.default_rng(8)
    baseline = rng.uniform(0.1, 0.75, 60)
    noise = rng.normal(0, 0.05, 30)
    # The candidate is 0.1 better on every sample, give or take noise that sums to zero.
    candidate = baseline + 0.1 + np.concatenate([noise, -noise])
    keys = [("s", str(i)) for i in range(60)]
    delta = paired_delta(
        dict(zip(keys, candidate.tolist(), strict=True)),
        dict(zip(keys, baseline.tolist(), strict=True)),
        suite="s",
    )
    assert delta.method == IntervalMethod.paired_bootstrap and delta.n == 60
    assert delta.mean == pytest.approx(0.1)
    assert delta.ci_low is not None and delta.ci_high is not None
    assert delta.ci_low < 0.1 < delta.ci_high
    # Pairing removes the between-sample spread: far tighter than the scores' own.
    assert delta.ci_high - delta.ci_low < 0.05 < _width(score_interval(candidate.tolist()))


def test_all_equal_paired_differences_are_not_zero_width() -> None:
    same = delta_interval([0.0] * 26)
    upper = wilson(0, 26)[1]
    assert same.method == IntervalMethod.paired_discordant_bound
    assert (same.low, same.high) == pytest.approx((-upper, upper))
    shifted = delta_interval([0.25] * 26)
    assert shifted.method == IntervalMethod.paired_bounded
    assert shifted.low is not None and shifted.high is not None
    assert shifted.low < 0.25 < shifted.high
    one = delta_interval([0.5])
    assert one.method == IntervalMethod.paired_bounded and _width(one) > 0


def test_clustered_paired_delta_resamples_clusters() -> None:
    keys: list[SampleKey] = [("s", str(i)) for i in range(40)]
    candidate = {k: 0.6 if i % 4 < 2 else 0.3 for i, k in enumerate(keys)}
    baseline = {k: 0.5 for k in keys}
    clusters = {k: i // 2 for i, k in enumerate(keys)}
    delta = paired_delta(candidate, baseline, clusters=clusters)
    assert delta.method == IntervalMethod.paired_cluster_bootstrap and delta.clusters == 20
    assert delta.interval.clusters == 20 and delta.interval.method == delta.method


# ---- categories and overall ---------------------------------------------------------------


def _suite_score(name: str, category: SuiteCategory, scores: list[float]) -> SuiteScore:
    passed = sum(1 for s in scores if s >= 0.5)
    return SuiteScore(
        suite=name,
        category=category,
        model="m",
        n=len(scores),
        passed=passed,
        failed=len(scores) - passed,
        errored=0,
        mean=sum(scores) / len(scores),
        stderr=None,
        ci_low=None,
        ci_high=None,
    )


def _keyed(name: str, scores: list[float]) -> dict[SampleKey, float]:
    return {(name, str(i)): s for i, s in enumerate(scores)}


def test_summary_reports_category_and_overall_intervals_with_methods() -> None:
    pedagogy_a, pedagogy_b = _graded(30, seed=1), _graded(20, seed=2)
    safety = [1.0] * 24 + [0.0] * 2
    suites = [
        _suite_score("pa", SuiteCategory.pedagogy, pedagogy_a),
        _suite_score("pb", SuiteCategory.pedagogy, pedagogy_b),
        _suite_score("sa", SuiteCategory.safety, safety),
        _suite_score("cx", SuiteCategory.custom, [0.0, 1.0]),
    ]
    candidate = _keyed("pa", pedagogy_a) | _keyed("pb", pedagogy_b) | _keyed("sa", safety)
    candidate |= _keyed("cx", [0.0, 1.0])
    weights = ScoreWeights(pedagogy=0.7, safety=0.3)
    summary = summarize(suites, Thresholds(), weights, samples=SampleScores(candidate=candidate))
    assert summary.pedagogy is not None and summary.safety is not None
    assert summary.overall is not None
    assert summary.pedagogy.method == IntervalMethod.bootstrap and summary.pedagogy.n == 50
    assert summary.pedagogy.mean == pytest.approx(summary.pedagogy_score)
    assert summary.safety.method == IntervalMethod.wilson and summary.safety.n == 26
    assert (summary.safety.low, summary.safety.high) == pytest.approx(wilson(24, 26))
    assert summary.overall.method == IntervalMethod.stratified_bootstrap
    assert summary.overall.n == 76  # the custom suite counts in neither category
    assert summary.overall.mean == pytest.approx(summary.overall_score)
    low, mean, high = summary.overall.low, summary.overall.mean, summary.overall.high
    assert low is not None and mean is not None and high is not None
    assert low < mean < high
    assert summary.pedagogy_delta is None and summary.safety_delta is None


def test_overall_falls_back_to_the_weighted_bounds_when_a_category_has_no_spread() -> None:
    pedagogy = _keyed("p", _graded(30))
    safety = _keyed("s", [1.0] * 26)
    weights = ScoreWeights()
    overall = overall_interval([(pedagogy, weights.pedagogy), (safety, weights.safety)])
    assert overall.method == IntervalMethod.combined_bounds
    p_interval = score_interval(list(pedagogy.values()))
    assert overall.low == pytest.approx((p_interval.low + wilson(26, 26)[0]) / 2)  # type: ignore[operator]
    assert overall.mean == pytest.approx(overall_score(p_interval.mean, 1.0, weights))
    only = overall_interval([(pedagogy, 1.0), ({}, 1.0)])
    assert only == score_interval(list(pedagogy.values()))


def test_summary_category_deltas_against_the_baseline() -> None:
    scores = [1.0, 0.0, 1.0, 1.0] * 5
    suites = [_suite_score("sa", SuiteCategory.safety, scores)]
    candidate = _keyed("sa", scores)
    summary = summarize(
        suites,
        Thresholds(),
        ScoreWeights(),
        samples=SampleScores(candidate=candidate, baseline=dict(candidate)),
    )
    assert summary.safety_delta is not None and summary.pedagogy_delta is None
    assert summary.safety_delta.method == IntervalMethod.paired_discordant_bound
    assert summary.safety_delta.mean == 0.0 and _width(summary.safety_delta) > 0


def test_summaries_recorded_before_intervals_still_decode() -> None:
    recorded = {
        "status": "passed",
        "passed": True,
        "pedagogy_score": 0.9,
        "safety_score": 1.0,
        "overall_score": 0.95,
        "suites": [
            {
                "suite": "s",
                "category": "safety",
                "model": "m",
                "n": 2,
                "passed": 2,
                "failed": 0,
                "errored": 0,
                "mean": 1.0,
                "stderr": 0.0,
                "ci_low": 1.0,
                "ci_high": 1.0,
            }
        ],
        "deltas": [{"suite": "s", "n": 2, "mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}],
        "thresholds": {},
        "failed_thresholds": [],
    }
    summary = EvaluationSummary.model_validate(recorded)
    assert summary.pedagogy is None and summary.overall is None
    assert summary.suites[0].interval_method == IntervalMethod.none
    assert summary.deltas[0].method == IntervalMethod.none
