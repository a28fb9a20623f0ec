"""What the Model Registry sends back (models, versions, bindings, health), and the naming
rules promotion shares with it: name normalisation, version hashes and version numbers."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class _RegistryRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class Model(_RegistryRecord):
    id: int
    name: str
    task: str | None = None
    subject: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version_count: int = 0
    active_version_count: int = 0


class Version(_RegistryRecord):
    id: int
    model_id: int
    hash: str
    version: str
    region: str | None = None
    cost_per_1k: float | None = None
    eval_score: float | None = None
    slo_ok: bool | None = None
    artifact_uri: str | None = None
    archive_uri: str | None = None
    size_bytes: int | None = None
    model_type: str | None = None
    framework: str | None = None
    created_at: datetime | None = None
    archived_at: datetime | None = None
    model_name: str | None = None
    provider_binding_count: int = 0

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class Binding(_RegistryRecord):
    id: int
    version_id: int
    provider: str
    provider_model_id: str
    status: str | None = None
    config: Any = None
    endpoint_url: str | None = None
    avg_latency_ms: float | None = None
    success_rate: float | None = None
    last_used_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    model_name: str | None = None
    version: str | None = None


class RegistryHealth(_RegistryRecord):
    status: str
    timestamp: datetime | None = None
    version: str | None = None
    database_connected: bool | None = None
    model_count: int | None = None
    version_count: int | None = None


def normalize_model_name(name: str) -> str:
    """The registry stores names stripped and lower-cased; look them up the same way."""
    return name.strip().lower()


def version_hash(fine_tuned_model_id: str) -> str:
    """The version hash promotion uses: sha256 of the fine-tuned model id, 64 hex chars."""
    return hashlib.sha256(fine_tuned_model_id.encode("utf-8")).hexdigest()


def _major(version: str) -> int | None:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def next_version_number(versions: list[Version], *, above: str | None = None) -> str:
    """`{max major + 1}.0`, also above `above` (a number found taken by someone else)."""
    majors = [m for m in (_major(v.version) for v in versions) if m is not None]
    if above is not None and (taken := _major(above)) is not None:
        majors.append(taken)
    return f"{max(majors, default=0) + 1}.0"
