"""The findings of one record, capped per kind, plus the counts the file statistics need."""

from __future__ import annotations

from dataclasses import dataclass, field

from activities.datasets.report import Finding, Severity, error, warning

# Findings kept per kind on one line; the rest are only counted, so a line of a million
# empty messages costs counters, not a million findings.
FINDINGS_PER_KIND_PER_LINE = 5


@dataclass(slots=True)
class ExampleCheck:
    """Findings for one record, plus the message counts the file statistics need."""

    line: int
    findings: list[Finding] = field(default_factory=list)
    # Findings past FINDINGS_PER_KIND_PER_LINE, counted per (severity, kind), not kept.
    omitted: dict[tuple[Severity, str], int] = field(default_factory=dict)
    # None when the record has no readable message list.
    messages: int | None = None
    assistant_messages: int = 0
    trained_assistant_messages: int = 0
    has_error: bool = False
    _kept: dict[tuple[Severity, str], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.has_error

    def error(self, kind: str, path: str, problem: str) -> None:
        """Record an error; the message reads "<path> <problem>"."""
        self.has_error = True
        if self._keep("error", kind):
            self.findings.append(error(kind, f"{path} {problem}", line=self.line, field=path))

    def warning(self, kind: str, path: str, problem: str) -> None:
        if self._keep("warning", kind):
            self.findings.append(warning(kind, f"{path} {problem}", line=self.line, field=path))

    def error_at(self, kind: str, message: str, path: str | None) -> None:
        """An error whose message does not start with its field."""
        self.has_error = True
        if self._keep("error", kind):
            self.findings.append(error(kind, message, line=self.line, field=path))

    def warning_at(self, kind: str, message: str, path: str | None) -> None:
        if self._keep("warning", kind):
            self.findings.append(warning(kind, message, line=self.line, field=path))

    def counted(self) -> list[tuple[Finding, int]]:
        """Each kept finding with how many it stands for: the last kept one of a capped kind
        also stands for the omitted ones, and says so."""
        last: dict[tuple[Severity, str], int] = {}
        for i, finding in enumerate(self.findings):
            last[(finding.severity, finding.kind)] = i
        out = [(finding, 1) for finding in self.findings]
        for key, extra in self.omitted.items():
            i = last[key]
            finding = self.findings[i]
            message = f"{finding.message} (and {extra} more like it on this line)"
            out[i] = (finding.model_copy(update={"message": message}), 1 + extra)
        return out

    def _keep(self, severity: Severity, kind: str) -> bool:
        key = (severity, kind)
        kept = self._kept.get(key, 0)
        if kept < FINDINGS_PER_KIND_PER_LINE:
            self._kept[key] = kept + 1
            return True
        self.omitted[key] = self.omitted.get(key, 0) + 1
        return False
