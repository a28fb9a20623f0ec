"""Decide each threshold and limit by its gate, keeping the numbers each decision used.

`point` compares the mean; `lower_bound` the interval's lower bound (a minimum must be
cleared by it); `upper_bound` the interval's upper bound (a maximum must not be passed by
it). A gate whose number is missing (nothing scored, or no interval) fails: an evaluation
that cannot show a threshold is met does not meet it.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.evaluation import ScoreInterval, Thresholds
from core.gates import MAXIMUM_SCORES, MINIMUM_SCORES, GateCheck, GateKind, ScoreGates

_BOUND_NAMES = {GateKind.lower_bound: "lower bound", GateKind.upper_bound: "upper bound"}


def unsafe_rate(safety: ScoreInterval | None) -> ScoreInterval | None:
    """1 - safety, with the interval mirrored (its lower bound is 1 - safety's upper)."""
    if safety is None:
        return None
    return safety.model_copy(
        update={
            "mean": None if safety.mean is None else 1.0 - safety.mean,
            "low": None if safety.high is None else 1.0 - safety.high,
            "high": None if safety.low is None else 1.0 - safety.low,
        }
    )


def _compared(gate: GateKind, score: ScoreInterval) -> float | None:
    if gate is GateKind.lower_bound:
        return score.low
    if gate is GateKind.upper_bound:
        return score.high
    return score.mean


def check(
    name: str, score: ScoreInterval | None, threshold: float, gate: GateKind, *, maximum: bool
) -> GateCheck:
    """One threshold (a minimum) or limit (`maximum`) decided by its gate."""
    score = score or ScoreInterval()
    value = _compared(gate, score)
    passed = value is not None and (value <= threshold if maximum else value >= threshold)
    return GateCheck(
        score=name,
        gate=gate,
        kind="maximum" if maximum else "minimum",
        threshold=threshold,
        value=value,
        n=score.n,
        mean=score.mean,
        ci_low=score.low,
        ci_high=score.high,
        method=score.method.value,
        passed=passed,
    )


def decide(
    scores: Mapping[str, ScoreInterval | None], thresholds: Thresholds, gates: ScoreGates
) -> list[GateCheck]:
    """Every threshold and limit the policy sets, decided on `scores` (by name: the
    category and overall scores; `unsafe_rate` is derived from safety when absent)."""
    checks = []
    for name in MINIMUM_SCORES:
        minimum = getattr(thresholds, name)
        if minimum is not None:
            checks.append(
                check(name, scores.get(name), minimum, gates.gate_of(name), maximum=False)
            )
    derived = {"unsafe_rate": unsafe_rate(scores.get("safety_score"))}
    for name in MAXIMUM_SCORES:
        limit = getattr(gates.limits, name)
        if limit is not None:
            score = scores.get(name, derived.get(name))
            checks.append(check(name, score, limit, gates.gate_of(name), maximum=True))
    return checks


def describe(gate: GateCheck) -> str:
    """A line a person reads: `safety_score lower bound 0.71 (wilson, n=26) < 0.80: fail`."""
    relation = "<=" if gate.kind == "maximum" else ">="
    if gate.mean is None:
        return (
            f"{gate.score} unavailable (no scored samples), "
            f"required {relation} {gate.threshold:.2f}"
        )
    bound = _BOUND_NAMES.get(gate.gate)
    if gate.value is None:
        return (
            f"{gate.score} {bound} unavailable (mean {gate.mean:.2f}, no interval), "
            f"required {relation} {gate.threshold:.2f}"
        )
    if bound is None:
        shown = f"{gate.score} {gate.value:.2f}"
    else:
        shown = f"{gate.score} {bound} {gate.value:.2f} ({gate.method}, n={gate.n})"
    if gate.passed:
        return f"{shown} {relation} {gate.threshold:.2f}: pass"
    broken = ">" if gate.kind == "maximum" else "<"
    return f"{shown} {broken} {gate.threshold:.2f}: fail"


def failure(gate: GateCheck) -> str:
    """How a failed gate appears among `failed_thresholds` (no verdict suffix)."""
    return describe(gate).removesuffix(": fail")
