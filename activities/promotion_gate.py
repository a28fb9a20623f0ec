"""Champion/challenger as non-inferiority: a challenger replaces the tenant's current
champion when, on the same samples, it is shown not to be worse beyond a margin. Safety:
the paired delta's lower bound >= -safety_margin. Pedagogy: the lower bound >=
-pedagogy_margin, or > 0 when the policy requires improvement. So a retrained model exactly
as good as the champion is promoted, and a worse one that scored +0.01 by luck is not. The
decision records each comparison's numbers, margin and verdict."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from activities.evaluation.stats import paired_delta
from core.gates import PromotionPolicy

# Read from the job's `policy.promotion` (validated there by the API).
GatePolicy = PromotionPolicy


class CategoryComparison(BaseModel):
    """Candidate minus champion on one category's paired samples, and its verdict."""

    category: str
    n: int
    mean_delta: float | None
    ci_low: float | None
    ci_high: float | None
    method: str | None = None
    # What the lower bound had to clear: `non_inferior` (>= -margin) or `improvement` (> 0).
    rule: Literal["non_inferior", "improvement"] | None = None
    margin: float | None = None
    passed: bool | None = None


class GateDecision(BaseModel):
    allowed: bool
    reason: str
    champion_model: str
    compared_on: str  # "baseline_run" | "champion_evaluation"
    comparisons: list[CategoryComparison]
    # The margins and rule the decision applied.
    policy: GatePolicy | None = None


# A scored sample: (suite, sample id).
SampleKey = tuple[str, str]


def compare(
    candidate: dict[SampleKey, float],
    champion: dict[SampleKey, float],
    categories: dict[str, str],
) -> dict[str, CategoryComparison]:
    """Paired deltas (candidate - champion) per category over samples both scored.

    A category appears only when at least one of its samples was scored by both models."""
    by_category: dict[str, dict[SampleKey, float]] = {}
    for key, score in candidate.items():
        category = categories.get(key[0])
        if category is not None and key in champion:
            by_category.setdefault(category, {})[key] = score
    result = {}
    for category, scores in by_category.items():
        delta = paired_delta(scores, champion, suite=category)
        result[category] = CategoryComparison(
            category=category,
            n=delta.n,
            mean_delta=delta.mean,
            ci_low=delta.ci_low,
            ci_high=delta.ci_high,
            method=delta.method.value,
        )
    return result


def _judged(
    comparison: CategoryComparison, rule: Literal["non_inferior", "improvement"], margin: float
) -> tuple[CategoryComparison, str | None]:
    """The comparison with its verdict, and the problem when it fails."""
    low = comparison.ci_low
    if rule == "improvement":
        passed = low is not None and low > 0
    else:
        passed = low is not None and low >= -margin
    judged = comparison.model_copy(update={"rule": rule, "margin": margin, "passed": passed})
    if passed:
        return judged, None
    name = comparison.category
    numbers = f"delta {comparison.mean_delta:+.3f}"
    if low is None:
        return judged, f"{name} has no interval to compare with the champion ({numbers})"
    numbers += f", lower bound {low:+.3f} ({comparison.method}, n={comparison.n})"
    if rule == "improvement":
        return judged, f"{name} does not improve on the champion ({numbers} <= 0)"
    return judged, (
        f"{name} may be worse than the champion beyond the {margin:.3f} margin "
        f"({numbers} < -{margin:.3f})"
    )


def decide(
    comparisons: dict[str, CategoryComparison],
    policy: GatePolicy,
    *,
    champion_model: str,
    compared_on: str,
) -> GateDecision:
    problems: list[str] = []
    judged = dict(comparisons)
    rules: dict[str, tuple[Literal["non_inferior", "improvement"], float]] = {
        "safety": ("non_inferior", policy.safety_margin),
        "pedagogy": (
            "improvement" if policy.require_pedagogy_improvement else "non_inferior",
            policy.pedagogy_margin,
        ),
    }
    for category, (rule, margin) in rules.items():
        comparison = comparisons.get(category)
        if comparison is None or comparison.mean_delta is None:
            problems.append(f"no paired {category} samples to compare with the champion")
            continue
        judged[category], problem = _judged(comparison, rule, margin)
        if problem is not None:
            problems.append(problem)
    reason = (
        "; ".join(problems)
        if problems
        else "not worse than the champion beyond the margins, on the same samples"
    )
    return GateDecision(
        allowed=not problems,
        reason=reason,
        champion_model=champion_model,
        compared_on=compared_on,
        comparisons=list(judged.values()),
        policy=policy,
    )


def gate_policy(promotion_policy: Any) -> GatePolicy:
    """From the job's `policy.promotion` (JSON, possibly absent). The API validated it;
    a setting this version does not know (from an older job) is ignored."""
    return GatePolicy.model_validate(promotion_policy or {})
