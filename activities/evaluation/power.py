"""Power, up front: how many scored samples a suite needs before its threshold means
anything, and the report's warning when it has fewer.

A suite can only tell a model at the threshold `p0` from one a margin below it,
`p1 = p0 - margin`, when it scored enough samples. For a one-sided test at level `alpha`
with power `1 - beta`, the normal approximation to the binomial gives

    n = ceil( ((z_a * sqrt(p0 (1 - p0)) + z_b * sqrt(p1 (1 - p1))) / (p0 - p1)) ** 2 )

with `z_a = Phi^-1(1 - alpha)` and `z_b = Phi^-1(power)` (scipy.stats.norm quantiles).

Assumptions, so a reader knows what the number rests on:
- Samples are independent draws. Samples sharing a prompt or group count less than one
  each, so for a clustered suite the number is a lower bound.
- The normal approximation to the binomial, which is rough when n * p1 * (1 - p1) is small
  (thresholds near 0 or 1 with few samples); the number is a guide, not a guarantee.
- Graded scores in [0, 1] use the same formula: a score in [0, 1] with mean p has variance
  at most p (1 - p) (the Bhatia-Davis bound), so the binomial variance is the worst case.
  The observed variance is deliberately not used: a suite where every sample scored the
  same has none, and would claim that a single sample is enough.

Which margin: a threshold's power is computed for `THRESHOLD_MARGIN` below it (the policy
declares its non-inferiority margins for champion deltas, not for thresholds). The overall
score is not checked: it mixes the categories by weight, and each category is checked on
its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import norm

from core.evaluation import EvaluationSummary, SuiteCategory, SuiteScore, Thresholds

DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8
# The shortfall below a threshold a suite should be able to detect.
THRESHOLD_MARGIN = 0.05

# Which threshold each category's suites are held to.
CATEGORY_THRESHOLDS = {
    SuiteCategory.pedagogy: "pedagogy_score",
    SuiteCategory.safety: "safety_score",
}


def required_samples(
    threshold: float,
    margin: float = THRESHOLD_MARGIN,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> int:
    """Scored samples needed to tell a model at `threshold` from one `margin` below it
    (one-sided test at `alpha`, with `power`); 0 when nothing lies below the threshold."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be between 0 and 1")
    if margin <= 0.0:
        raise ValueError("margin must be positive")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError("alpha and power must be between 0 and 1")
    p0 = threshold
    p1 = max(threshold - margin, 0.0)  # no model scores below 0
    if p0 <= p1:
        return 0
    z_alpha = float(norm.ppf(1.0 - alpha))
    z_power = float(norm.ppf(power))
    spread = z_alpha * math.sqrt(p0 * (1.0 - p0)) + z_power * math.sqrt(p1 * (1.0 - p1))
    # Rounded to 9 places first so float noise (418.0000000001) does not add a sample.
    return max(math.ceil(round((spread / (p0 - p1)) ** 2, 9)), 1)


class PowerCheck(BaseModel):
    """One suite's (or category's) scored samples against what its threshold needs."""

    model_config = ConfigDict(frozen=True)

    scope: str  # the suite's name, or the category's ("pedagogy suites")
    score: str  # the threshold it is held to: pedagogy_score | safety_score
    threshold: float
    margin: float
    alpha: float = DEFAULT_ALPHA
    power: float = DEFAULT_POWER
    required: int = Field(ge=0)
    scored: int = Field(ge=0)

    @property
    def underpowered(self) -> bool:
        return self.scored < self.required

    def warning(self) -> str:
        return (
            f"{self.scope}: {self.scored} scored samples, fewer than the {self.required} "
            f"needed to tell {self.score} {self.threshold:.2f} from "
            f"{max(self.threshold - self.margin, 0.0):.2f} "
            f"(one-sided alpha {self.alpha:.2f}, power {self.power:.2f})"
        )


def _checks_of(
    suites: Sequence[SuiteScore],
    thresholds: Thresholds,
    margin: float,
    alpha: float,
    power: float,
) -> Iterator[PowerCheck]:
    for category, score in CATEGORY_THRESHOLDS.items():
        threshold: float | None = getattr(thresholds, score)
        members = [s for s in suites if s.category == category]
        if threshold is None or not members:
            continue
        required = required_samples(threshold, margin, alpha, power)
        scopes = [(s.suite, s.scored) for s in members]
        # The gate decides on the category, so its suites together are checked too (the
        # same number as the suite's when there is only one).
        if len(members) > 1:
            scopes.append((f"{category} suites", sum(s.scored for s in members)))
        for scope, scored in scopes:
            yield PowerCheck(
                scope=scope,
                score=score,
                threshold=threshold,
                margin=margin,
                alpha=alpha,
                power=power,
                required=required,
                scored=scored,
            )


def power_checks(
    suites: Sequence[SuiteScore],
    thresholds: Thresholds,
    margin: float = THRESHOLD_MARGIN,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> list[PowerCheck]:
    """Every suite held to a threshold, and every category of several suites, with the
    samples it scored and the samples it needs."""
    return list(_checks_of(suites, thresholds, margin, alpha, power))


def power_warnings(
    suites: Sequence[SuiteScore],
    thresholds: Thresholds,
    margin: float = THRESHOLD_MARGIN,
) -> list[str]:
    """One line per suite (or category) with fewer scored samples than its threshold needs."""
    return [c.warning() for c in power_checks(suites, thresholds, margin) if c.underpowered]


def with_power_warnings(
    summary: EvaluationSummary, margin: float = THRESHOLD_MARGIN
) -> EvaluationSummary:
    """The summary with its underpowered suites named in `warnings` (added to any there)."""
    found = power_warnings(summary.suites, summary.thresholds, margin)
    if not found:
        return summary
    return summary.model_copy(update={"warnings": [*summary.warnings, *found]})
