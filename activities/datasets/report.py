"""Validation report types and the collector that condenses findings into them.

Reports travel in workflow payloads and end up in front of people, so they stay small
(counts plus the first few examples per kind) and never quote the data's content:
messages name positions, keys, JSON types and roles only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["error", "warning"]
DatasetFormat = Literal["chat", "dpo"]

DEFAULT_EXAMPLES_PER_KIND = 5
_NAME_LIMIT = 40


class Finding(BaseModel):
    """One problem at one place. `message` is self-contained and already names `field`."""

    model_config = ConfigDict(frozen=True)

    kind: str
    severity: Severity
    line: int | None = Field(default=None, ge=1)
    message: str
    field: str | None = None

    def render(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message} ({self.kind})"


class FindingSummary(BaseModel):
    """All findings of one kind: the total and the first few, in the order they were seen."""

    kind: str
    severity: Severity
    count: int = Field(ge=0)
    examples: list[Finding]


class DatasetStats(BaseModel):
    """Counts over the whole file.

    `examples` counts every non-blank line (the file's records, valid or not); the
    per-example message figures cover records whose message list could be read.
    """

    lines: int = 0
    blank_lines: int = 0
    bytes: int = 0
    examples: int = 0
    valid_examples: int = 0
    duplicate_examples: int = 0
    messages: int = 0
    assistant_messages: int = 0
    min_messages_per_example: int | None = None
    mean_messages_per_example: float | None = None
    max_messages_per_example: int | None = None


class ValidationReport(BaseModel):
    ok: bool
    format: DatasetFormat
    stats: DatasetStats
    errors: list[FindingSummary]
    warnings: list[FindingSummary]
    error_count: int = Field(ge=0)
    warning_count: int = Field(ge=0)

    def summary(self, kind: str) -> FindingSummary | None:
        for item in (*self.errors, *self.warnings):
            if item.kind == kind:
                return item
        return None

    def first_errors_text(self, limit: int = 5) -> str:
        """Up to `limit` kept error examples, file-level ones first, then by line."""
        kept = [f for item in self.errors for f in item.examples]
        kept.sort(key=lambda f: -1 if f.line is None else f.line)
        rendered = [f.render() for f in kept[:limit]]
        hidden = self.error_count - len(rendered)
        if hidden > 0:
            rendered.append(f"... and {hidden} more error(s)")
        return "\n".join(rendered)


class FindingCollector:
    """Counts findings per (severity, kind) and keeps the first `examples_per_kind` of each."""

    def __init__(self, examples_per_kind: int = DEFAULT_EXAMPLES_PER_KIND) -> None:
        self._examples_per_kind = examples_per_kind
        self._summaries: dict[tuple[Severity, str], FindingSummary] = {}

    def add(self, finding: Finding, *, count: int = 1) -> None:
        """Record `finding`, standing for `count` findings of its kind (see ExampleCheck)."""
        key = (finding.severity, finding.kind)
        summary = self._summaries.get(key)
        if summary is None:
            summary = FindingSummary(
                kind=finding.kind, severity=finding.severity, count=0, examples=[]
            )
            self._summaries[key] = summary
        summary.count += count
        if len(summary.examples) < self._examples_per_kind:
            summary.examples.append(finding)

    def extend(self, findings: list[Finding]) -> None:
        for finding in findings:
            self.add(finding)

    def summaries(self, severity: Severity) -> list[FindingSummary]:
        return [s.model_copy(deep=True) for s in self._summaries.values() if s.severity == severity]

    def count(self, severity: Severity) -> int:
        return sum(s.count for s in self._summaries.values() if s.severity == severity)


def error(kind: str, message: str, *, line: int | None = None, field: str | None = None) -> Finding:
    return Finding(kind=kind, severity="error", line=line, message=message, field=field)


def warning(
    kind: str, message: str, *, line: int | None = None, field: str | None = None
) -> Finding:
    return Finding(kind=kind, severity="warning", line=line, message=message, field=field)


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value; safe to show where the value itself is not."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def quote_name(name: str) -> str:
    """Quote a key, role or part type, truncated so an odd value cannot flood a report."""
    if len(name) > _NAME_LIMIT:
        name = name[:_NAME_LIMIT] + "..."
    return repr(name)
