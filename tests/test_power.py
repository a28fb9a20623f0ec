"""Power, up front: the samples a suite needs to tell a model at its threshold from one a
margin below it, and the report's warning when it scored fewer."""

from __future__ import annotations

import math

import pytest

from activities.evaluation.power import (
    THRESHOLD_MARGIN,
    power_checks,
    power_warnings,
    required_samples,
    with_power_warnings,
)
from activities.evaluation.scoring import summarize
from core.evaluation import ScoreWeights, SuiteCategory, SuiteScore, Thresholds

# Standard normal quantiles, from a printed table: z(0.95) and z(0.80).
Z_95 = 1.6449
Z_80 = 0.8416


def _by_hand(p0: float, margin: float) -> float:
    p1 = p0 - margin
    return ((Z_95 * math.sqrt(p0 * (1 - p0)) + Z_80 * math.sqrt(p1 * (1 - p1))) / margin) ** 2


def _suite(name: str, category: SuiteCategory, passed: int, failed: int = 0) -> SuiteScore:
    n = passed + failed
    return SuiteScore(
        suite=name,
        category=category,
        model="ft:candidate",
        n=n,
        passed=passed,
        failed=failed,
        errored=0,
        mean=passed / n if n else None,
        stderr=None,
        ci_low=None,
        ci_high=None,
    )


@pytest.mark.parametrize(
    ("threshold", "margin", "expected"),
    [(0.8, 0.05, 419), (0.9, 0.05, 253), (0.6, 0.05, 600), (0.9, 0.03, 670), (0.8, 0.1, 109)],
)
def test_required_samples_match_the_formula_by_hand(
    threshold: float, margin: float, expected: int
) -> None:
    # 0.8 and 0.05: (1.6449 * 0.4 + 0.8416 * sqrt(0.75 * 0.25)) / 0.05 = 20.45; squared 418.3.
    assert required_samples(threshold, margin) == expected
    assert required_samples(threshold, margin) == math.ceil(_by_hand(threshold, margin))


def test_a_smaller_margin_needs_more_samples() -> None:
    margins = [0.2, 0.1, 0.05, 0.03, 0.02, 0.01]
    needed = [required_samples(0.8, margin) for margin in margins]
    assert needed == sorted(needed)
    assert len(set(needed)) == len(needed)


def test_more_power_or_a_stricter_alpha_needs_more_samples() -> None:
    base = required_samples(0.8, 0.05)
    assert required_samples(0.8, 0.05, power=0.9) > base
    assert required_samples(0.8, 0.05, alpha=0.025) > base


def test_edges_of_the_scale() -> None:
    # At threshold 1 only the model below varies; at threshold 0 nothing lies below.
    assert required_samples(1.0, 0.05) == math.ceil((Z_80 * math.sqrt(0.95 * 0.05) / 0.05) ** 2)
    assert required_samples(0.0, 0.05) == 0
    # A margin reaching below 0 is cut at 0 (no model scores less).
    assert required_samples(0.03, 0.05) == required_samples(0.03, 0.03)
    with pytest.raises(ValueError, match="margin"):
        required_samples(0.8, 0.0)
    with pytest.raises(ValueError, match="threshold"):
        required_samples(1.2, 0.05)


def test_a_26_sample_suite_is_warned_about_and_a_large_one_is_not() -> None:
    thresholds = Thresholds(safety_score=0.9)
    small = [_suite("safety_core", SuiteCategory.safety, passed=26)]
    large = [_suite("safety_core", SuiteCategory.safety, passed=290, failed=10)]

    (warning,) = power_warnings(small, thresholds)
    assert warning.startswith("safety_core: 26 scored samples")
    assert "253 needed" in warning and "safety_score 0.90 from 0.85" in warning
    assert power_warnings(large, thresholds) == []
    (check,) = power_checks(large, thresholds)
    assert (check.scored, check.required, check.margin) == (300, 253, THRESHOLD_MARGIN)


def test_only_suites_under_a_threshold_are_checked_and_categories_together() -> None:
    suites = [
        _suite("pedagogy_a", SuiteCategory.pedagogy, passed=150, failed=150),
        _suite("pedagogy_b", SuiteCategory.pedagogy, passed=200, failed=100),
        _suite("safety_core", SuiteCategory.safety, passed=26),
        _suite("custom_tone", SuiteCategory.custom, passed=3),
    ]
    # No safety threshold: the small safety suite is not held to anything.
    checks = power_checks(suites, Thresholds(pedagogy_score=0.6))
    scopes = {c.scope: (c.scored, c.required) for c in checks}
    assert scopes == {
        "pedagogy_a": (300, 600),
        "pedagogy_b": (300, 600),
        "pedagogy suites": (600, 600),
    }
    warnings = power_warnings(suites, Thresholds(pedagogy_score=0.6))
    assert [w.split(":")[0] for w in warnings] == ["pedagogy_a", "pedagogy_b"]


def test_the_summary_carries_the_warning() -> None:
    thresholds = Thresholds(pedagogy_score=0.6, safety_score=0.9)
    suites = [
        _suite("pedagogy_core", SuiteCategory.pedagogy, passed=700, failed=100),
        _suite("safety_core", SuiteCategory.safety, passed=26),
    ]
    summary = summarize(suites, thresholds, ScoreWeights())
    assert summary.warnings == []

    warned = with_power_warnings(summary)
    assert len(warned.warnings) == 1 and warned.warnings[0].startswith("safety_core: 26")
    # Stored and read back, the warning survives; a summary stored before has none.
    again = type(warned).model_validate(warned.model_dump(mode="json"))
    assert again.warnings == warned.warnings
    stored = summary.model_dump(mode="json")
    del stored["warnings"]
    assert type(summary).model_validate(stored).warnings == []
