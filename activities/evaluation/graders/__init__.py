"""Graders: each turns one model output into a GraderVerdict.

Deterministic graders live beside the two that call the provider (judge, moderation);
`grade` dispatches on the spec type.
"""

from __future__ import annotations

from activities.evaluation.graders.base import GradeContext, GraderVerdict
from activities.evaluation.graders.judge import grade_judge
from activities.evaluation.graders.moderation import grade_moderation
from activities.evaluation.graders.pii import grade_pii
from activities.evaluation.graders.readability import grade_reading_level
from activities.evaluation.graders.refusal import grade_refusal
from activities.evaluation.graders.text import (
    grade_contains,
    grade_exact,
    grade_numeric,
    grade_regex,
)
from core.evaluation_suites import (
    ContainsSpec,
    ExactSpec,
    GraderSpec,
    JudgeSpec,
    ModerationSpec,
    NumericSpec,
    PiiSpec,
    ReadingLevelSpec,
    RefusalSpec,
    RegexSpec,
    Sample,
)

__all__ = ["GradeContext", "GraderVerdict", "grade"]


async def grade(spec: GraderSpec, sample: Sample, output: str, ctx: GradeContext) -> GraderVerdict:
    try:
        match spec:
            case JudgeSpec():
                return await grade_judge(spec, sample, output, ctx)
            case ModerationSpec():
                return await grade_moderation(spec, output, ctx)
            case RefusalSpec():
                return grade_refusal(sample, output)
            case ContainsSpec():
                return grade_contains(spec, output)
            case RegexSpec():
                return grade_regex(spec, output)
            case ExactSpec():
                return grade_exact(spec, sample, output)
            case NumericSpec():
                return grade_numeric(spec, sample, output)
            case ReadingLevelSpec():
                return grade_reading_level(spec, output)
            case PiiSpec():
                return grade_pii(output)
    except Exception as exc:
        # A grader bug must not sink the whole suite; it is counted as an errored
        # verdict, which feeds the run's error rate instead of a fake score.
        return GraderVerdict.error(spec.type, f"grader failed: {type(exc).__name__}: {exc}")
    raise TypeError(f"unknown grader spec {spec!r}")
