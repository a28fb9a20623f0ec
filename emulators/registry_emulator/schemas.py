"""The registry's wire shapes: request bodies, responses and the value types they use."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Task = Literal[
    "generation", "embedding", "moderation", "classification", "summarization", "translation"
]
Provider = Literal["openai", "vertex", "bedrock", "anthropic", "azure"]
BindingStatus = Literal["active", "inactive", "deprecated", "failed"]

ModelName = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=255)
]
HexHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
VersionNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")]


class Body(BaseModel):
    model_config = ConfigDict(protected_namespaces=())


class ModelCreate(Body):
    name: ModelName
    task: Task
    subject: str | None = None
    description: str | None = None


class VersionCreate(Body):
    model_id: int
    hash: HexHash
    version: VersionNumber
    region: str = "us-east-1"
    cost_per_1k: float | None = Field(default=None, ge=0)
    eval_score: float | None = Field(default=None, ge=0, le=1)
    slo_ok: bool = True
    artifact_uri: str | None = None
    size_bytes: int | None = Field(default=None, ge=0)
    model_type: str | None = None
    framework: str | None = None


class VersionUpdate(Body):
    cost_per_1k: float | None = Field(default=None, ge=0)
    eval_score: float | None = Field(default=None, ge=0, le=1)
    slo_ok: bool | None = None


class BindingCreate(Body):
    version_id: int
    provider: Provider
    provider_model_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    status: BindingStatus = "active"
    endpoint_url: str | None = None


class BindingUpdate(Body):
    status: BindingStatus | None = None
    endpoint_url: str | None = None
    provider_model_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    avg_latency_ms: float | None = Field(default=None, ge=0)
    success_rate: float | None = Field(default=None, ge=0, le=1)
    last_used_at: datetime | None = None


# -------------------------------------------------------------------------------- responses


class ModelOut(Body):
    id: int
    name: str
    task: str
    subject: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    version_count: int
    active_version_count: int


class VersionOut(Body):
    id: int
    model_id: int
    hash: str
    version: str
    region: str
    cost_per_1k: float | None
    eval_score: float | None
    slo_ok: bool
    artifact_uri: str | None
    archive_uri: str | None
    size_bytes: int | None
    model_type: str | None
    framework: str | None
    created_at: datetime
    archived_at: datetime | None
    model_name: str | None
    provider_binding_count: int


class BindingOut(Body):
    id: int
    version_id: int
    provider: str
    provider_model_id: str
    status: str
    config: dict[str, Any] | None
    endpoint_url: str | None
    avg_latency_ms: float | None
    success_rate: float | None
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime
    model_name: str | None
    version: str | None


class Page(Body):
    total: int
    page: int
    size: int
    pages: int


class ModelList(Page):
    models: list[ModelOut]


class VersionList(Page):
    versions: list[VersionOut]


class BindingList(Page):
    bindings: list[BindingOut]


class HealthOut(Body):
    status: str
    timestamp: datetime
    version: str
    database_connected: bool
    model_count: int
    version_count: int


# ----------------------------------------------------------------------------- admin bodies


class HoldSpec(Body):
    path_prefix: str = "/"
    method: str | None = None
    seconds: float = Field(default=30.0, gt=0)
    count: int = Field(default=1, ge=1)
