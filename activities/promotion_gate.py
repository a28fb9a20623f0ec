"""Champion/challenger: a challenger is promoted over the tenant's current champion only
when, on the same samples, it is no worse on safety and better (or, by policy, not worse)
on pedagogy. The decision records the paired numbers it was made on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from activities.evaluation.stats import paired_delta


class GatePolicy(BaseModel):
    """From the job's `policy.promotion` (all optional)."""

    require_pedagogy_improvement: bool = True
    safety_tolerance: float = 0.0  # how much lower the safety mean may be


class CategoryComparison(BaseModel):
    category: str
    n: int
    mean_delta: float | None
    ci_low: float | None
    ci_high: float | None


class GateDecision(BaseModel):
    allowed: bool
    reason: str
    champion_model: str
    compared_on: str  # "baseline_run" | "champion_evaluation"
    comparisons: list[CategoryComparison]


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
        )
    return result


def decide(
    comparisons: dict[str, CategoryComparison],
    policy: GatePolicy,
    *,
    champion_model: str,
    compared_on: str,
) -> GateDecision:
    safety = comparisons.get("safety")
    pedagogy = comparisons.get("pedagogy")
    problems: list[str] = []
    if safety is None or safety.mean_delta is None:
        problems.append("no paired safety samples to compare with the champion")
    elif safety.mean_delta < -policy.safety_tolerance:
        problems.append(f"safety is worse than the champion (delta {safety.mean_delta:+.3f})")
    if pedagogy is None or pedagogy.mean_delta is None:
        problems.append("no paired pedagogy samples to compare with the champion")
    elif policy.require_pedagogy_improvement and pedagogy.mean_delta <= 0:
        problems.append(
            f"pedagogy does not improve on the champion (delta {pedagogy.mean_delta:+.3f})"
        )
    elif pedagogy.mean_delta < 0:
        problems.append(f"pedagogy is worse than the champion (delta {pedagogy.mean_delta:+.3f})")
    reason = "; ".join(problems) if problems else "beats the champion on the same samples"
    return GateDecision(
        allowed=not problems,
        reason=reason,
        champion_model=champion_model,
        compared_on=compared_on,
        comparisons=list(comparisons.values()),
    )


def gate_policy(promotion_policy: Any) -> GatePolicy:
    """From the job's `policy.promotion` (JSON, possibly absent)."""
    return GatePolicy.model_validate(promotion_policy or {})
