"""Checks on a dataset's datasheet: the documentation a training job must carry.

`check_datasheet` runs before the file is read; `check_datasheet_against_stats` runs after
validation, when the real record count is known. Every finding here is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from activities.datasets.report import DatasetStats, Finding, json_type

REQUIRED_FIELDS = ("source", "license", "redaction")


class DatasheetFinding(Finding):
    """A problem with the datasheet itself; `field` names the datasheet key, never a line."""

    line: None = None


def check_datasheet(datasheet: Mapping[str, Any] | None) -> list[Finding]:
    if not isinstance(datasheet, Mapping):
        return [
            _finding("invalid_datasheet", None, f"must be an object, got {json_type(datasheet)}")
        ]
    findings: list[Finding] = []
    for name in REQUIRED_FIELDS:
        value = datasheet.get(name)
        if name not in datasheet or value is None:
            findings.append(_finding("missing_datasheet_field", name, "is missing"))
        elif not isinstance(value, str):
            problem = f"must be a string, got {json_type(value)}"
            findings.append(_finding("missing_datasheet_field", name, problem))
        elif not value.strip():
            findings.append(_finding("missing_datasheet_field", name, "is blank"))
    if _declared_size(datasheet) is None and datasheet.get("size") is not None:
        problem = f"must be a non-negative integer, got {_size_type(datasheet['size'])}"
        findings.append(_finding("invalid_datasheet_size", "size", problem))
    return findings


def check_datasheet_against_stats(
    datasheet: Mapping[str, Any] | None, stats: DatasetStats
) -> list[Finding]:
    """The declared `size`, when valid, must equal the file's record count."""
    if not isinstance(datasheet, Mapping):
        return []
    size = _declared_size(datasheet)
    if size is None or size == stats.examples:
        return []
    problem = f"is {size} but the dataset file has {stats.examples} records"
    return [_finding("datasheet_size_mismatch", "size", problem)]


def _declared_size(datasheet: Mapping[str, Any]) -> int | None:
    size = datasheet.get("size")
    # bool is an int subclass, but `true` is not a size.
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        return size
    return None


def _size_type(size: Any) -> str:
    if isinstance(size, int) and not isinstance(size, bool):
        return "a negative integer"
    if isinstance(size, float):
        return "a non-integer number"
    return json_type(size)


def _finding(kind: str, name: str | None, problem: str) -> DatasheetFinding:
    subject = f"datasheet.{name}" if name else "datasheet"
    return DatasheetFinding(kind=kind, severity="error", message=f"{subject} {problem}", field=name)
