"""The registry's records and the rules that create, find and archive them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException

from .consistency import ConsistencySpec, DuplicateWhileUncommitted, Visibility
from .schemas import (
    BindingCreate,
    BindingOut,
    ModelCreate,
    ModelOut,
    VersionCreate,
    VersionOut,
)
from .settings import RegistryEmulatorSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ModelRecord:
    id: int
    name: str
    task: str
    subject: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class VersionRecord:
    id: int
    model_id: int
    hash: str
    version: str
    region: str
    cost_per_1k: float | None
    eval_score: float | None
    slo_ok: bool
    artifact_uri: str | None
    size_bytes: int | None
    model_type: str | None
    framework: str | None
    created_at: datetime
    archive_uri: str | None = None
    archived_at: datetime | None = None


@dataclass
class BindingRecord:
    id: int
    version_id: int
    provider: str
    provider_model_id: str
    status: str
    endpoint_url: str | None
    created_at: datetime
    updated_at: datetime
    config: dict[str, Any] | None = None
    avg_latency_ms: float | None = None
    success_rate: float | None = None
    last_used_at: datetime | None = None


class RegistryStore:
    """The registry's data. Handlers never await while mutating it, so no lock is needed."""

    def __init__(self, settings: RegistryEmulatorSettings) -> None:
        self.settings = settings
        self.visibility = Visibility(
            ConsistencySpec(
                visible_after_reads=settings.visible_after_reads,
                visible_after_seconds=settings.visible_after_seconds,
                stall_seconds=settings.stall_seconds,
            )
        )
        self.reset()

    def reset(self) -> None:
        self.visibility.reset()
        self.models: dict[int, ModelRecord] = {}
        self.versions: dict[int, VersionRecord] = {}
        self.bindings: dict[int, BindingRecord] = {}
        self._ids: Counter[str] = Counter()

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # -- lookups

    def model(self, model_id: int) -> ModelRecord:
        found = self.models.get(model_id)
        if found is None or not self.visibility.visible("model", model_id):
            raise HTTPException(404, "Model not found")
        return found

    def version(self, version_id: int) -> VersionRecord:
        found = self.versions.get(version_id)
        if found is None or not self.visibility.visible("version", version_id):
            raise HTTPException(404, "Model version not found")
        return found

    def binding(self, binding_id: int) -> BindingRecord:
        found = self.bindings.get(binding_id)
        if found is None or not self.visibility.visible("binding", binding_id):
            raise HTTPException(404, "Provider binding not found")
        return found

    def versions_of(self, model_id: int) -> list[VersionRecord]:
        return [v for v in self.versions.values() if v.model_id == model_id]

    def seen(self, kind: str, records: Sequence[Any]) -> list[Any]:
        """The records a lookup finds (each one not committed yet counts a read)."""
        return [r for r in records if self.visibility.visible(kind, r.id)]

    def _duplicate(self, kind: str, record: Any, message: str) -> HTTPException:
        """400 "already exists", or a stall when the duplicate is not committed yet."""
        if self.visibility.is_pending(kind, record.id):
            raise DuplicateWhileUncommitted(message)
        return HTTPException(400, message)

    # -- projections

    def model_out(self, m: ModelRecord) -> ModelOut:
        versions = self.versions_of(m.id)
        return ModelOut(
            id=m.id,
            name=m.name,
            task=m.task,
            subject=m.subject,
            description=m.description,
            created_at=m.created_at,
            updated_at=m.updated_at,
            version_count=len(versions),
            active_version_count=sum(1 for v in versions if v.archived_at is None),
        )

    def version_out(self, v: VersionRecord) -> VersionOut:
        model = self.models.get(v.model_id)
        return VersionOut(
            id=v.id,
            model_id=v.model_id,
            hash=v.hash,
            version=v.version,
            region=v.region,
            cost_per_1k=v.cost_per_1k,
            eval_score=v.eval_score,
            slo_ok=v.slo_ok,
            artifact_uri=v.artifact_uri,
            archive_uri=v.archive_uri,
            size_bytes=v.size_bytes,
            model_type=v.model_type,
            framework=v.framework,
            created_at=v.created_at,
            archived_at=v.archived_at,
            model_name=model.name if model else None,
            provider_binding_count=sum(1 for b in self.bindings.values() if b.version_id == v.id),
        )

    def binding_out(self, b: BindingRecord) -> BindingOut:
        version = self.versions.get(b.version_id)
        model = self.models.get(version.model_id) if version else None
        return BindingOut(
            id=b.id,
            version_id=b.version_id,
            provider=b.provider,
            provider_model_id=b.provider_model_id,
            status=b.status,
            config=b.config,
            endpoint_url=b.endpoint_url,
            avg_latency_ms=b.avg_latency_ms,
            success_rate=b.success_rate,
            last_used_at=b.last_used_at,
            created_at=b.created_at,
            updated_at=b.updated_at,
            model_name=model.name if model else None,
            version=version.version if version else None,
        )

    # -- mutations

    def create_model(self, body: ModelCreate) -> ModelRecord:
        for m in self.models.values():
            if m.name == body.name:
                raise self._duplicate("model", m, f"Model with name '{body.name}' already exists")
        now = utc_now()
        model = ModelRecord(
            id=self.next_id("model"),
            name=body.name,
            task=body.task,
            subject=body.subject,
            description=body.description,
            created_at=now,
            updated_at=now,
        )
        self.models[model.id] = model
        self.visibility.track("model", model.id)
        return model

    def create_version(self, body: VersionCreate) -> VersionRecord:
        model = self.model(body.model_id)
        siblings = self.versions_of(model.id)
        for v in siblings:
            if v.hash == body.hash:
                raise self._duplicate(
                    "version",
                    v,
                    f"Version with hash {body.hash} already exists for model {model.id}",
                )
        for v in siblings:
            if v.version == body.version:
                raise self._duplicate(
                    "version", v, f"Version {body.version} already exists for model {model.id}"
                )
        now = utc_now()
        version = VersionRecord(
            id=self.next_id("version"),
            created_at=now,
            **body.model_dump(),
        )
        self.versions[version.id] = version
        self.visibility.track("version", version.id)
        model.updated_at = now
        self._archive_old_versions(model, now)
        return version

    def _archive_old_versions(self, model: ModelRecord, now: datetime) -> None:
        keep = self.settings.keep_active_versions
        candidates = sorted(
            (v for v in self.versions_of(model.id) if v.archived_at is None and v.artifact_uri),
            key=lambda v: (v.created_at, v.id),
            reverse=True,
        )
        prefix = self.settings.archive_uri_prefix.rstrip("/")
        for v in candidates[keep:]:
            v.archived_at = now
            v.archive_uri = f"{prefix}/{model.name}/{v.version}"

    def create_binding(self, body: BindingCreate) -> BindingRecord:
        version = self.version(body.version_id)
        for b in self.bindings.values():
            if b.version_id == version.id and b.provider == body.provider:
                raise self._duplicate(
                    "binding",
                    b,
                    f"Provider binding for provider '{body.provider}' already exists "
                    f"for version {version.id}",
                )
        now = utc_now()
        binding = BindingRecord(
            id=self.next_id("binding"),
            version_id=version.id,
            provider=body.provider,
            provider_model_id=body.provider_model_id,
            status=body.status,
            endpoint_url=body.endpoint_url,
            created_at=now,
            updated_at=now,
        )
        self.bindings[binding.id] = binding
        self.visibility.track("binding", binding.id)
        return binding


def paginate(items: Sequence[Any], page: int, size: int) -> tuple[list[Any], dict[str, int]]:
    total = len(items)
    start = (page - 1) * size
    meta = {"total": total, "page": page, "size": size, "pages": math.ceil(total / size)}
    return list(items[start : start + size]), meta
