"""Typed rows: what the store's reads return, so no caller reads a column by string key.

Each model lists the columns this service reads; a column added by a later migration is
ignored until a model names it. JSON columns arrive decoded (the pool's codecs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict

from core.models import EvaluationStatus, JobStage, JobStatus, Provider

# A scored sample: (suite, sample id).
SampleKey = tuple[str, str]


class Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Self:
        return cls.model_validate(dict(record.items()))

    @classmethod
    def from_optional(cls, record: asyncpg.Record | None) -> Self | None:
        return None if record is None else cls.from_record(record)


class JobRow(Row):
    """A row of `jobs`: the projection of a training job."""

    id: UUID
    tenant_id: str
    name: str
    description: str | None
    status: JobStatus
    status_rank: int
    stage: JobStage
    provider: Provider
    base_model: str
    dataset_uri: str
    config: dict[str, Any]
    policy: dict[str, Any]
    datasheet: dict[str, Any]
    idempotency_key: str | None
    workflow_id: str
    provider_job_id: str | None
    provider_file_id: str | None
    provider_model_id: str | None
    provider_metadata: dict[str, Any]
    progress: dict[str, Any]
    validation_report: dict[str, Any] | None
    training_tokens: int | None
    training_cost: float | None
    training_duration: int | None
    error_message: str | None
    error_code: str | None
    retry_count: int
    request_sha256: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    stage_changed_at: datetime


class EvaluationRow(Row):
    """A row of `evaluations`."""

    id: UUID
    job_id: UUID
    tenant_id: str
    name: str
    description: str | None
    status: EvaluationStatus
    harness_config: dict[str, Any]
    thresholds: dict[str, Any]
    model: str | None
    baseline_model: str | None
    pedagogy_score: float | None
    safety_score: float | None
    overall_score: float | None
    passed: bool | None
    results: dict[str, Any]
    metrics: dict[str, Any]
    error_message: str | None
    retry_count: int
    workflow_id: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class SampleRow(Row):
    """A row of `evaluation_samples`: one graded sample of one model (`role`)."""

    evaluation_id: UUID
    role: str
    suite: str
    sample_id: str
    model: str
    input: Any
    output: str | None
    verdicts: Any
    score: float | None
    passed: bool | None
    errored: bool
    error: str | None
    contaminated: bool


class PromotionRow(Row):
    """A row of `promotions`. Registry ids are the registry's integers, as strings."""

    id: UUID
    job_id: UUID
    evaluation_id: UUID | None
    tenant_id: str
    registry_model_id: str | None
    registry_version_id: str | None
    registry_binding_id: str | None
    promoted: bool
    forced: bool
    promotion_reason: str | None
    promotion_metadata: dict[str, Any]
    decision: dict[str, Any]
    error_message: str | None
    request_key: str | None = None
    created_at: datetime
    updated_at: datetime


class ChampionRow(Row):
    """The promoted model a new one must beat: its job, evaluation and provider model."""

    job_id: UUID
    evaluation_id: UUID | None
    provider_model_id: str


class EventRow(Row):
    """A row of `job_events`: one provider event, in arrival order (`seq`)."""

    seq: int
    job_id: UUID
    provider_event_id: str
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any] | None


class MetricRow(Row):
    """One recorded training step of `job_metrics` (the columns the curves read)."""

    step: int
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    train_accuracy: float | None = None
    valid_accuracy: float | None = None
