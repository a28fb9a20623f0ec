"""Per-tenant datasheet policy, read from a YAML file (setting `dataset_policy_file`).

    default:                      # applies to every tenant
      allowed_licenses: [CC-BY-4.0, internal]
      allowed_sources: [internal-curriculum, "vendor:*"]
      required_fields: [owner]
    tenants:
      tenant_123:                 # lists given here replace the default's;
        allowed_licenses: [...]   # required_fields are added to the default's
        required_fields: [consent_reference]

A missing or empty list means "anything". Licence and source values match case-insensitively
and may use shell-style wildcards (`vendor:*`). See examples/dataset-policy.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.datasets.datasheet import DatasheetFinding, check_datasheet
from activities.datasets.report import Finding, quote_name


class PolicyFileError(ValueError):
    """The policy file cannot be read or does not have the documented shape."""


class DatasheetPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_licenses: list[str] | None = None
    allowed_sources: list[str] | None = None
    required_fields: list[str] = Field(default_factory=list)


class DatasetPolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: DatasheetPolicy = Field(default_factory=DatasheetPolicy)
    tenants: dict[str, DatasheetPolicy] = Field(default_factory=dict)

    def for_tenant(self, tenant_id: str) -> DatasheetPolicy:
        own = self.tenants.get(tenant_id)
        if own is None:
            return self.default
        merged = self.default.model_copy(deep=True)
        for name in ("allowed_licenses", "allowed_sources"):
            if name in own.model_fields_set:
                setattr(merged, name, getattr(own, name))
        extra = [f for f in own.required_fields if f not in merged.required_fields]
        merged.required_fields = [*merged.required_fields, *extra]
        return merged


def load_policy_file(path: Path) -> DatasetPolicyFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"dataset policy file {path}: {exc}") from exc
    try:
        return DatasetPolicyFile.model_validate(raw or {})
    except ValidationError as exc:
        raise PolicyFileError(f"dataset policy file {path}: {exc}") from exc


def policy_for_tenant(path: Path | None, tenant_id: str) -> DatasheetPolicy:
    """The tenant's policy; with no file configured, only the built-in required fields."""
    if path is None:
        return DatasheetPolicy()
    return load_policy_file(path).for_tenant(tenant_id)


def check_datasheet_policy(
    datasheet: Mapping[str, Any] | None, policy: DatasheetPolicy
) -> list[Finding]:
    """Built-in datasheet checks (datasheet.py), then the tenant's lists and extra fields."""
    findings = check_datasheet(datasheet)
    if not isinstance(datasheet, Mapping):
        return findings
    flagged = {f.field for f in findings}
    checks = (
        ("license", policy.allowed_licenses, "license_not_allowed"),
        ("source", policy.allowed_sources, "source_not_allowed"),
    )
    for name, allowed, kind in checks:
        value = datasheet.get(name)
        if allowed and name not in flagged and isinstance(value, str):
            if not _matches_any(value, allowed):
                problem = (
                    f"{quote_name(value)} is not allowed for this tenant"
                    f" (allowed: {', '.join(allowed)})"
                )
                findings.append(_finding(kind, name, problem))
    for name in policy.required_fields:
        if name in flagged:
            continue
        value = datasheet.get(name)
        if _is_blank(value):
            state = "is missing" if value is None else "is blank"
            problem = f"{state}; this tenant requires it"
            findings.append(_finding("missing_datasheet_field", name, problem))
    return findings


def _is_blank(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == [] or value == {}


def _matches_any(value: str, patterns: list[str]) -> bool:
    value = value.strip().lower()
    return any(fnmatchcase(value, p.strip().lower()) for p in patterns)


def _finding(kind: str, name: str, problem: str) -> DatasheetFinding:
    return DatasheetFinding(
        kind=kind, severity="error", message=f"datasheet.{name} {problem}", field=name
    )
