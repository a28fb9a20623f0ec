"""String graders: contains, regex, exact, numeric."""

from __future__ import annotations

import math
import re

from activities.evaluation.graders.base import GraderVerdict
from core.evaluation_suites import ContainsSpec, ExactSpec, NumericSpec, RegexSpec, Sample

_WS = re.compile(r"\s+")
# Fractions, then decimals/integers with optional thousands separators; a minus sign counts
# only when it cannot be a hyphen or subtraction ("10-5" is two numbers, not 10 and -5).
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-\u2212])?"
    r"(?:(?P<num>\d+)\s*/\s*(?P<den>\d+)"
    r"|(?P<dec>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+))"
    r"(?![\d/])"
)


def grade_contains(spec: ContainsSpec, output: str) -> GraderVerdict:
    def norm(text: str) -> str:
        return text if spec.case_sensitive else text.lower()

    haystack = norm(output)
    problems = []
    if spec.any and not any(norm(term) in haystack for term in spec.any):
        problems.append(f"none of {spec.any} present")
    if spec.all:
        missing = [term for term in spec.all if norm(term) not in haystack]
        if missing:
            problems.append(f"missing {missing}")
    if spec.none:
        present = [term for term in spec.none if norm(term) in haystack]
        if present:
            problems.append(f"contains forbidden {present}")
    return GraderVerdict.ok("contains", not problems, "; ".join(problems) or "terms as required")


def grade_regex(spec: RegexSpec, output: str) -> GraderVerdict:
    flags = re.IGNORECASE if spec.ignore_case else 0
    matched = re.search(spec.pattern, output, flags) is not None
    passed = matched == spec.must_match
    what = "matched" if matched else "did not match"
    return GraderVerdict.ok("regex", passed, f"{what} /{spec.pattern}/")


def grade_exact(spec: ExactSpec, sample: Sample, output: str) -> GraderVerdict:
    expected = spec.value if spec.value is not None else sample.reference or ""

    def norm(text: str) -> str:
        collapsed = _WS.sub(" ", text).strip()
        return collapsed if spec.case_sensitive else collapsed.casefold()

    passed = norm(output) == norm(expected)
    return GraderVerdict.ok("exact", passed, "exact match" if passed else "output differs")


def extract_numbers(text: str) -> list[float]:
    values = []
    for match in _NUMBER.finditer(text):
        sign = -1.0 if match["sign"] else 1.0
        if match["den"] is not None:
            denominator = int(match["den"])
            if denominator == 0:
                continue
            values.append(sign * int(match["num"]) / denominator)
        else:
            values.append(sign * float(match["dec"].replace(",", "")))
    return values


def grade_numeric(spec: NumericSpec, sample: Sample, output: str) -> GraderVerdict:
    target = sample.numeric_answer
    if target is None:
        return GraderVerdict.error("numeric", "sample has no numeric_answer")
    found = extract_numbers(output)
    hit = any(math.isclose(v, target, rel_tol=1e-9, abs_tol=spec.tolerance) for v in found)
    shown = ", ".join(f"{v:g}" for v in found[:8]) or "no numbers"
    return GraderVerdict.ok("numeric", hit, f"expected {target:g}; found {shown}")
